using Pipeline.Platform;
using Pipeline.Sla;

PipelineHost.CreateBuilder(args).AddSla().Build().Run();
