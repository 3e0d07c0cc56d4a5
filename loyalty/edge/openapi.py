"""Documents the edge's answers in the OpenAPI of every operation, whoever wrote the router:
400 (not JSON), 413 (too large) and 422 on every POST/PUT/PATCH; 415 on those with a JSON
body; 422 on every operation with parameters. Applied to the generated document, so a new
router needs nothing."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from loyalty.schemas import ErrorBody

EDGE_ANSWERS = {
    "400": "the body is not JSON (or not UTF-8); `field` is `body`",
    "413": "body too large",
    "415": "the body is not `Content-Type: application/json`",
    "422": "a field breaks its format or the text policy, or a JSON key is repeated; "
    "`field` names it",
}
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}


def _answer(code: str) -> dict[str, Any]:
    return {"description": EDGE_ANSWERS[code], "content": {"application/json": {"schema": _ERROR}}}


def document_edges(app: FastAPI) -> None:
    """Wrap `app.openapi` so the edge answers appear in every operation they apply to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        for item in spec.get("paths", {}).values():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                codes = []
                if method in ("post", "put", "patch"):
                    codes += ["400", "413", "422"]
                    if "application/json" in operation.get("requestBody", {}).get("content", {}):
                        codes.append("415")
                if operation.get("parameters") or operation.get("requestBody"):
                    codes.append("422")
                for code in codes:
                    responses.setdefault(code, _answer(code))
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorBody" not in schemas:
            body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(body.pop("$defs", {}))
            schemas["ErrorBody"] = body
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
