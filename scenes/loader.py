"""Loading the scene book: the built-ins in `scenes/library/`, then an optional directory of
the property's own scene files (same name replaces a built-in), then per-scene overrides
from the room file (`[scenes.overrides.welcome.light] level_pct = 80`).

    book = load_scenes(extra_dir=None, overrides={"welcome": {"light": {"level_pct": 80}}})
    book["welcome"].light.level_pct    # 80
    book.effective("away", overlays=("dnd",))
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from drivers.base import CapabilityName
from scenes.model import Scene
from scenes.select import Entry
from smartroom.settings import ConfigError, read_toml

LIBRARY = Path(__file__).resolve().parent / "library"

# Every name `scenes.select.select_scene` can choose; a scene book must have them all.
REQUIRED = frozenset(
    {
        "welcome",
        "welcome_back",
        "welcome_staff",
        "sleep",
        "wake",
        "away",
        "vacant",
        "pre_arrival",
        "dnd",
        "make_up_room",
        "checkout",
        "departing",
    }
)

ENTRY_SCENES: dict[Entry, str] = {
    "first": "welcome",
    "re": "welcome_back",
    "staff": "welcome_staff",
}


class SceneBook(Mapping[str, Scene]):
    def __init__(self, scenes: Mapping[str, Scene]) -> None:
        self._scenes = dict(scenes)

    def __getitem__(self, name: str) -> Scene:
        return self._scenes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._scenes)

    def __len__(self) -> int:
        return len(self._scenes)

    def effective(self, name: str, overlays: tuple[str, ...] = ()) -> Scene:
        """The scene with its overlays laid on top (an overlay's tables replace the base's)."""
        scene = self._scenes[name]
        for overlay_name in overlays:
            over = self._scenes[overlay_name]
            data = scene.model_dump(exclude_none=True)
            for capability in ("climate", "light", "media", "cover"):
                spec = getattr(over, capability)
                if spec is not None and not spec.is_empty():
                    data[capability] = spec.model_dump(exclude_none=True)
            data["devices"] = {**scene.devices, **over.devices}
            data["name"] = scene.name
            scene = Scene.model_validate(data)
        return scene

    def check_devices(self, devices: dict[str, CapabilityName]) -> list[str]:
        return [p for scene in self._scenes.values() for p in scene.check_devices(devices)]


_UNION_TAGS = frozenset({"int", "float", "str", "bool", "function-after", "constrained-int"})


def explain_scene(exc: ValidationError) -> list[str]:
    """Like smartroom.settings.explain, but one line per field: a value that fails every
    branch of `int | "preference"` is one problem, not one per branch."""
    grouped: dict[str, tuple[object, list[str]]] = {}
    for err in exc.errors(include_url=False):
        parts = [
            str(p)
            for p in err["loc"]
            if not (isinstance(p, str) and (p in _UNION_TAGS or "[" in p or p.startswith("enum")))
        ]
        where = ".".join(parts) or "(top level)"
        _value, messages = grouped.setdefault(where, (err.get("input"), []))
        if err["msg"] not in messages:
            messages.append(err["msg"])
    return [
        f"{where} = {value!r} -- {' or '.join(messages)}"
        for where, (value, messages) in grouped.items()
    ]


def _load_file(path: Path) -> Scene:
    data = read_toml(path, what="scene file")
    try:
        scene = Scene.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), explain_scene(exc)) from None
    if scene.name != path.stem:
        raise ConfigError(
            str(path),
            [f"name = {scene.name!r} -- differs from the file name (fix: name = {path.stem!r})"],
        )
    return scene


def load_scenes(
    extra_dir: Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> SceneBook:
    scenes = {p.stem: _load_file(p) for p in sorted(LIBRARY.glob("*.toml"))}
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise ConfigError(
                str(extra_dir), ["scenes.directory is not a directory (fix: create it or remove)"]
            )
        for path in sorted(extra_dir.glob("*.toml")):
            scenes[path.stem] = _load_file(path)
    problems = []
    for name, override in (overrides or {}).items():
        if name not in scenes:
            problems.append(
                f"scenes.overrides.{name} -- no such scene (fix: one of {sorted(scenes)})"
            )
            continue
        try:
            scenes[name] = scenes[name].merged(dict(override))
        except ValidationError as exc:
            problems += [f"scenes.overrides.{name}.{line}" for line in explain_scene(exc)]
    missing = REQUIRED - scenes.keys()
    if missing:
        problems.append(f"scene book lacks {sorted(missing)} (fix: keep the built-ins)")
    if problems:
        raise ConfigError("scenes", problems)
    return SceneBook(scenes)
