"""One module per command: parse the flags -> call the library -> render -> exit code."""
