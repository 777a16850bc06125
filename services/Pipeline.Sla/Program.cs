using Pipeline.Audit;
using Pipeline.Platform;
using Pipeline.Sla;

// The sla service also hosts the audit stage: both read the outcome of every stage, and it saves a deployment.
PipelineHost.CreateBuilder(args).AddSla().AddAudit().Build().Run();
