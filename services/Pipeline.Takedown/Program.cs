using Pipeline.Platform;
using Pipeline.Takedown;

PipelineHost.CreateBuilder(args).AddTakedown().Build().Run();
