"""Config errors name the setting, the bad value and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from smartroom.settings import ConfigError, load_toml, validate_or_explain


class Serial(BaseModel):
    model_config = ConfigDict(extra="forbid")
    port: str
    baudrate: Literal[9600, 19200] = 9600


class Room(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: str
    setpoint_max: Annotated[float, Field(le=30)] = 27
    serial: Serial


def test_each_problem_names_setting_value_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "room.toml"
    path.write_text(
        'room_id = "101"\nsetpoint_max = 45\nsetpiont_min = 18\n[serial]\nbaudrate = 9601\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_toml(Room, path, fixes={"serial.baudrate": "use 9600 or 19200"})
    message = str(caught.value)
    assert str(path) in message
    assert "setpoint_max = 45 -- Input should be less than or equal to 30" in message
    assert "setpiont_min = 18" in message
    assert "remove it, or check its spelling" in message
    assert "serial.port = (missing)" in message
    assert "(fix: add this setting)" in message
    assert "serial.baudrate = 9601" in message
    assert "(fix: use 9600 or 19200)" in message
    assert len(caught.value.problems) == 4


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('room_id = "101"\n[serial\nport = "x"\n')
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 2"):
        load_toml(Room, path)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_toml(Room, tmp_path / "absent.toml")


def test_long_values_are_shortened() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_or_explain(
            Room, {"room_id": 7 * "x", "serial": {"port": 1 * ["y" * 500]}}, source="x"
        )
    assert "..." in str(caught.value)
    assert len(str(caught.value)) < 400
