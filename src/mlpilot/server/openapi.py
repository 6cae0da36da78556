"""The OpenAPI document: FastAPI's, plus one predict path per served project.

``POST /v1/projects/flights/predict`` is documented with the request models generated from the
flights training schema, so the document lists every feature with its type, and tools that
read it (clients, schemathesis) know exactly what to send.
"""

from __future__ import annotations

import copy
from typing import Any

from mlpilot.server.schemas import RequestBody, model_name

_PREDICTION = {
    "type": "object",
    "description": "`prediction`, then `proba_<class>` per class for classification.",
    "additionalProperties": True,
}
_ERROR = {"description": "An error: `detail` says what was wrong, what was expected, the fix.",
          "content": {"application/json": {"schema": {"type": "object"}}}}
_INVALID = {"description": "Invalid body: one entry per bad field (missing, wrong type, "
                           "unknown column in strict mode, the target column).",
            "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/HTTPValidationError"}}}}
_VALIDATION_SCHEMAS = {
    "ValidationError": {
        "type": "object", "required": ["loc", "msg", "type"], "title": "ValidationError",
        "properties": {"loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                    {"type": "integer"}]}},
                       "msg": {"type": "string"}, "type": {"type": "string"}}},
    "HTTPValidationError": {
        "type": "object", "title": "HTTPValidationError",
        "properties": {"detail": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/ValidationError"}}}},
}


def _response(project: str) -> dict[str, Any]:
    return {
        "title": model_name(project, "Predictions"),
        "type": "object",
        "required": ["project", "model_version", "request_id", "predictions"],
        "properties": {
            "project": {"type": "string"},
            "model_version": {"type": "integer", "description": "The champion that answered."},
            "request_id": {"type": "string", "description": "Use it to send feedback."},
            "predictions": {"type": "array", "items": _PREDICTION,
                            "description": "One object per input record, in order."},
        },
    }


def project_openapi(document: dict[str, Any],
                    bodies: dict[str, RequestBody]) -> dict[str, Any]:
    """``document`` with a documented predict path for each project in ``bodies``."""
    doc = copy.deepcopy(document)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, schema in _VALIDATION_SCHEMAS.items():
        schemas.setdefault(name, schema)
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer",
        "description": "An API key from `mlpilot apikey create`."}
    for project, body in sorted(bodies.items()):
        body_schema = body.json_schema()
        schemas.update(body_schema.pop("$defs", {}))
        response_name = model_name(project, "Predictions")
        schemas[response_name] = _response(project)
        doc.setdefault("paths", {})[f"/v1/projects/{project}/predict"] = {"post": {
            "tags": ["predict"],
            "summary": f"Score records with the champion of {project}",
            "description": "Send one record (an object of features) or "
                           "`{\"records\": [...]}`. Every feature of the training schema is "
                           "listed with its type; optional features may be absent or null. "
                           f"Do not send the target, `{body.target}`: it is what the model "
                           "predicts (a record with it gets a 422).",
            "operationId": f"predict_{project}",
            "security": [{"bearer": []}],
            "requestBody": {"required": True,
                            "content": {"application/json": {"schema": body_schema}}},
            "responses": {
                "200": {"description": "Predictions, in input order.",
                        "content": {"application/json": {"schema": {
                            "$ref": f"#/components/schemas/{response_name}"}}}},
                "401": _ERROR, "403": _ERROR, "404": _ERROR, "422": _INVALID},
        }}
    return doc
