"""The append-only, hash-chained audit log.

Each event stores the sha256 of its payload and of the previous event, so changing, removing or
reordering any event breaks the chain, which :func:`verify_chain` detects.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlpilot.core.hashing import canonical_json, hash_json, sha256_bytes
from mlpilot.store.tables import EventRow

GENESIS = "0" * 64


def current_actor() -> str:
    """The OS user running this process (``MLPILOT_ACTOR`` overrides it, e.g. for API keys)."""
    override = os.environ.get("MLPILOT_ACTOR")
    if override:
        return override
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def utcnow() -> datetime:
    """Now in UTC, without tzinfo (stored as naive UTC everywhere)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _event_hash(row: EventRow) -> str:
    body = {
        "seq": row.seq,
        "project": row.project,
        "action": row.action,
        "actor": row.actor,
        "at": row.at.isoformat(),
        "payload_hash": row.payload_hash,
        "prev_hash": row.prev_hash,
    }
    return hash_json(body)


def append_event(
    session: Session, action: str, payload: dict[str, Any], *, project: str | None = None,
    actor: str | None = None,
) -> EventRow:
    """Append an event in the caller's transaction (it commits with the change it records)."""
    last = session.execute(select(EventRow).order_by(EventRow.seq.desc()).limit(1)).scalar()
    payload_bytes = canonical_json(payload)
    row = EventRow(
        seq=(last.seq + 1) if last else 1,
        project=project,
        action=action,
        actor=actor or current_actor(),
        at=utcnow(),
        payload_json=payload_bytes.decode("utf-8"),
        payload_hash=sha256_bytes(payload_bytes),
        prev_hash=last.hash if last else GENESIS,
    )
    row.hash = _event_hash(row)
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class ChainReport:
    """The result of checking the chain: ok, the number of events and the first broken one."""

    ok: bool
    events: int
    broken_seq: int | None = None
    reason: str | None = None


def verify_chain(session: Session) -> ChainReport:
    """Walk every event in order and check payload hashes and links."""
    prev = GENESIS
    count = 0
    expected_seq = 1
    for row in session.execute(select(EventRow).order_by(EventRow.seq)).scalars():
        count += 1
        if row.seq != expected_seq:
            return ChainReport(False, count, row.seq, f"event {expected_seq} is missing")
        if sha256_bytes(row.payload_json.encode("utf-8")) != row.payload_hash:
            return ChainReport(False, count, row.seq, "its payload was changed")
        if row.prev_hash != prev:
            return ChainReport(False, count, row.seq, "it does not link to the event before it")
        if _event_hash(row) != row.hash:
            return ChainReport(False, count, row.seq, "its recorded fields were changed")
        prev = row.hash
        expected_seq += 1
    return ChainReport(True, count)


def list_events(session: Session, project: str | None = None) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.seq)
    if project is not None:
        query = query.where(EventRow.project == project)
    return list(session.execute(query).scalars())


def event_payload(row: EventRow) -> dict[str, Any]:
    return json.loads(row.payload_json)
