"""The FastAPI application serving every project's champion.

Endpoints: ``POST /v1/projects/{name}/predict`` (one record or ``{"records": [...]}``),
``POST /v1/projects/{name}/feedback``, ``POST /v1/projects/{name}/champion`` (admin),
``GET /v1/projects``, ``GET /v1/projects/{name}``, and the open ``/healthz``, ``/readyz``,
``/metrics``. The OpenAPI document is generated from each project's training schema.

Example:
    >>> import tempfile, pathlib
    >>> from fastapi.testclient import TestClient
    >>> from mlpilot.pipeline.workspace import Workspace
    >>> client = TestClient(create_app(Workspace(pathlib.Path(tempfile.mkdtemp()))))
    >>> client.get("/healthz").json()
    {'status': 'ok'}
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import threadpoolctl
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from mlpilot.core.errors import MlpilotError, SchemaError
from mlpilot.pipeline import predlog
from mlpilot.pipeline.serving import Champions, Served, record_feedback
from mlpilot.pipeline.workspace import Workspace
from mlpilot.server.auth import KeyChecker
from mlpilot.server.batching import Job, MicroBatcher
from mlpilot.server.config import ServeConfig
from mlpilot.server.metrics import CONTENT_TYPE, ServerMetrics
from mlpilot.server.openapi import project_openapi
from mlpilot.server.schemas import InvalidBody, RequestBody

log = logging.getLogger("mlpilot.server")


class ChampionMove(BaseModel):
    """Promote ``version``, or roll back to the previous champion with ``rollback: true``."""

    version: int | None = Field(None, ge=1, description="Version to promote.")
    rollback: bool = Field(False, description="Roll back instead of promoting.")


class Label(BaseModel):
    request_id: str = Field(..., min_length=1, max_length=64)
    row: int = Field(0, ge=0, description="Row of the request (0 for one-record requests).")
    label: Any = Field(..., description="The true value of the target.")


class Feedback(BaseModel):
    labels: list[Label] = Field(..., min_length=1, max_length=10_000)


class _State:
    """Everything one app instance holds: champions, request models, batcher, log."""

    def __init__(self, ws: Workspace, config: ServeConfig) -> None:
        self.ws = ws
        self.config = config
        self.champions = Champions(ws)
        self.metrics = ServerMetrics()
        self.keys = KeyChecker(ws.store, enabled=config.auth, ttl=config.key_cache_seconds)
        self.log = (predlog.PredictionLog(ws.store, fsync=config.log_fsync,
                                          max_pending_rows=config.log_max_pending_rows)
                    if config.log else None)
        self.batcher = MicroBatcher(config.batch_max_size, config.batch_max_wait_ms,
                                    on_batch=self.metrics.batch_rows.observe,
                                    on_scored=self.write_log if self.log is not None else None)
        self.bodies: dict[tuple[str, str], RequestBody] = {}
        self._body_of: weakref.WeakKeyDictionary[Served, RequestBody] = (
            weakref.WeakKeyDictionary())
        self.loaded = False

    def load(self) -> None:
        changes = self.champions.refresh()
        for name, old, new in changes:
            self.metrics.model_version.labels(name).set(new)
            if old is not None:
                self.metrics.swaps.labels(name).inc()
                log.info("champion of %s: v%s -> v%s", name, old, new)
        if changes or not self.loaded:
            # The loaded libraries and models are hundreds of thousands of long-lived objects;
            # without this every full collection walks them all: 130-190 ms pauses measured
            # under load, which were the p99. Frozen objects are still freed by refcount.
            gc.collect()
            gc.freeze()
        self.loaded = True

    def update_gauges(self) -> None:
        """Gauges sampled rather than updated per request (at each scrape, and every
        ``refresh_seconds`` so that workers that do not answer the scrape stay current)."""
        if self.log is not None:
            self.metrics.log_pending.set(self.log.pending_rows)

    def served(self, name: str) -> Served:
        if not self.loaded:
            self.load()
        return self.champions.get(name)

    def write_log(self, jobs: list[Job]) -> None:
        """Every row of a scored batch into the prediction log with one write (then the
        batcher answers the requests: acknowledged means written)."""
        assert self.log is not None
        now = time.perf_counter()
        at = datetime.now(UTC)
        self.log.append(predlog.entry(job.request_id, i, job.served.project,
                                      job.served.version, (now - job.started) * 1000.0, row,
                                      out, at)
                        for job in jobs
                        for i, (row, out) in enumerate(zip(job.rows, job.outputs, strict=True)))

    async def predict(self, name: str, raw: bytes, start: float) -> bytes:
        """The JSON answer to a prediction request (auth already checked): the champion taken
        once (a swap never changes it under the request), the body validated, the rows scored
        in a micro-batch and logged before this returns."""
        served = self.served(name)
        rows = self.body(served).parse(raw)
        if self.log is not None:
            while not self.log.has_room():  # backpressure, never a silent drop
                await asyncio.sleep(0.005)
        try:
            job = await self.batcher.submit(served, rows, start)
        except SchemaError:
            raise
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"the records cannot be scored: {exc}",
                              fix=f"send values of the training types (GET "
                                  f"/v1/projects/{name})") from exc
        self.metrics.count_rows(name, len(rows))
        return orjson.dumps({"project": name, "model_version": served.version,
                             "request_id": job.request_id, "predictions": job.outputs})

    def body(self, served: Served) -> RequestBody:
        body = self._body_of.get(served)  # per Served: no schema hashing per request
        if body is None:
            body = self._body_of[served] = self._body(served)
        return body

    def _body(self, served: Served) -> RequestBody:
        key = (served.project, served.predictor.schema.hash)
        body = self.bodies.get(key)
        if body is None:
            body = RequestBody.build(served.project, served.predictor.schema,
                                     strict=self.config.strict)
            self.bodies[key] = body
        return body


def create_app(workspace: Workspace | None = None, config: ServeConfig | None = None) -> FastAPI:
    """The app for ``workspace`` (default: $MLPILOT_HOME / $MLPILOT_DB) and ``config``
    (default: ``$MLPILOT_SERVE_CONFIG``, else :class:`ServeConfig`'s defaults)."""
    state = _State(workspace or Workspace(), config or ServeConfig.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not state.config.auth:
            log.warning("authentication is OFF (--no-auth): anyone who can reach this port "
                        "can predict and move champions")
        if state.log is not None:
            recovered = await asyncio.to_thread(state.log.recover)
            if recovered:
                log.info("prediction log: recovered %d rows left by a stopped server",
                         recovered)
        limits = None
        if state.config.model_threads > 0:
            # one scoring thread per worker: OpenMP start-up costs more than a small batch
            limits = threadpoolctl.threadpool_limits(state.config.model_threads)
        await asyncio.to_thread(state.load)
        poller = asyncio.create_task(_poll(state))
        try:
            yield
        finally:
            poller.cancel()
            if limits is not None:
                limits.restore_original_limits()
            gc.unfreeze()
            try:
                await state.batcher.close()
                if state.log is not None:
                    await asyncio.to_thread(state.log.close)
            finally:
                state.metrics.close()  # this worker's live gauges leave the shared scrape

    app = MlpilotApp(title="mlpilot", version="1", lifespan=lifespan,
                  description="Predictions from each project's champion model. Send "
                              "`Authorization: Bearer KEY` (see `mlpilot apikey create`).")
    app.state.mlpilot = state

    @app.exception_handler(MlpilotError)
    async def _mlpilot_error(_: Request, exc: MlpilotError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content={"detail": exc.to_dict()})

    @app.exception_handler(InvalidBody)
    async def _invalid(_: Request, exc: InvalidBody) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": exc.errors})

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """Readiness: every project's champion is loaded (503 until then)."""
        models = {name: s.version for name, s in state.champions.all().items()}
        ready = state.loaded
        return JSONResponse(status_code=200 if ready else 503,
                            content={"status": "ready" if ready else "loading",
                                     "models": models})

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        """Prometheus metrics: request counts, latency histograms, model versions."""
        state.update_gauges()
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/v1/projects", tags=["projects"])
    async def list_projects(request: Request) -> list[dict[str, Any]]:
        await state.keys.check(request, "predict")
        return await asyncio.to_thread(lambda: [p.to_dict() for p in state.ws.projects()])

    @app.get("/v1/projects/{name}", tags=["projects"])
    async def get_project(name: str, request: Request) -> dict[str, Any]:
        await state.keys.check(request, "predict")

        def read() -> dict[str, Any]:
            project = state.ws.project(name)
            return {**project.to_dict(), "schema": project.schema.to_dict()}
        return await asyncio.to_thread(read)

    @app.post("/v1/projects/{name}/predict", tags=["predict"], include_in_schema=False)
    async def predict(name: str, request: Request) -> Response:
        start = time.perf_counter()
        status = 500
        try:
            await state.keys.check(request, "predict")
            payload = await state.predict(name, await request.body(), start)
            status = 200
            return Response(payload, media_type="application/json")
        except MlpilotError as exc:
            status = exc.http_status
            raise
        except InvalidBody:
            status = 422
            raise
        finally:
            state.metrics.observe_request(name, "predict", status,
                                          time.perf_counter() - start)

    @app.post("/v1/projects/{name}/feedback", tags=["predict"])
    async def feedback(name: str, body: Feedback, request: Request) -> dict[str, Any]:
        """Attach true labels to the request ids that predictions returned.

        All or nothing: a request id this project never answered (or a row it did not have)
        is a 422 naming it, and nothing is recorded. A later label for the same request id and
        row replaces the earlier one (`replaced` counts them; the audit log keeps the old)."""
        key = await state.keys.check(request, "predict")
        served = state.served(name)
        labels = [(item.request_id, item.row, item.label) for item in body.labels]
        result = await asyncio.to_thread(record_feedback, state.ws, served, labels,
                                         f"apikey:{key.name}")
        return {"project": name, "recorded": result.recorded, "replaced": result.replaced}

    @app.post("/v1/projects/{name}/champion", tags=["models"])
    async def move_champion(name: str, body: ChampionMove, request: Request) -> dict[str, Any]:
        """Promote a version, or roll back; the served model switches at once (admin key)."""
        key = await state.keys.check(request, "admin")
        if (body.version is None) == (not body.rollback):
            raise SchemaError("say either which version to promote or rollback: true",
                              found=body.model_dump_json(),
                              fix='send {"version": 2} or {"rollback": true}')
        move = await asyncio.to_thread(state.champions.move, name, version=body.version,
                                       actor=f"apikey:{key.name}")
        await asyncio.to_thread(state.load)
        return {"project": name, **move, "serving": state.champions.get(name).version}

    def openapi() -> dict[str, Any]:
        if not state.loaded:
            with contextlib.suppress(MlpilotError):
                state.load()
        served = state.champions.all()
        key = tuple(sorted((n, s.predictor.schema.hash) for n, s in served.items()))
        cached = getattr(app.state, "openapi_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        app.openapi_schema = None
        document = project_openapi(FastAPI.openapi(app),
                                   {n: state.body(s) for n, s in served.items()})
        app.state.openapi_cache = (key, document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    return app


_PREDICT_PATH = re.compile(r"/v1/projects/([^/]+)/predict")
MAX_BODY_BYTES = 32 * 1024 * 1024  # 10,000 records of a few hundred bytes fit many times


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


class MlpilotApp(FastAPI):
    """FastAPI, with ``POST /v1/projects/{name}/predict`` answered straight from ASGI.

    The hot path skips FastAPI's routing, dependency solving and middleware stack (about half
    of a one-row request's CPU time, measured with py-spy); it does exactly what the FastAPI
    route does (same key check, body model, errors, metrics, log), which stays registered for
    any other method and for the documentation.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _PREDICT_PATH.fullmatch(scope["path"])
            state = getattr(self.state, "mlpilot", None)
            if match is not None and state is not None:
                await _fast_predict(state, match.group(1), scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise SchemaError("the request body is too large",
                              expected=f"at most {MAX_BODY_BYTES // 2**20} MiB",
                              found=f"more than {size} bytes",
                              fix="send fewer records per request")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_JSON = [(b"content-type", b"application/json")]


async def _fast_predict(state: _State, name: str, scope: Scope, receive: Receive,
                        send: Send) -> None:
    """The predict endpoint as a raw ASGI handler (see :class:`MlpilotApp`)."""
    start = time.perf_counter()
    status = 500
    headers = _JSON
    try:
        auth = b""
        for key, value in scope["headers"]:
            if key == b"authorization":
                auth = value
                break
        await state.keys.check_header(auth.decode("latin-1"), "predict")
        payload = await state.predict(name, await _read_body(receive), start)
        status = 200
    except MlpilotError as exc:
        status = exc.http_status
        payload = orjson.dumps({"detail": exc.to_dict()})
    except InvalidBody as exc:
        status = 422
        payload = orjson.dumps({"detail": exc.errors})
    except _Disconnected:
        status = 499
        return
    except Exception:
        log.exception("prediction request for %s failed", name)
        payload, headers = b"Internal Server Error", [(b"content-type", b"text/plain")]
    finally:
        state.metrics.observe_request(name, "predict", status, time.perf_counter() - start)
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def _poll(state: _State) -> None:
    """Re-read champion pointers every ``refresh_seconds`` (picks up CLI promotions) and
    sample the gauges."""
    while True:
        await asyncio.sleep(state.config.refresh_seconds)
        state.update_gauges()
        try:
            await asyncio.to_thread(state.load)
        except Exception:  # a transient database error must not stop serving
            log.exception("could not refresh the champions; serving the current ones")


def app_from_env() -> FastAPI:
    """The factory uvicorn workers call (`mlpilot serve`): config from the environment."""
    return create_app()
