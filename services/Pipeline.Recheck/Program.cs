using Pipeline.Platform;
using Pipeline.Recheck;

PipelineHost.CreateBuilder(args).AddRecheck().Build().MapHosterConfirmations().Run();
