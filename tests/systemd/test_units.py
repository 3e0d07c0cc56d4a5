"""The unit files pass `systemd-analyze verify` and keep a low exposure score.

`verify` insists that ExecStart's binary exists, and the units name the production path
(/opt/smartroom/.venv/bin/...). We verify a copy whose /opt/smartroom prefix is rewritten
to this checkout (where ./dev created .venv), so every other line is checked as shipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = ("smartroom-agent.service", "loyalty.service")
PROD_PREFIX = "/opt/smartroom/"


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    assert found, "systemd-analyze is missing: apt-get install systemd"
    return found


@pytest.fixture
def units(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in UNITS:
        text = (ROOT / "systemd" / name).read_text(encoding="utf-8")
        assert PROD_PREFIX + ".venv/bin/" in text
        copy = tmp_path / name
        copy.write_text(text.replace(PROD_PREFIX, f"{ROOT}/"), encoding="utf-8")
        out[name] = copy
    return out


def test_binaries_named_by_the_units_exist_in_the_venv() -> None:
    for name in UNITS:
        text = (ROOT / "systemd" / name).read_text(encoding="utf-8")
        for binary in re.findall(r"^Exec\w*=(\S+)", text, re.M):
            local = Path(binary.replace(PROD_PREFIX, f"{ROOT}/"))
            assert local.is_file(), f"{name}: {binary} has no counterpart {local}"


@pytest.mark.parametrize("name", UNITS)
def test_verify_is_clean(units: dict[str, Path], name: str) -> None:
    result = subprocess.run(
        [_analyze(), "verify", str(units[name])], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if name in line or "Unknown" in line or "error" in line.lower()
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.parametrize("name", UNITS)
def test_security_exposure_is_low(units: dict[str, Path], name: str) -> None:
    result = subprocess.run(
        [_analyze(), "security", "--offline=true", str(units[name])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5, result.stdout


def test_agent_unit_has_the_required_settings() -> None:
    text = (ROOT / "systemd" / "smartroom-agent.service").read_text(encoding="utf-8")
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0].isupper()
    )
    assert settings["Type"] == "notify"
    assert settings["Restart"] == "on-failure"
    # A configuration error exits 2 (agent/cli.py, agent/commands.py): never retried.
    assert settings["RestartPreventExitStatus"] == "2"
    # The ordered stop (agent/app.py: 1.5 s per step, ~12 s worst case) fits with room.
    assert int(settings["TimeoutStopSec"]) >= 15
    assert int(settings["WatchdogSec"]) > 0
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["PrivateTmp"] == "yes"
    assert settings["DevicePolicy"] == "closed"
    assert re.findall(r"^DeviceAllow=(.*)$", text, re.M) == ["/dev/ttyUSB0 rw"]
    assert "AF_BLUETOOTH" in settings["RestrictAddressFamilies"]
    assert settings["StateDirectory"] == "smartroom-agent"
