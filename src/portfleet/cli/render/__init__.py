"""How the CLI shows things to people: rich tables, progress, messages. Machine formats are in report/."""
