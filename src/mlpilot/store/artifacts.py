"""Content-addressed object storage: blobs keyed by the sha256 of their bytes.

Writes are atomic (temporary file, fsync, rename) and reads verify the hash, so a crash never
leaves a half-written object and a tampered object is refused. Large objects go in and come out
as files (``put_file``, ``open_verified``), never as one bytes value.

Example:
    >>> import tempfile, pathlib
    >>> store = LocalObjectStore(pathlib.Path(tempfile.mkdtemp()))
    >>> key = store.put(b"hello")
    >>> key[:12], store.get(key)
    ('2cf24dba5fb0', b'hello')
    >>> source = pathlib.Path(tempfile.mkdtemp()) / "blob"
    >>> _ = source.write_bytes(b"hello")
    >>> store.put_file(source) == key, store.open_verified(key).read()
    (True, b'hello')
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from mlpilot.core.errors import IntegrityError, NotFoundError
from mlpilot.core.hashing import sha256_bytes, sha256_file


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

    def put_file(self, path: Path, *, move: bool = False) -> str:
        """Store the file at ``path`` and return its sha256 key.

        With ``move`` the store may take the file itself (a rename) instead of copying it; the
        caller must not use ``path`` afterwards.
        """
        key = sha256_file(path)
        if not self.exists(key):
            self._write_file(key, Path(path), move=move)
        return key

    def _write_file(self, key: str, path: Path, *, move: bool) -> None:
        """Store the file's bytes under ``key`` atomically; backends may stream it."""
        self._write(key, Path(path).read_bytes())

    def get(self, key: str) -> bytes:
        """The bytes under ``key``, verified against the key."""
        try:
            data = self._read(key)
        except FileNotFoundError:
            raise _missing(key) from None
        _check(key, sha256_bytes(data))
        return data

    def open_verified(self, key: str) -> BinaryIO:
        """A binary file object over the object, after verifying its hash."""
        return io.BytesIO(self.get(key))


def _missing(key: str) -> NotFoundError:
    return NotFoundError(
        f"object {key[:12]} is missing from the object store",
        fix="the workspace's objects folder was changed by hand; restore it from a backup",
    )


def _check(key: str, actual: str) -> None:
    if actual != key:
        raise IntegrityError(
            f"object {key[:12]} does not match its hash: it was modified or corrupted",
            expected=f"sha256 {key}",
            found=f"sha256 {actual}",
            fix="restore the object from a backup, or re-run the step that made it",
        )


class LocalObjectStore(ObjectStore):
    """Objects as files under ``root/ab/cdef...``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def _write(self, key: str, data: bytes) -> None:
        self._write_from(key, lambda handle: handle.write(data))

    def _write_file(self, key: str, path: Path, *, move: bool) -> None:
        if move:
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            with Path(path).open("rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(path, 0o600)  # as mkstemp makes the copied objects
            try:
                os.replace(path, target)  # atomic on one file system
                return
            except OSError:  # another file system: copy instead
                pass

        def copy(handle: BinaryIO) -> None:
            with Path(path).open("rb") as source:
                shutil.copyfileobj(source, handle, 1 << 20)

        self._write_from(key, copy)

    def _write_from(self, key: str, fill: Callable[[BinaryIO], object]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open_verified(self, key: str) -> BinaryIO:
        path = self.path(key)
        try:
            _check(key, sha256_file(path))
            return path.open("rb")
        except FileNotFoundError:
            raise _missing(key) from None

    def _read(self, key: str) -> bytes:
        return self.path(key).read_bytes()
