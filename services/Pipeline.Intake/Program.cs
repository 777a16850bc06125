using Pipeline.Intake;
using Pipeline.Platform;

PipelineHost.CreateBuilder(args).AddIntake().Build().MapIntakeApi().Run();
