"""The systemd notify protocol, written out: one datagram per message to $NOTIFY_SOCKET.

    notifier = Notifier.from_environment()      # no-op when not started by systemd
    notifier.notify("READY=1")
    notifier.watchdog_interval_s                # half of WatchdogSec, or None
    notifier.notify("WATCHDOG=1")

No dependency on libsystemd: the protocol is a unix datagram of newline-separated
`KEY=VALUE` lines; an abstract socket name starts with "@" (sent as a leading NUL).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


class Notifier:
    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self.address = address
        self.watchdog_interval_s = watchdog_usec / 2 / 1_000_000 if watchdog_usec else None

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        usec: int | None = None
        raw = env.get("WATCHDOG_USEC")
        # WATCHDOG_PID, when set, says whose watchdog this is (not a forked child's).
        pid = env.get("WATCHDOG_PID")
        if raw and raw.isdigit() and (pid is None or pid == str(os.getpid())):
            usec = int(raw)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one message; False (never raises) when there is no systemd or it failed."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the event loop: if the manager is not draining its socket (a
                # full datagram queue), this message is dropped, not waited for.
                sock.setblocking(False)
                sock.connect(target)
                sock.send(message.encode())
        except OSError:  # includes BlockingIOError (queue full)
            return False
        return True
