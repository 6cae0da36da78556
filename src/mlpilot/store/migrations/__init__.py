"""Alembic migrations of the metadata database (applied on workspace open)."""
