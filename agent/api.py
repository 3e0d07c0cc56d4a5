"""The agent's local HTTP API (FastAPI, served in-process by uvicorn).

    GET    /health                    200 when the control loop is alive and ready, else 503
    GET    /status                    sync.wire.RoomStatus
    GET    /status/detail             the plan, who decided each device, the last scene result
    GET    /metrics                   Prometheus text
    PUT    /housekeeping              {"dnd": true} / {"mur": true} / {"dnd": false, "mur": false}
    POST   /devices/{name}/override   a guest change from the app, held like a knob change
    DELETE /devices/{name}/override   hand the device back to automation

Changing endpoints need `Authorization: Bearer <key>` when `api.token_file` is set. Bodies
over 4 KiB are refused before parsing; unknown fields are errors.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.metrics import CONTENT_TYPE
from agent.room import RoomController, state_dict
from drivers.base import (
    ClimateCommand,
    ClimateMode,
    CoverCommand,
    DriverError,
    FanMode,
    LightCommand,
    MediaCommand,
)
from scenes.model import Command
from sync.wire import RoomStatus

MAX_BODY = 4096


class HousekeepingRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dnd: bool | None = None
    mur: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> HousekeepingRequest:
        if self.dnd is None and self.mur is None:
            raise ValueError("give dnd and/or mur")
        if self.dnd and self.mur:
            raise ValueError("dnd and mur cannot both be on")
        return self


class OverrideRequest(BaseModel):
    """Fields of the device's capability only (climate: mode/setpoint_c/fan; light:
    on/level_pct/colour_temp_k; media: power/volume_pct/source; cover: position_pct)."""

    model_config = ConfigDict(extra="forbid")
    mode: ClimateMode | None = None
    setpoint_c: Annotated[float, Field(ge=5, le=35)] | None = None
    fan: FanMode | None = None
    on: bool | None = None
    level_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    colour_temp_k: Annotated[int, Field(ge=1500, le=7000)] | None = None
    power: bool | None = None
    volume_pct: Annotated[int, Field(ge=0, le=100)] | None = None
    source: Annotated[str, Field(max_length=128)] | None = None
    position_pct: Annotated[int, Field(ge=0, le=100)] | None = None


_FIELDS = {
    "climate": ("mode", "setpoint_c", "fan"),
    "light": ("on", "level_pct", "colour_temp_k"),
    "media": ("power", "volume_pct", "source"),
    "cover": ("position_pct",),
}


def _command(capability: str, body: OverrideRequest, limits: tuple[float, float]) -> Command:
    given = body.model_dump(exclude_none=True)
    allowed = _FIELDS[capability]
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        raise HTTPException(
            422, f"a {capability} device takes {', '.join(allowed)}; not {', '.join(wrong)}"
        )
    if not given:
        raise HTTPException(422, f"give at least one of {', '.join(allowed)}")
    if capability == "climate":
        sp = body.setpoint_c
        if sp is not None and not limits[0] <= sp <= limits[1]:
            raise HTTPException(
                422, f"setpoint_c {sp} is outside the guest limits {limits[0]}-{limits[1]} °C"
            )
        return ClimateCommand(mode=body.mode, setpoint_c=sp, fan=body.fan)
    if capability == "light":
        return LightCommand(on=body.on, level_pct=body.level_pct, colour_temp_k=body.colour_temp_k)
    if capability == "media":
        return MediaCommand(power=body.power, volume_pct=body.volume_pct, source=body.source)
    assert body.position_pct is not None
    return CoverCommand(position_pct=body.position_pct)


def create_api(
    room: RoomController,
    *,
    token: str | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="smartroom-agent",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    limits = (room.config.limits.setpoint_min_c, room.config.limits.setpoint_max_c)

    @app.middleware("http")
    async def _limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return JSONResponse({"detail": f"body larger than {MAX_BODY} bytes"}, 413)
        if request.method in ("POST", "PUT", "PATCH") and length is None:
            body = await request.body()  # chunked: read at most what we accept
            if len(body) > MAX_BODY:
                return JSONResponse({"detail": f"body larger than {MAX_BODY} bytes"}, 413)
        return await call_next(request)

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        if token is None:
            return
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer key", {"WWW-Authenticate": "Bearer"})

    @app.get("/health")
    async def get_health() -> JSONResponse:
        info = health() if health else {}
        age = time.monotonic() - room.last_step_monotonic
        limit = max(5.0, room.config.runtime.tick_s * 10)
        ok = age <= limit and bool(info.get("ready", True))
        body = {"ok": ok, "last_step_age_s": round(age, 3), "steps": room.steps, **info}
        return JSONResponse(body, 200 if ok else 503)

    @app.get("/status", response_model=RoomStatus)
    async def get_status() -> RoomStatus:
        return room.status()

    @app.get("/status/detail")
    async def get_detail() -> dict[str, Any]:
        return room.describe()

    @app.get("/metrics")
    async def get_metrics() -> Response:
        return Response(room.metrics.render(), media_type=CONTENT_TYPE)

    @app.put("/housekeeping", response_model=RoomStatus, dependencies=[Depends(authorised)])
    async def put_housekeeping(body: HousekeepingRequest) -> RoomStatus:
        await room.set_housekeeping(dnd=body.dnd, mur=body.mur, via="app")
        return room.status()

    @app.post("/devices/{name}/override", dependencies=[Depends(authorised)])
    async def post_override(name: str, body: OverrideRequest) -> dict[str, Any]:
        capability = room.config.capabilities().get(name)
        if capability is None or name not in room.devices:
            raise HTTPException(404, f"no device {name!r} in this room")
        if capability == "sensor":
            raise HTTPException(422, f"{name} is a sensor: it takes no commands")
        command = _command(capability, body, limits)
        try:
            state = await room.override(name, command, via="app")
        except DriverError as exc:
            raise HTTPException(502, str(exc)) from None
        except TimeoutError:
            raise HTTPException(504, f"{name}: no confirmation in time") from None
        return {"device": name, "state": state_dict(state), "held": True}

    @app.delete("/devices/{name}/override", dependencies=[Depends(authorised)])
    async def delete_override(name: str) -> dict[str, Any]:
        if name not in room.devices:
            raise HTTPException(404, f"no device {name!r} in this room")
        return {"device": name, "released": room.release(name)}

    return app
