"""The command line: the Typer app, argv edges, shared options and one module per command."""
