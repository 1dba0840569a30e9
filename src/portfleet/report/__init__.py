"""Renderers at the edge: rich tables for people, JSON and CSV for machines."""
