"""Comfort-model distribution: admins publish versions signed offline by the ML team and
withdraw them; agents list the offered versions and download their bytes (and verify size,
sha256 and signature themselves). Publish and withdraw are idempotent by version and
content, so they take no Idempotency-Key (a retry is the same request)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter
from sqlalchemy import Connection

from loyalty.auth import Allow, Principal
from loyalty.routers.common import ERRORS, ctx_of, read, retrying
from loyalty.schemas import ModelPublish, PublishedModel
from loyalty.services import models as svc
from loyalty.services import sync_feed
from sync.wire import ModelManifest

router = APIRouter(responses=ERRORS)
ADMIN = Allow("admin")
AGENT = Allow("agent")
Version = Annotated[
    str,
    Path(pattern=svc.VERSION_PATTERN, max_length=svc.VERSION_MAX, examples=["1.2.0"]),
]


NOT_MODIFIED = {"description": "`If-None-Match` carried the current ETag: not modified"}
BINARY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the model file; `ETag` and `X-Content-SHA256` carry its sha256",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    304: NOT_MODIFIED,
}
_OFFERS = TypeAdapter(list[ModelManifest])


@router.post(
    "/admin/models",
    tags=["admin"],
    response_model=ModelManifest,
    status_code=201,
    responses={200: {"model": ModelManifest, "description": "already published (a retry)"}},
)
def publish(request: Request, body: ModelPublish, who: Principal = Depends(ADMIN)) -> JSONResponse:
    """Store a comfort-model version signed offline by the ML team (this service never
    signs). 201 when stored; 200 with the stored manifest when the same version with the
    same sha256 and signature is already there; 409 for the same version with other content;
    422 naming the field when the bytes are not base64 or do not match size or sha256."""
    ctx = ctx_of(request)
    blob = svc.decode_model_b64(body.model_b64)

    def work(conn: Connection) -> svc.Published:
        published = svc.publish(conn, body.manifest, blob, ctx.clock.now())
        if published.created:
            sync_feed.models_changed(conn, ctx)  # every room hears the new offer list
        return published

    out = retrying(request, work)
    return JSONResponse(
        out.manifest.model_dump(mode="json"), status_code=201 if out.created else 200
    )


@router.get("/admin/models", tags=["admin"], response_model=list[PublishedModel])
def list_all(request: Request, who: Principal = Depends(ADMIN)) -> list[PublishedModel]:
    """Every stored version, withdrawn ones too (`withdrawn`), newest first by
    MAJOR.MINOR.PATCH compared as numbers."""
    return read(request, svc.all_versions)


@router.delete("/admin/models/comfort/{version}", tags=["admin"], response_model=PublishedModel)
def withdraw(request: Request, version: Version, who: Principal = Depends(ADMIN)) -> PublishedModel:
    """Stop offering a version to agents (idempotent; 404 for an unknown version). Rooms
    that installed it keep it until a newer version arrives."""
    ctx = ctx_of(request)

    def work(conn: Connection) -> PublishedModel:
        withdrawn = svc.withdraw(conn, version, ctx.clock.now())
        sync_feed.models_changed(conn, ctx)
        return withdrawn

    return retrying(request, work)


@router.get(
    "/agent/models",
    tags=["agent"],
    response_model=list[ModelManifest],
    responses={304: NOT_MODIFIED},
)
def offered(request: Request, who: Principal = Depends(AGENT)) -> Response:
    """The comfort-model versions on offer (not withdrawn), newest first; the same for every
    room. Fetch `url`, then verify size, sha256 and the ML team's signature before use.
    Agents poll this on every pull: the `ETag` is the sha256 of the list, and a request whose
    `If-None-Match` carries it gets an empty 304."""
    body = _OFFERS.dump_json(read(request, svc.offered))
    return _by_sha256(request, body, hashlib.sha256(body).hexdigest(), "application/json")


@router.get(
    "/agent/models/comfort/{version}",
    tags=["agent"],
    response_class=Response,  # media type per response: the file, or a JSON error
    responses=BINARY,
)
def download(request: Request, version: Version, who: Principal = Depends(AGENT)) -> Response:
    """The model file's bytes; 404 for an unknown or withdrawn version. Answers 304 to an
    `If-None-Match` carrying its ETag."""
    found = read(request, lambda c: svc.download(c, version))
    return _by_sha256(
        request,
        found.blob,
        found.sha256,
        "application/octet-stream",
        {"X-Content-SHA256": found.sha256},
    )


def _by_sha256(
    request: Request,
    body: bytes,
    sha256: str,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """`body` with `ETag: "<sha256>"`, or an empty 304 when `If-None-Match` carries it."""
    headers = {"ETag": f'"{sha256}"', **(headers or {})}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
