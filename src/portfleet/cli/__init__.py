"""The typer CLI: one module per command group; each parses, calls the core, renders."""
