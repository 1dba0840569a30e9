"""The command interpreter of a simulated Windows host: cmd.exe and one module per tool."""
