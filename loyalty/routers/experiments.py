"""Benefit experiments: define (loyalty team), assignment and exposure (the code or staff
applying a benefit), analysis with a verdict (loyalty team)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection

from loyalty.analytics import experiments as ex
from loyalty.analytics.service import experiment_analysis
from loyalty.auth import Allow, Principal
from loyalty.errors import ApiError
from loyalty.routers.common import ERRORS, IdempotencyKey, ctx_of, read, write
from loyalty.schemas import MoneyIn
from sync.wire import OpaqueId

router = APIRouter(tags=["experiments"], responses=ERRORS)
TEAM = Allow("loyalty", "admin")
APPLY = Allow("loyalty", "admin", "staff")
Ident = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class Exposure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: OpaqueId
    cost: MoneyIn = Field(description="what applying the benefit cost, CNY")


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


def _guard(work: Any) -> Any:
    def run(conn: Connection) -> Any:
        try:
            return work(conn)
        except ex.ExperimentError as exc:
            status = 404 if exc.code.endswith("_not_found") else 409
            status = 422 if exc.code in ("bad_plan", "bad_cost") else status
            raise ApiError(status, exc.code, str(exc)) from None

    return run


@router.post("/experiments", status_code=201)
def define(
    request: Request, body: ex.ExperimentSpec, key: IdempotencyKey, who: Principal = Depends(TEAM)
) -> JSONResponse:
    """Define an experiment; the answer gives the sample size per arm the plan needs."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        experiment_id = ex.define(conn, body, now=now)
        _spec, info = ex.load(conn, experiment_id)
        return Out(id=experiment_id, sample_size_per_arm=info["sample_size_per_arm"])

    return write(request, who, key, "experiments.define", body, _guard(work), status=201)


@router.get("/experiments/{experiment_id}")
def get(request: Request, experiment_id: Ident, who: Principal = Depends(TEAM)) -> dict[str, Any]:
    def work(conn: Connection) -> dict[str, Any]:
        spec, info = ex.load(conn, experiment_id)
        return {
            **spec.model_dump(mode="json"),
            "id": experiment_id,
            "sample_size_per_arm": info["sample_size_per_arm"],
        }

    return read(request, _guard(work))


@router.get("/experiments/{experiment_id}/assignment/{member_id}")
def assignment(
    request: Request, experiment_id: Ident, member_id: Ident, who: Principal = Depends(APPLY)
) -> dict[str, Any]:
    """The member's arm (deterministic, sticky), or null if not eligible now. Logs nothing."""
    now = ctx_of(request).clock.now()
    arm = read(request, _guard(lambda c: ex.assign(c, experiment_id, member_id, now=now)))
    return {"experiment_id": experiment_id, "member_id": member_id, "arm": arm}


@router.post("/experiments/{experiment_id}/exposures")
def exposure(
    request: Request,
    experiment_id: Ident,
    body: Exposure,
    key: IdempotencyKey,
    who: Principal = Depends(APPLY),
) -> JSONResponse:
    """Log that the member's arm's benefit was applied now, with its cost; answers the arm
    (null: not eligible, nothing logged)."""
    now = ctx_of(request).clock.now()

    def work(conn: Connection) -> Out:
        arm = ex.record_exposure(
            conn, experiment_id, body.member_id, now=now, cost_minor=int(body.cost * 100)
        )
        return Out(experiment_id=experiment_id, member_id=body.member_id, arm=arm)

    return write(request, who, key, "experiments.exposure", body, _guard(work))


@router.get("/experiments/{experiment_id}/analysis")
def analysis(
    request: Request, experiment_id: Ident, who: Principal = Depends(TEAM)
) -> dict[str, Any]:
    """Every arm against the control on retention, repeat stay, spend and benefit cost
    (Welch's t for means, two-proportion z for rates, 95% CIs, Holm-corrected), and a
    verdict — refused until the end date, the planned sample and the outcome windows."""
    ctx = ctx_of(request)
    try:
        return experiment_analysis(ctx.engine, experiment_id, as_of=ctx.clock.now())
    except ex.ExperimentError as exc:
        raise ApiError(404, exc.code, str(exc)) from None
