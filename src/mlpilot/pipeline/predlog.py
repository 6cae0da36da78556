"""The prediction log: what a served model received and answered, kept durably for monitoring.

Durability contract (what "acknowledged" means): the server answers a request only after its
log entries were written to a write-ahead segment file with one ``os.write`` call. From then on
the entries survive the server process dying (``kill -9``, a crash), because the bytes belong to
the operating system. With ``fsync=True`` the segment is also fsynced before the answer, which
extends the promise to power loss at the price of latency; otherwise a background thread fsyncs
every ``fsync_seconds``.

Segments are JSON lines under ``$MLPILOT_HOME/predlog/``, inputs and outputs as JSON text, so the
flusher parses a segment with Arrow's C++ JSON reader, off the GIL (parsing tens of thousands of
lines in Python holds the GIL for tens of ms, which showed in the serving p99); the flusher also
fsyncs and closes segments outside the lock requests append under. When one reaches
``segment_rows`` rows or ``segment_seconds`` of age it is closed and a flusher thread turns it into
one Parquet object per project (through the object store) plus an index row
(``prediction_log_batches``), then deletes it. A segment left behind by a killed process is flushed
by the next :meth:`PredictionLog.recover`; a torn last line was never acknowledged and is skipped.
Each writer holds an ``flock`` on its segment, so recovery never touches a live one. When more than
``max_pending_rows`` rows wait for the flusher, :meth:`PredictionLog.has_room` turns false and the
server makes requests wait (backpressure): nothing is ever dropped.

Request ids (:func:`new_request_id`) start with the moment they were issued, so
:func:`find_requests` (which ids feedback may name) reads only the Parquet objects of the time
around each id, plus every segment not yet flushed, whichever process wrote it.

Example:
    >>> import tempfile, pathlib
    >>> from mlpilot.store.handle import StoreHandle
    >>> store = StoreHandle.open(pathlib.Path(tempfile.mkdtemp()) / "ws")
    >>> log = PredictionLog(store)
    >>> log.append([entry("r1", 0, "flights", 1, 0.8, {"x": 1}, {"prediction": 0})])
    >>> log.close()
    >>> read_log(store, "flights")[["request_id", "model_version", "outputs"]]
      request_id  model_version           outputs
    0         r1              1  {"prediction":0}
"""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError as DBIntegrityError

from mlpilot.store.audit import utcnow
from mlpilot.store.handle import StoreHandle
from mlpilot.store.tables import PredictionLogBatchRow

SUFFIX = ".jsonl"
_ARROW_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("row", pa.int32()), ("project", pa.string()),
    ("model_version", pa.int64()), ("at", pa.timestamp("us", tz="UTC")),
    ("latency_ms", pa.float64()), ("inputs", pa.string()), ("outputs", pa.string()),
])


def new_request_id() -> str:
    """A fresh request id: 12 hex digits of the Unix time in ms, then 80 random bits (32 hex
    digits in all, like a uuid4's hex, and as unique)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def issued_at(request_id: str) -> datetime | None:
    """When :func:`new_request_id` issued ``request_id`` (naive UTC), None when it cannot say."""
    if len(request_id) != 32:
        return None
    try:
        moment = datetime.fromtimestamp(int(request_id[:12], 16) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return moment.replace(tzinfo=None)


def entry(request_id: str, row: int, project: str, model_version: int, latency_ms: float,
          inputs: dict[str, Any], outputs: dict[str, Any],
          at: datetime | None = None) -> dict[str, Any]:
    """One log entry: one scored record of one request."""
    return {"request_id": request_id, "row": row, "project": project,
            "model_version": model_version, "at": (at or datetime.now(UTC)).isoformat(),
            "latency_ms": latency_ms, "inputs": inputs, "outputs": outputs}


class _Segment:
    """An open write-ahead file, locked by its writer."""

    def __init__(self, directory: Path) -> None:
        self.name = uuid.uuid4().hex
        self.path = directory / f"{self.name}{SUFFIX}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        self.rows = 0
        self.opened = time.monotonic()

    def close(self) -> None:
        os.fsync(self.fd)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


class PredictionLog:
    """A bounded, durable prediction log for one server process (see the module docstring)."""

    def __init__(self, store: StoreHandle, *, segment_rows: int = 20_000,
                 segment_seconds: float = 5.0, max_pending_rows: int = 200_000,
                 fsync: bool = False, fsync_seconds: float = 1.0) -> None:
        self.store = store
        self.directory = store.home / "predlog"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.segment_rows = segment_rows
        self.segment_seconds = segment_seconds
        self.max_pending_rows = max_pending_rows
        self.fsync = fsync
        self.fsync_seconds = fsync_seconds
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._segment: _Segment | None = None
        self._closed: list[_Segment] = []
        self._flush_lock = threading.Lock()
        self._pending = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- writing
    @property
    def pending_rows(self) -> int:
        """Rows acknowledged but not yet in a Parquet object."""
        return self._pending

    def has_room(self) -> bool:
        """False while the flusher is behind by more than ``max_pending_rows`` rows."""
        return self._pending < self.max_pending_rows

    def append(self, entries: Iterable[dict[str, Any]]) -> None:
        """Write ``entries`` durably (one write call); they are acknowledged when this returns.

        The server calls this once per scored micro-batch, with every row of every request
        of the batch, before answering any of them."""
        lines = [_line(e) for e in entries]
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            if self._segment is None:
                self._segment = _Segment(self.directory)
                self._start_thread()
            segment = self._segment
            view = memoryview(data)
            while view:
                written = os.write(segment.fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(segment.fd)
            segment.rows += len(lines)
            self._pending += len(lines)
            if segment.rows >= self.segment_rows:
                self._rotate()

    def _rotate(self) -> None:
        """Hand the active segment to the flusher (caller holds the lock). It is closed
        (fsync, unlock) by :meth:`_drain`, outside the lock: a request appending to the new
        segment never waits for a disk sync."""
        if self._segment is None:
            return
        self._closed.append(self._segment)
        self._segment = None
        self._wake.notify_all()

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="mlpilot-predlog",
                                            daemon=True)
            self._thread.start()

    def _run(self) -> None:
        last_sync = time.monotonic()
        while True:
            sync: _Segment | None = None
            with self._lock:
                if not self._stop:
                    self._wake.wait(timeout=min(self.fsync_seconds, self.segment_seconds))
                segment = self._segment
                if segment is not None and (
                        self._stop or time.monotonic() - segment.opened >= self.segment_seconds):
                    self._rotate()
                elif segment is not None and time.monotonic() - last_sync >= self.fsync_seconds:
                    sync = segment  # only this thread closes segments: its fd stays open
                closed, self._closed = self._closed, []
                stop = self._stop
            if sync is not None:
                os.fsync(sync.fd)  # outside the lock (appends go on meanwhile)
                last_sync = time.monotonic()
            self._drain(closed)
            if stop and not closed:
                return

    def _drain(self, closed: list[_Segment]) -> None:
        """Close rotated segments, then flush each to Parquet (outside the lock)."""
        for segment in closed:
            segment.close()
            _flush_locked(self.store, segment.path, blocking=True)
            with self._lock:
                self._pending -= segment.rows

    def flush(self) -> None:
        """Close the active segment and wait until every closed one is in Parquet."""
        with self._flush_lock:
            with self._lock:
                self._rotate()
                closed, self._closed = self._closed, []
            self._drain(closed)

    def close(self) -> None:
        """Flush everything and stop the flusher thread."""
        with self._lock:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def recover(self) -> int:
        """Flush segments left by dead processes (those no live writer locks); rows recovered."""
        return recover(self.store)


def _line(item: dict[str, Any]) -> bytes:
    """One segment line: inputs and outputs as JSON text inside the JSON object, so the
    flusher reads a segment with Arrow's JSON reader (C++, off the GIL) instead of Python."""
    return orjson.dumps({**item, "inputs": orjson.dumps(item["inputs"]).decode(),
                         "outputs": orjson.dumps(item["outputs"]).decode()})


# ---------------------------------------------------------------- flushing and reading
_LINE_SCHEMA = pa.schema([
    ("request_id", pa.string()), ("row", pa.int32()), ("project", pa.string()),
    ("model_version", pa.int64()), ("at", pa.string()), ("latency_ms", pa.float64()),
    ("inputs", pa.string()), ("outputs", pa.string()),
])


def _read_segment_arrow(path: Path) -> pa.Table | None:
    """The segment as a table in the Parquet schema; None when Arrow cannot read it (a torn
    last line, or lines of the older format with inputs as objects): use the Python reader."""
    if path.stat().st_size == 0:
        return _ARROW_SCHEMA.empty_table()
    try:
        table = pa_json.read_json(path, parse_options=pa_json.ParseOptions(
            explicit_schema=_LINE_SCHEMA, unexpected_field_behavior="error"))
        table = table.select(_LINE_SCHEMA.names).cast(_LINE_SCHEMA)
        at = pc.cast(table.column("at"), pa.timestamp("us", tz="UTC"))
        return table.set_column(_LINE_SCHEMA.names.index("at"), "at", at).cast(_ARROW_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _read_segment(path: Path) -> list[dict[str, Any]]:
    return _parse_lines(path.read_bytes())


def _parse_lines(data: bytes) -> list[dict[str, Any]]:
    entries = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entries.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue  # a torn final line: its request was never answered
    return entries


def _parquet_bytes(entries: list[dict[str, Any]]) -> bytes:
    table = pa.table({
        "request_id": [e["request_id"] for e in entries],
        "row": [e["row"] for e in entries],
        "project": [e["project"] for e in entries],
        "model_version": [e["model_version"] for e in entries],
        "at": pd.to_datetime([e["at"] for e in entries], utc=True, format="ISO8601"),
        "latency_ms": [float(e["latency_ms"]) for e in entries],
        "inputs": [_json_text(e["inputs"]) for e in entries],
        "outputs": [_json_text(e["outputs"]) for e in entries],
    }, schema=_ARROW_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _json_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _by_project(path: Path) -> dict[str, tuple[bytes, int, datetime, datetime]]:
    """Per project: Parquet bytes, rows, first and last moment (naive UTC) of a segment."""
    out = {}
    table = _read_segment_arrow(path)
    if table is not None:
        projects = table.column("project")
        for project in sorted(pc.unique(projects).to_pylist()):
            part = table.filter(pc.equal(projects, project))
            bounds = pc.min_max(part.column("at")).as_py()
            out[project] = (_table_bytes(part), part.num_rows,
                            bounds["min"].replace(tzinfo=None), bounds["max"].replace(tzinfo=None))
        return out
    by_project: dict[str, list[dict[str, Any]]] = {}
    for item in _read_segment(path):
        by_project.setdefault(item["project"], []).append(item)
    for project, items in sorted(by_project.items()):
        moments = sorted(datetime.fromisoformat(e["at"]).replace(tzinfo=None) for e in items)
        out[project] = (_parquet_bytes(items), len(items), moments[0], moments[-1])
    return out


def flush_segment(store: StoreHandle, path: Path) -> int:
    """Turn one closed segment into Parquet objects and index rows, then delete it.

    Idempotent: an index row already present for (segment, project) is kept, so a flush that
    died half-way is simply repeated. Returns the number of rows flushed.
    """
    segment = path.name.removesuffix(SUFFIX)
    total = 0
    for project, (data, n_rows, first_at, last_at) in _by_project(path).items():
        sha = store.objects.put(data)
        total += n_rows
        try:
            with store.transaction() as session:
                exists = session.scalar(select(PredictionLogBatchRow).where(
                    PredictionLogBatchRow.segment == segment,
                    PredictionLogBatchRow.project == project))
                if exists is None:
                    session.add(PredictionLogBatchRow(
                        project=project, segment=segment, object_sha256=sha,
                        n_rows=n_rows, first_at=first_at, last_at=last_at,
                        created_at=utcnow()))
        except DBIntegrityError:
            pass  # another process recorded the same batch first
    path.unlink(missing_ok=True)
    return total


def _flush_locked(store: StoreHandle, path: Path, *, blocking: bool) -> int:
    """Flush ``path`` while holding its lock; 0 when it is gone or (not blocking) held."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            return 0  # a live writer (or another flusher) holds it
        return flush_segment(store, path) if path.exists() else 0
    finally:
        os.close(fd)


def recover(store: StoreHandle) -> int:
    """Flush every segment under the workspace that no live process holds; rows recovered."""
    directory = store.home / "predlog"
    if not directory.is_dir():
        return 0
    return sum(_flush_locked(store, path, blocking=False)
               for path in sorted(directory.glob(f"*{SUFFIX}")))


def read_log(store: StoreHandle, project: str) -> pd.DataFrame:
    """Every flushed log entry of ``project``, oldest batch first (inputs/outputs as JSON)."""
    with store.transaction() as session:
        shas = session.scalars(select(PredictionLogBatchRow.object_sha256)
                               .where(PredictionLogBatchRow.project == project)
                               .order_by(PredictionLogBatchRow.id)).all()
    if not shas:
        return _ARROW_SCHEMA.empty_table().to_pandas()
    tables = [pq.read_table(io.BytesIO(store.objects.get(sha))) for sha in shas]
    return pa.concat_tables(tables).to_pandas()


# ---------------------------------------------------------------- finding request ids
_ID_SCHEMA = pa.schema([("request_id", pa.string()), ("row", pa.int32()),
                        ("project", pa.string())])
_CLOCK_SLACK = timedelta(minutes=1)  # the wall clock stepping back between an id and its log
_IN_FLIGHT = timedelta(minutes=10)  # longer than any request is answered in


def find_requests(store: StoreHandle, project: str,
                  request_ids: Iterable[str]) -> dict[str, set[int]]:
    """The logged rows of each of ``request_ids`` in ``project``'s log, flushed or not.

    An id missing from the answer was never answered for ``project``. Segments are read before
    the index: a flush records its Parquet object before it deletes the segment, so an entry
    whose segment vanishes meanwhile is in the index read next. Parquet objects are read where
    their time range meets the ids' (one column pair each); the others only for ids still
    unknown after that (an id of an older format, or a request id that was never issued)."""
    wanted = set(request_ids)
    found: dict[str, set[int]] = {}
    directory = store.home / "predlog"
    segments = sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
    for path in segments:
        _collect(_segment_ids(path), wanted, found, project)
    with store.transaction() as session:
        batches = session.execute(
            select(PredictionLogBatchRow.object_sha256, PredictionLogBatchRow.first_at,
                   PredictionLogBatchRow.last_at)
            .where(PredictionLogBatchRow.project == project)
            .order_by(PredictionLogBatchRow.id)).all()
    moments = [issued_at(request_id) for request_id in wanted]
    near: list[str] = []
    if moments and None not in moments:
        lo = min(m for m in moments if m is not None) - _CLOCK_SLACK
        hi = max(m for m in moments if m is not None) + _IN_FLIGHT
        near = [sha for sha, first, last in batches if last >= lo and first <= hi]
    read = set(near)
    rest = [sha for sha, _, _ in batches if sha not in read]
    for shas in (near, rest):
        for sha in shas:
            if wanted.issubset(found):
                return found
            table = pq.read_table(io.BytesIO(store.objects.get(sha)),
                                  columns=["request_id", "row"])
            _collect(table, wanted, found)
    return found


def _segment_ids(path: Path) -> pa.Table | None:
    """Request ids, rows and projects of a segment (live or not); None when it is gone."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None  # flushed meanwhile: its entries are in the index
    end = data.rfind(b"\n") + 1  # a writer's torn last line was never acknowledged
    if end == 0:
        return None
    try:
        return pa_json.read_json(pa.BufferReader(pa.py_buffer(data).slice(0, end)),
                                 parse_options=pa_json.ParseOptions(
                                     explicit_schema=_ID_SCHEMA,
                                     unexpected_field_behavior="ignore"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        items = _parse_lines(data[:end])
        return pa.table({name: [item.get(name) for item in items] for name in _ID_SCHEMA.names},
                        schema=_ID_SCHEMA)


def _collect(table: pa.Table | None, wanted: set[str], found: dict[str, set[int]],
             project: str | None = None) -> None:
    if table is None or table.num_rows == 0:
        return
    mask = pc.is_in(table.column("request_id"), value_set=pa.array(sorted(wanted), pa.string()))
    if project is not None:
        mask = pc.and_(mask, pc.equal(table.column("project"), project))
    part = table.filter(mask)
    for request_id, row in zip(part.column("request_id").to_pylist(),
                               part.column("row").to_pylist(), strict=True):
        found.setdefault(request_id, set()).add(row)
