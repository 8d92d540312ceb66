"""The command line: one Typer app, one sub-command group per domain."""
