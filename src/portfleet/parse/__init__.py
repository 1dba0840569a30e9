"""Pure parsers of Windows/Linux command output. No I/O, parse by structure not by label."""

