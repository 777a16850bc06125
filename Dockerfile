# syntax=docker/dockerfile:1
# One image per service, built from the repository root:
#   docker build --build-arg SERVICE=Routing -t pipeline-routing .
# SERVICE names the folder services/Pipeline.<SERVICE>: Intake, Geolocation, Classification, Routing, Exchange,
# Takedown, Recheck, Sla, Console (the operator console), or Cli (the `pipeline` command: topics apply, schemas register,
# demo, ...).
ARG SERVICE=Cli

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG SERVICE
WORKDIR /src
# Everything the build reads: the build settings, the schemas (Pipeline.Contracts generates its C# types from them
# at build time with tools/Pipeline.SchemaGen), the topic definition (embedded in Pipeline.Platform) and the code.
COPY global.json Directory.Build.props Directory.Packages.props ./
COPY schemas/ schemas/
COPY infra/kafka/ infra/kafka/
COPY tools/ tools/
COPY services/ services/
RUN test -f "services/Pipeline.${SERVICE}/Pipeline.${SERVICE}.csproj" \
    || { echo "SERVICE=${SERVICE}: there is no services/Pipeline.${SERVICE}/Pipeline.${SERVICE}.csproj. Fix: use one of" $(ls services | sed 's/^Pipeline\.//'); exit 1; }
# The CLI references every service; its project drops their appsettings.json files from its output. Publishing
# still tolerates duplicates and keeps only the selected project's own appsettings.json, as a safety net.
# The symlink gives one entry point whatever the assembly is called (the CLI's is `pipeline`), so ENTRYPOINT needs
# no shell and signals reach the process directly.
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish "services/Pipeline.${SERVICE}/Pipeline.${SERVICE}.csproj" -c Release -o /app -p:UseAppHost=true \
        -p:ErrorOnDuplicatePublishOutputFiles=false \
    && rm -f /app/appsettings.json \
    && if [ -f "services/Pipeline.${SERVICE}/appsettings.json" ]; then cp "services/Pipeline.${SERVICE}/appsettings.json" /app/; fi \
    && assembly="$(dotnet msbuild "services/Pipeline.${SERVICE}/Pipeline.${SERVICE}.csproj" -getProperty:AssemblyName)" \
    && test -x "/app/${assembly}" \
    && ln -s "${assembly}" /app/entrypoint

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
ARG SERVICE
LABEL org.opencontainers.image.title="pipeline-${SERVICE}" \
      org.opencontainers.image.description="CSAM notice-and-takedown pipeline: ${SERVICE}"
WORKDIR /app
COPY --from=build /app ./
# The image's unprivileged user (uid 1654); nothing here needs root, and no file is writable by it.
USER $APP_UID
# /health/live, /health/ready, /metrics and (intake) POST /v1/reports. The services bind 0.0.0.0:8080 themselves.
EXPOSE 8080
# No HEALTHCHECK: the same image runs the short-lived `pipeline` jobs, and Kubernetes ignores it. compose/ and
# infra/k8s probe /health/ready and /health/live themselves.
ENTRYPOINT ["/app/entrypoint"]
