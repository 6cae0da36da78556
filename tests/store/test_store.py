"""The store: migrations, objects, repositories and the audit chain."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from mlpilot.core.errors import ConflictError, IntegrityError, NotFoundError
from mlpilot.store import repositories as repo
from mlpilot.store.audit import append_event, verify_chain
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import Base


@pytest.fixture
def store(tmp_path):
    handle = StoreHandle.open(tmp_path / "ws")
    yield handle
    handle.close()


def test_migrations_create_exactly_the_orm_schema(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(store):
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_reopening_a_workspace_is_idempotent(tmp_path):
    StoreHandle.open(tmp_path / "ws").close()
    again = StoreHandle.open(tmp_path / "ws")
    with again.transaction() as s:
        assert repo.list_projects(s) == []


def test_objects_are_content_addressed_and_verified(store):
    key = store.objects.put(b"model bytes")
    assert store.objects.put(b"model bytes") == key
    assert store.objects.get(key) == b"model bytes"
    store.objects.path(key).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="modified or corrupted"):
        store.objects.get(key)


def test_missing_object_is_reported(store):
    with pytest.raises(NotFoundError, match="missing from the object store"):
        store.objects.get("ab" * 32)


def test_no_temporary_files_are_left_behind(store):
    store.objects.put(b"x" * 1000)
    leftovers = [p for p in store.objects.root.rglob(".tmp-*")]
    assert leftovers == []


def test_project_names_are_unique_and_unknown_names_get_suggestions(store):
    with store.transaction() as s:
        repo.add_project(s, "flights", {"target": "delayed"}, {}, "ana")
    with pytest.raises(ConflictError, match="already exists"), store.transaction() as s:
        repo.add_project(s, "flights", {}, {}, "ana")
    with pytest.raises(NotFoundError, match="did you mean 'flights'"), store.transaction() as s:
        repo.get_project(s, "flight")


def test_a_failed_transaction_writes_nothing(store):
    with pytest.raises(RuntimeError), store.transaction() as s:
        repo.add_project(s, "churn", {}, {}, "ana")
        append_event(s, "project.created", {"name": "churn"}, project="churn")
        raise RuntimeError("crash in the middle")
    with store.transaction() as s:
        assert repo.find_project(s, "churn") is None
        assert verify_chain(s).events == 0


def test_audit_chain_detects_a_tampered_event(store):
    with store.transaction() as s:
        for i in range(3):
            append_event(s, "budget.approved", {"seconds": 60 + i}, project="flights",
                         actor="ana")
    with store.transaction() as s:
        report = verify_chain(s)
        assert report.ok and report.events == 3
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload_json = :p WHERE seq = 2"),
                     {"p": '{"seconds":9999}'})
    with store.transaction() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_seq == 2 and "payload" in report.reason


def test_audit_chain_detects_a_deleted_event(store):
    with store.transaction() as s:
        for i in range(3):
            append_event(s, "model.promoted", {"version": i}, project="flights")
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE seq = 2"))
    with store.transaction() as s:
        report = verify_chain(s)
    assert not report.ok and report.broken_seq == 3
