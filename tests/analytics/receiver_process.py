"""The example webhook receiver (examples/webhooks/receiver.py) as a real process on a
free port, with the lines it prints collected as they arrive."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from smartroom.services import free_port

RECEIVER = Path(__file__).resolve().parents[2] / "examples" / "webhooks" / "receiver.py"


class Receiver:
    def __init__(self, secrets: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        env = {**os.environ, "WEBHOOK_SECRETS": ",".join(secrets)}
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.next(timeout=20)
        assert first == {"listening": f"http://127.0.0.1:{self.port}/"}, first

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout: float = 10) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the receiver printed nothing within {timeout} s") from None

    def drain(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [self.next(max(0.1, deadline - time.monotonic())) for _ in range(count)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
