"""Opening a workspace's store: the home folder, the database and the object folder.

Example:
    >>> import tempfile, pathlib
    >>> store = StoreHandle.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> with store.transaction() as session:
    ...     list_projects(session)
    []
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mlpilot.core.errors import ConfigError
from mlpilot.store.artifacts import LocalObjectStore, ObjectStore
from mlpilot.store.db import make_engine, session_factory, upgrade
from mlpilot.store.repositories import list_projects  # noqa: F401  (doctest)


def default_home() -> Path:
    return Path(os.environ.get("MLPILOT_HOME", ".mlpilot"))


class StoreHandle:
    """The metadata database plus the object store of one workspace."""

    def __init__(self, home: Path, db_url: str, objects: ObjectStore) -> None:
        self.home = home
        self.db_url = db_url
        self.objects = objects
        self.engine = make_engine(db_url)
        try:
            upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise ConfigError(
                f"cannot open or migrate the metadata database at {db_url}",
                expected="a reachable database that mlpilot may write to",
                found=str(exc.orig) if getattr(exc, "orig", None) else str(exc),
                fix="check MLPILOT_DB / MLPILOT_HOME and the file permissions",
            ) from exc
        self._sessions = session_factory(self.engine)

    @classmethod
    def open(cls, home: Path | None = None, db_url: str | None = None) -> StoreHandle:
        """Open (creating if needed) the workspace at ``home`` (default ``$MLPILOT_HOME``)."""
        home = Path(home) if home is not None else default_home()
        if home.exists() and not home.is_dir():
            raise ConfigError(f"the workspace path {home} is a file, not a folder",
                              fix="point MLPILOT_HOME at a folder")
        home.mkdir(parents=True, exist_ok=True)
        url = db_url or os.environ.get("MLPILOT_DB") or f"sqlite:///{home / 'mlpilot.db'}"
        return cls(home, url, LocalObjectStore(home / "objects"))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together at the end, or not at all."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()
