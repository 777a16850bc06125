using Pipeline.Operator;

ConsoleApp.Create(args).Run();
