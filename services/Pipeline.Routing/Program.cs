using Pipeline.Platform;
using Pipeline.Routing;

PipelineHost.CreateBuilder(args).AddRouting().Build().Run();
