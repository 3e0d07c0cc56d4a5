"""A linked pair of pseudo-terminals: a null-modem cable for serial devices.

Bytes written to one end's device (e.g. /dev/pts/5) come out of the other's (/dev/pts/6),
like `socat pty,raw,echo=0 pty,raw,echo=0`, without needing socat. The thermostat
simulator opens one end as a Modbus RTU server; the driver opens the other as a client,
by name, exactly as it would open /dev/ttyUSB0.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import tty


class PtyPair:
    def __init__(self) -> None:
        self._m1, s1 = os.openpty()
        self._m2, s2 = os.openpty()
        for fd in (s1, s2):
            tty.setraw(fd)
        self.a = os.ttyname(s1)
        self.b = os.ttyname(s2)
        # Keep the slave ends open so the masters never see EOF between client reconnects.
        self._slaves = (s1, s2)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="ptypair", daemon=True)
        self._thread.start()
        self.paused = threading.Event()  # set() to cut the cable (bytes are dropped)

    def _pump(self) -> None:
        route = {self._m1: self._m2, self._m2: self._m1}
        while True:
            ready, _, _ = select.select([self._m1, self._m2, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                if data and not self.paused.is_set():
                    os.write(route[fd], data)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=2)
        for fd in (self._m1, self._m2, *self._slaves, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> PtyPair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
