"""The FastAPI application serving every project's champion.

Example:
    >>> import tempfile, pathlib
    >>> from fastapi.testclient import TestClient
    >>> from mlpilot.pipeline.workspace import Workspace
    >>> client = TestClient(create_app(Workspace(pathlib.Path(tempfile.mkdtemp()))))
    >>> client.get("/healthz").json()
    {'status': 'ok'}
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from mlpilot.core.errors import MlpilotError, SchemaError
from mlpilot.pipeline.workspace import Workspace


class PredictRequest(BaseModel):
    records: list[dict[str, Any]] = Field(
        ..., min_length=1,
        description="Rows to score: one object per row, keyed by training column name.",
        examples=[[{"carrier": "UA", "origin": "EWR", "dest": "IAH", "distance": 1400}]])


class PredictResponse(BaseModel):
    project: str
    model_version: int
    request_id: str
    predictions: list[dict[str, Any]] = Field(
        ..., description="One object per input record, in order: `prediction` and, for "
                         "classification, `proba_<class>` per class.")


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe dicts with full float precision (NaN becomes null)."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]


def create_app(workspace: Workspace | None = None) -> FastAPI:
    """The app for ``workspace`` (default: the one of $MLPILOT_HOME / $MLPILOT_DB)."""
    ws = workspace or Workspace()
    app = FastAPI(title="mlpilot", version="1",
                  description="Predictions from each project's champion model.")

    @app.exception_handler(MlpilotError)
    async def _mlpilot_error(_: Request, exc: MlpilotError) -> JSONResponse:
        return JSONResponse(status_code=exc.http_status, content={"detail": exc.to_dict()})

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/v1/projects", tags=["projects"])
    def list_projects() -> list[dict[str, Any]]:
        return [p.to_dict() for p in ws.projects()]

    @app.get("/v1/projects/{name}", tags=["projects"])
    def get_project(name: str) -> dict[str, Any]:
        project = ws.project(name)
        return {**project.to_dict(), "schema": project.schema.to_dict()}

    @app.post("/v1/projects/{name}/predict", response_model=PredictResponse, tags=["predict"])
    def predict(name: str, body: PredictRequest) -> PredictResponse:
        """Score records with the project's champion."""
        model = ws.project(name).model(None)
        frame = pd.DataFrame.from_records(body.records)
        try:
            result = model.load().predict_frame(frame)
        except SchemaError:
            raise
        except (ValueError, TypeError) as exc:
            raise SchemaError(f"the records cannot be scored: {exc}",
                              fix=f"send values of the training types (GET /v1/projects/{name})"
                              ) from exc
        rows = json_records(result)
        return PredictResponse(project=name, model_version=model.version,
                               request_id=uuid.uuid4().hex, predictions=rows)

    return app
