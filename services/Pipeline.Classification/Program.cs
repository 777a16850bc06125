using Pipeline.Classification;
using Pipeline.Platform;

PipelineHost.CreateBuilder(args).AddClassification().Build().Run();
