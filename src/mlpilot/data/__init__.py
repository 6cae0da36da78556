"""Data: reading sources, schema inference and checks, profiling, task detection and
splitting. Pure."""
