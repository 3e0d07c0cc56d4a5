"""How characters travel on one Modbus RTU serial line: baud rate, parity, stop bits.

The Modbus serial line spec (V1.02, 2.5.1) makes even parity the default and asks for two
stop bits when there is no parity, so every character is 11 bits: start + 8 data + parity
+ stop, or start + 8 data + 2 stops. Many hotel thermostats ship at 8N1 (10 bits) instead;
a map file or the room file says which (docs/devices/modbus.md). The driver (its
inter-frame silence) and the simulator (its line-timing emulation) both take their timing
from `Framing`, so they agree on what a character costs.

    line = Framing(9600)                 # 8E1, the spec's default
    line.bits_per_char                   # 11
    line.gap_s                           # t3.5 = 3.5 × 11 / 9600 s ≈ 4.0 ms
    Framing(9600, parity="N").stopbits   # 2, as the spec asks without parity
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

Parity = Literal["E", "O", "N"]
PARITY_NAMES = {"E": "even", "O": "odd", "N": "none"}
FIXED_GAP_ABOVE_BAUD = 19200
FIXED_GAP_S = 0.00175  # t3.5 above 19,200 baud (serial line spec 2.5.1.1)


@dataclass(frozen=True, slots=True)
class Framing:
    baudrate: int = 9600
    parity: Parity = "E"
    # None: what the spec asks for with this parity (1 with parity, 2 without).
    stopbits: Literal[1, 2] | None = None

    def __post_init__(self) -> None:
        if self.parity not in PARITY_NAMES:
            raise ValueError(f"parity must be E, O or N, not {self.parity!r}")
        if self.stopbits is None:
            object.__setattr__(self, "stopbits", 2 if self.parity == "N" else 1)
        if self.stopbits not in (1, 2):
            raise ValueError(f"stop bits must be 1 or 2, not {self.stopbits!r}")
        if self.baudrate <= 0:
            raise ValueError(f"baud rate must be positive, not {self.baudrate}")

    @property
    def stops(self) -> int:
        return 2 if self.stopbits == 2 else 1

    @property
    def bits_per_char(self) -> int:
        """Start bit + 8 data bits + the parity bit (if any) + the stop bit(s)."""
        return 1 + 8 + (0 if self.parity == "N" else 1) + self.stops

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baudrate

    @property
    def gap_s(self) -> float:
        """t3.5: the silence that ends a frame (fixed 1.75 ms above 19,200 baud)."""
        if self.baudrate > FIXED_GAP_ABOVE_BAUD:
            return FIXED_GAP_S
        return 3.5 * self.char_s

    def wire_s(self, octets: int) -> float:
        """Time `octets` characters take on the wire."""
        return octets * self.char_s

    def describe(self) -> str:
        """'9600 8E1', as serial settings are written on a device's label."""
        return f"{self.baudrate} 8{self.parity}{self.stops}"


def inter_frame_gap_s(baudrate: int, bits_per_char: int = 11) -> float:
    """t3.5 at `baudrate` for `bits_per_char` (11: the spec's 8E1 / 8N2 character)."""
    if baudrate > FIXED_GAP_ABOVE_BAUD:
        return FIXED_GAP_S
    return 3.5 * bits_per_char / baudrate


def is_pty(port: str) -> bool:
    return os.path.realpath(port).startswith(("/dev/pts/", "/dev/ptmx"))


def os_parity(port: str, parity: Parity) -> Parity:
    """The parity to ask the OS for on `port`. A Linux pseudo-terminal has no parity bit
    (the kernel clears PARENB, and some refuse it with EINVAL), so on a pty - the rig's
    cable - the parity only shapes timing; stop bits and baud rate are still applied, and
    `firmware_mocks.ptypair` refuses to pass bytes between ends set differently."""
    return "N" if is_pty(port) else parity
