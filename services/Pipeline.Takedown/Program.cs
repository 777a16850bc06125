using Pipeline.Platform;
using Pipeline.Takedown;

PipelineHost.CreateBuilder(args).AddTakedown().AddNoticeDelivery().Build().Run();
