using Pipeline.Contracts;
using Pipeline.Platform;

namespace Pipeline.Classification;

public static class ClassificationService
{
    public const string Stage = "classification";

    public static PipelineHostBuilder AddClassification(this PipelineHostBuilder host) =>
        host.AddStage<ClassificationProcessor>(Stage, s => s.Consumes<ReportLocated>(Topics.ReportsLocated));
}
