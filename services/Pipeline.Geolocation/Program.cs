using Pipeline.Geolocation;
using Pipeline.Platform;

PipelineHost.CreateBuilder(args).AddGeolocation().Build().Run();
