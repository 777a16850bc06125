using Pipeline.Exchange;
using Pipeline.Platform;

PipelineHost.CreateBuilder(args).AddExchange().Build().Run();
