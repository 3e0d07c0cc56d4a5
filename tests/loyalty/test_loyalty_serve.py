"""`loyalty serve` as an operator runs it: a real process, two workers, SIGTERM to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from smartroom.services import free_port


def test_serve_with_two_workers_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LOYALTY_DATABASE_URL": f"sqlite:///{tmp_path / 'loyalty.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                assert time.monotonic() < deadline, "loyalty serve did not come up in 60 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["database"] == "sqlite"
        # Both workers serve: every endpoint still insists on a key.
        for _ in range(8):
            assert httpx.get(f"http://127.0.0.1:{port}/v1/members/m_xxxxxxxxxx").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
