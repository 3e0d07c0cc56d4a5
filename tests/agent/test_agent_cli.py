"""`smartroom-agent run` refuses a bad credential file with one line and exit code 2,
like `check-config` does for a bad room file (no traceback in the journal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "smartroom-agent"


def _room_file(tmp_path: Path, key: Path) -> Path:
    room = tmp_path / "room.toml"
    room.write_text(
        f"""
[room]
property_id = "SHA-01"
room_id = "1201"

[central]
url = "http://127.0.0.1:9"
credential_file = "{key}"

[store]
path = "{tmp_path / "agent.db"}"
""",
        encoding="utf-8",
    )
    return room


@pytest.mark.parametrize(
    ("mode", "content", "message"),
    [
        (0o644, "agent-key-abc", "is readable by everyone (fix: chmod 600"),
        (0o600, "two words", "does not hold one key"),
        (None, "", "cannot read central.credential_file"),
    ],
)
def test_run_with_a_bad_credential_file_says_why_and_exits_2(
    tmp_path: Path, mode: int | None, content: str, message: str
) -> None:
    key = tmp_path / "agent.key"
    if mode is not None:
        key.write_text(content, encoding="utf-8")
        key.chmod(mode)
    result = subprocess.run(
        [str(BIN), "run", "--config", str(_room_file(tmp_path, key))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "agent-key-abc" not in result.stderr  # the secret itself is never printed
    assert not (tmp_path / "agent.db").exists()  # nothing was started
