using System.CommandLine;
using Pipeline.Cli;

// Ctrl+C cancels the command's token and the command ends with 130 (PipelineCommandLine), so the parser's own
// termination handling is off; an exception other than an ArgumentException still ends the process as unhandled.
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
return await PipelineCommandLine.InvokeAsync(args, new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false }, cts.Token);
