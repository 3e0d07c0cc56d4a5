"""Helpers shared by the routers: the request's Context, the Idempotency-Key header, and
running a write idempotently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from loyalty.auth import Principal
from loyalty.context import Context
from loyalty.errors import ApiError
from loyalty.idempotency import KEY_PATTERN, Outcome, run_idempotent
from loyalty.ledger.errors import LedgerError
from loyalty.schemas import ErrorBody

T = TypeVar("T")

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,
        description="client-chosen key (8-128 of A-Z a-z 0-9 _ . : -); a retry with the same "
        "key and body returns the original result",
        examples=["earn-2026-03-02-0001"],
    ),
]

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        401: "no or unknown API key",
        403: "role or scope does not allow this",
        404: "not found (or not visible to this key)",
        409: "refused by the ledger or a business rule; or Idempotency-Key reused",
        413: "body too large",
        422: "malformed request",
    }.items()
}


def ctx_of(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context


def read(request: Request, work: Callable[[Connection], T]) -> T:
    """Run a read in one short transaction."""
    with ctx_of(request).engine.begin() as conn:
        try:
            return work(conn)
        except LedgerError as exc:
            raise ApiError.from_ledger(exc) from None


def retrying(request: Request, work: Callable[[Connection], T], attempts: int = 4) -> T:
    """A naturally idempotent write (agent uploads, preference merges): retried when a
    concurrent twin wins a unique index or SQLite is busy."""
    for attempt in range(attempts):
        try:
            with ctx_of(request).engine.begin() as conn:
                return work(conn)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise ApiError(503, "busy", "the database is busy; retry") from None
        except LedgerError as exc:
            raise ApiError.from_ledger(exc) from None
    raise AssertionError("unreachable")


def write(
    request: Request,
    principal: Principal,
    key: str,
    operation: str,
    body: BaseModel | dict[str, Any],
    work: Callable[[Connection], BaseModel],
    *,
    status: int = 200,
) -> JSONResponse:
    ctx = ctx_of(request)
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body

    def run(conn: Connection) -> Outcome:
        return Outcome(status, work(conn).model_dump(mode="json"))

    outcome = run_idempotent(
        ctx.engine,
        principal=principal.key_id,
        key=key,
        operation=operation,
        request=payload,
        now=ctx.clock.now,
        work=run,
    )
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)
