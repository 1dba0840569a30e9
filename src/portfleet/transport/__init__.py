"""Transports: one Session per host per run (DESIGN "Rules that matter")."""

