"""A linked pair of pseudo-terminals: a null-modem cable for serial devices.

Bytes written to one end's device (e.g. /dev/pts/5) come out of the other's (/dev/pts/6),
like `socat pty,raw,echo=0 pty,raw,echo=0`, without needing socat. The thermostat
simulator opens one end as a Modbus RTU server; the driver opens the other as a client,
by name, exactly as it would open /dev/ttyUSB0.

Like a real cable between two UARTs, bytes only get through when both ends use the same
line settings: the pump compares the two ends' baud rate and stop bits (and odd parity)
and drops what one end sends while they differ, as a UART drops characters with framing
errors. A Linux pty cannot carry a parity bit, so even parity and none are not told apart
(`drivers.modbus_serial.os_parity`); 8E1 against the spec's 8N2 is (the stop bits differ).
"""

from __future__ import annotations

import contextlib
import os
import select
import termios
import threading
import tty

# The termios bits a UART's framing depends on that a pty keeps (PARENB it does not).
_FRAMING_BITS = termios.CSIZE | termios.CSTOPB | termios.PARODD


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
        self.mismatched_bytes = 0  # dropped because the two ends' settings differ

    def settings(self) -> tuple[str, str]:
        """Each end's line settings as '9600 8N1'-like text (parity not seen on a pty)."""
        return _describe(self._slaves[0]), _describe(self._slaves[1])

    def _same_settings(self) -> bool:
        try:
            a = termios.tcgetattr(self._slaves[0])
            b = termios.tcgetattr(self._slaves[1])
        except termios.error:
            return True
        return bool(a[2] & _FRAMING_BITS == b[2] & _FRAMING_BITS and a[5] == b[5])

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
                if not data or self.paused.is_set():
                    continue
                if not self._same_settings():
                    self.mismatched_bytes += len(data)
                    continue
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


_SPEEDS = {
    getattr(termios, n): int(n[1:]) for n in dir(termios) if n.startswith("B") and n[1:].isdigit()
}


def _describe(fd: int) -> str:
    try:
        attrs = termios.tcgetattr(fd)
    except termios.error:
        return "closed"
    stops = 2 if attrs[2] & termios.CSTOPB else 1
    parity = "O" if attrs[2] & termios.PARODD else "-"
    return f"{_SPEEDS.get(attrs[5], attrs[5])} 8{parity}{stops}"
