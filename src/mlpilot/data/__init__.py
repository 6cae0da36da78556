"""Data: reading sources, schema inference and checks, profiling, task detection, splitting. Pure."""
