"""Server-side rendering of the board (Jinja, autoescaped): the whole page once, then single
cards and the priority list as fragments the live feed sends. No build step: the templates,
script and style ship as package files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import groupby
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from loyalty.board.i18n import SCRIPT_WORDS, Lang, translator
from loyalty.board.model import RoomView, priority_list
from loyalty.board.views import PropertyInfo
from loyalty.board.workflow import Staff

_env = Environment(
    loader=PackageLoader("loyalty.board", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=False,
)


def _formatter(info: PropertyInfo) -> Callable[..., str]:
    def fmt(at: datetime, with_date: bool = False) -> str:
        local = at.astimezone(info.tz)
        return local.strftime("%m-%d %H:%M" if with_date else "%H:%M")

    return fmt


def _macros() -> Any:
    return _env.get_template("card.html").module


def page(
    *,
    info: PropertyInfo,
    me: Staff,
    rooms: list[RoomView],
    attendants: list[Staff],
    lang: Lang,
    seq: int,
) -> str:
    t = translator(lang)
    by_floor = [
        (floor, list(group))
        for floor, group in groupby(
            sorted(rooms, key=lambda r: (r.floor is None, r.floor or 0, r.room_id)),
            key=lambda r: r.floor,
        )
    ]
    return _env.get_template("board.html").render(
        info=info,
        me=me,
        t=t,
        lang=lang,
        seq=seq,
        by_floor=by_floor,
        floors=[f for f, _ in by_floor],
        next=priority_list(rooms),
        attendants=attendants,
        fmt=_formatter(info),
        words={k: t[k] for k in SCRIPT_WORDS},
    )


def login(lang: Lang) -> str:
    return _env.get_template("login.html").render(t=translator(lang), lang=lang)


def card(
    room: RoomView, *, info: PropertyInfo, me: Staff, attendants: list[Staff], lang: Lang
) -> str:
    return str(_macros().card(room, translator(lang), me, attendants, _formatter(info)))


def priority(rooms: list[RoomView], *, info: PropertyInfo, lang: Lang) -> str:
    return str(_macros().priority(priority_list(rooms), translator(lang), _formatter(info)))
