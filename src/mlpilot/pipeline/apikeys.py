"""API keys for the REST server: created once, stored as sha256 hashes, checked per scope.

A key is shown exactly once, when it is created; the database keeps only its sha256, so a
leaked database does not leak keys. Scopes: ``predict`` (prediction and feedback) and ``admin``
(everything, including moving the champion).

Example:
    >>> import tempfile, pathlib
    >>> from mlpilot.store.handle import StoreHandle
    >>> store = StoreHandle.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> created = create_key(store, "ci", "predict")
    >>> created.key.startswith("mlp_"), authenticate(store, created.key).scope
    (True, 'predict')
    >>> authenticate(store, "mlp_wrong")
    Traceback (most recent call last):
    ...
    mlpilot.pipeline.apikeys.AuthenticationError: the API key is not valid. Fix: send \
`Authorization: Bearer KEY` with a key from `mlpilot apikey create`
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from mlpilot.core.errors import ConfigError, ConflictError, MlpilotError, NotFoundError
from mlpilot.core.hashing import sha256_bytes
from mlpilot.store.audit import append_event, current_actor, utcnow
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import ApiKeyRow

SCOPES = ("predict", "admin")
PREFIX = "mlp_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AuthenticationError(MlpilotError, PermissionError):
    """No API key, or one that does not exist or was revoked."""

    http_status = 401


class ForbiddenError(MlpilotError, PermissionError):
    """A valid API key whose scope does not allow the action."""

    http_status = 403


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the secret itself)."""

    name: str
    scope: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    def allows(self, scope: str) -> bool:
        """Whether this key may do what ``scope`` needs (admin may do everything)."""
        return self.revoked_at is None and (self.scope == "admin" or self.scope == scope)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scope": self.scope,
                "created_at": self.created_at.isoformat(timespec="seconds") + "Z",
                "created_by": self.created_by,
                "revoked_at": (self.revoked_at.isoformat(timespec="seconds") + "Z"
                               if self.revoked_at else None)}

    @classmethod
    def _from_row(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.name, row.scope, row.created_at, row.created_by, row.revoked_at)


@dataclass(frozen=True)
class CreatedKey:
    """A new key: ``key`` is the secret, shown once."""

    name: str
    scope: str
    key: str


def hash_key(key: str) -> str:
    """The sha256 under which ``key`` is stored."""
    return sha256_bytes(key.encode("utf-8"))


def create_key(store: StoreHandle, name: str, scope: str) -> CreatedKey:
    """Create a key named ``name`` with ``scope``; the returned secret is never stored."""
    if scope not in SCOPES:
        raise ConfigError(f"unknown API key scope {scope!r}", expected=" or ".join(SCOPES),
                          found=repr(scope), fix="pass --scope predict or --scope admin")
    if not _NAME.match(name):
        raise ConfigError(f"invalid API key name {name!r}",
                          expected="1-64 letters, digits, '.', '_' or '-'", found=repr(name),
                          fix="pick a name such as ci or dashboard")
    key = PREFIX + secrets.token_urlsafe(32)
    actor = current_actor()
    with store.transaction() as session:
        if session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name)) is not None:
            raise ConflictError(f"an API key named {name!r} exists already",
                                fix=f"pick another name, or `mlpilot apikey revoke {name}`")
        session.add(ApiKeyRow(name=name, key_hash=hash_key(key), scope=scope,
                              created_at=utcnow(), created_by=actor, revoked_at=None))
        append_event(session, "apikey.created", {"name": name, "scope": scope}, actor=actor)
    return CreatedKey(name, scope, key)


def list_keys(store: StoreHandle) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with store.transaction() as session:
        rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all()
        return [ApiKey._from_row(r) for r in rows]


def revoke_key(store: StoreHandle, name: str) -> ApiKey:
    """Revoke the key ``name``: it stops working (servers notice within their cache time)."""
    actor = current_actor()
    with store.transaction() as session:
        row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.name == name))
        if row is None:
            raise NotFoundError(f"no API key named {name!r}",
                                fix="see the names with `mlpilot apikey list`")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            append_event(session, "apikey.revoked", {"name": name}, actor=actor)
        return ApiKey._from_row(row)


def authenticate(store: StoreHandle, key: str | None) -> ApiKey:
    """The key record for the secret ``key``; AuthenticationError when absent or revoked."""
    if not key:
        raise AuthenticationError("this endpoint needs an API key",
                                  fix="send `Authorization: Bearer KEY` with a key from "
                                      "`mlpilot apikey create`")
    with store.transaction() as session:
        row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(key)))
        found = ApiKey._from_row(row) if row is not None else None
    if found is None or found.revoked_at is not None:
        raise AuthenticationError(
            "the API key is " + ("revoked" if found is not None else "not valid"),
            fix="send `Authorization: Bearer KEY` with a key from `mlpilot apikey create`")
    return found
