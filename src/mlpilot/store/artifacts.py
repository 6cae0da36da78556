"""Content-addressed object storage: blobs keyed by the sha256 of their bytes.

Writes are atomic (temporary file, fsync, rename) and reads verify the hash, so a crash never
leaves a half-written object and a tampered object is refused.

Example:
    >>> import tempfile, pathlib
    >>> store = LocalObjectStore(pathlib.Path(tempfile.mkdtemp()))
    >>> key = store.put(b"hello")
    >>> key[:12], store.get(key)
    ('2cf24dba5fb0', b'hello')
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from mlpilot.core.errors import IntegrityError, NotFoundError
from mlpilot.core.hashing import sha256_bytes


class ObjectStore(ABC):
    """Where blobs live; a bucket can replace the local folder by implementing three methods."""

    @abstractmethod
    def _write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (all or nothing)."""

    @abstractmethod
    def _read(self, key: str) -> bytes:
        """Return the bytes under ``key``; raise FileNotFoundError when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 key (a no-op when already stored)."""
        key = sha256_bytes(data)
        if not self.exists(key):
            self._write(key, data)
        return key

    def get(self, key: str) -> bytes:
        """The bytes under ``key``, verified against the key."""
        try:
            data = self._read(key)
        except FileNotFoundError:
            raise NotFoundError(
                f"object {key[:12]} is missing from the object store",
                fix="the workspace's objects folder was changed by hand; restore it from a backup",
            ) from None
        actual = sha256_bytes(data)
        if actual != key:
            raise IntegrityError(
                f"object {key[:12]} does not match its hash: it was modified or corrupted",
                expected=f"sha256 {key}",
                found=f"sha256 {actual}",
                fix="restore the object from a backup, or re-run the step that made it",
            )
        return data


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root/ab/cdef...``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def _write(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _read(self, key: str) -> bytes:
        return self.path(key).read_bytes()
