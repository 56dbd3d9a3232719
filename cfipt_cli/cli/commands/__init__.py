"""The thin Typer layer: one module per subcommand, each converting strings to values and calling one
plain library function. Only these modules (and `cfipt_cli.cli.app`) import typer."""
