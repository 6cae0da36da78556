"""The REST server (FastAPI): prediction and read-only project endpoints under /v1."""
