"""Secrets at rest: AES-256-GCM under a device key kept in its own 0600 file.

The agent's SQLite file is 0600 too; sealing the secret columns as well means a copy of the
database alone (a backup, a support bundle, a stolen SD card image without the key file if
the key lives on another volume) reveals no stay secret. On a Pi without a secure element
the key is a file: whoever can read it as the agent's user can unseal (docs/presence.md).

    sealer = Sealer.from_file(Path("/var/lib/smartroom/device.key"))   # created on first use
    blob = sealer.seal(b"secret", name="stay:s_abc")   # name binds the blob to its row
    sealer.open(blob, name="stay:s_abc")
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(RuntimeError):
    pass


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SealError(f"a device key is {KEY_BYTES} bytes, not {len(key)}")
        self._key = key
        self._cipher: AESGCM | None = None

    def _aead(self) -> AESGCM:
        # cryptography (~6 MB resident) loads with the first secret sealed or opened, not
        # with the store: a room that holds no stay secret yet does not carry it.
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        """The device key at `path`, created (0600, never overwritten) if it is missing;
        refused when others may read it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(KEY_BYTES))
                out.flush()
                os.fsync(out.fileno())
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SealError(f"device key {path} is readable by others (fix: chmod 600 {path})")
        return cls(path.read_bytes())

    def seal(self, plaintext: bytes, *, name: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead().encrypt(nonce, plaintext, name.encode())

    def open(self, blob: bytes, *, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead().decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], name.encode())
        except (InvalidTag, ValueError):
            raise SealError(f"sealed value {name!r} does not open with this device key") from None
