"""A member's phone (or a staff badge) as a BLE radio: the frames it really puts on air.

- Eddystone-EID advertising data from the stay secret and the phone's own clock (which may
  drift), a new identifier each window, a new random address each rotation;
- the advertising interval of the platform and mode (Android's AdvertiseSettings
  LOW_LATENCY ~100 ms, BALANCED ~250 ms, LOW_POWER ~1 s; plus the spec's 0-10 ms random
  advDelay), and iOS's rules: an app advertises only a name and service UUIDs, never
  service data (so no EID frame), and in the background not even those in the clear;
- RSSI from a log-distance path-loss model with the walls in between and Gaussian noise,
  and lost packets;
- a walk: along the corridor, at the door, into the room, out again.

Frames go out as HCI LE Advertising Report events, the bytes a controller hands its host,
to a sink: the agent's BLE proxy port (UDP) in the e2e tests and `smartroom phone`, or a
recogniser's `on_hci` directly in unit tests and benchmarks.

    phone = Phone(secret, profile=ANDROID_FOREGROUND, rng=random.Random(7))
    for at, packet in phone.adverts(walk, start=now, seconds=10): sink(packet)
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.presence.advert import build_advertising_data, build_hci_report
from smartroom.clock import Clock
from smartroom.credentials import EID_PERIOD_S, rotating_id, window_of


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    interval_s: float
    eid_on_air: bool = True  # False: iOS in the background (overflow area only)
    tx_power_dbm: int = -59  # measured at 1 m, as the frame claims
    loss: float = 0.1  # share of adverts the scanner misses (collisions, scan window)


ANDROID_FOREGROUND = Profile("android-low-latency", 0.1)
ANDROID_BACKGROUND = Profile("android-foreground-service-balanced", 0.25)
ANDROID_LOW_POWER = Profile("android-low-power", 1.0)
# iOS apps may advertise only a local name and service UUIDs (CBPeripheralManager), never
# service data: no Eddystone-EID frame from an iPhone, foreground or background.
IOS_FOREGROUND = Profile("ios-foreground", 0.1, eid_on_air=False)
IOS_BACKGROUND = Profile("ios-background", 1.0, eid_on_air=False)
PROFILES = {
    p.name: p
    for p in (
        ANDROID_FOREGROUND,
        ANDROID_BACKGROUND,
        ANDROID_LOW_POWER,
        IOS_FOREGROUND,
        IOS_BACKGROUND,
    )
}


@dataclass(frozen=True, slots=True)
class Leg:
    seconds: float
    from_m: float
    to_m: float
    walls_db: float = 0.0  # the room's door and wall between phone and the agent's radio


def walk_in(corridor_s: float = 4.0, door_s: float = 2.0, inside_s: float = 30.0) -> list[Leg]:
    return [
        Leg(corridor_s, 15.0, 4.0, walls_db=12.0),  # along the corridor, door closed
        Leg(door_s, 4.0, 3.0, walls_db=0.0),  # door open, stepping in
        Leg(inside_s, 3.0, 2.0),
    ]


def walk_out(inside_s: float = 2.0, corridor_s: float = 6.0) -> list[Leg]:
    return [Leg(inside_s, 2.0, 4.0), Leg(corridor_s, 4.0, 25.0, walls_db=12.0)]


def passing_by(seconds: float = 8.0) -> list[Leg]:
    """A neighbour's guest walking past the door: never closer than the corridor."""
    return [Leg(seconds / 2, 15.0, 3.5, 12.0), Leg(seconds / 2, 3.5, 15.0, 12.0)]


def _distance(walk: list[Leg], t: float) -> tuple[float, float] | None:
    for leg in walk:
        if t <= leg.seconds:
            share = t / leg.seconds if leg.seconds else 1.0
            return leg.from_m + (leg.to_m - leg.from_m) * share, leg.walls_db
        t -= leg.seconds
    return None


class Phone:
    def __init__(
        self,
        secret: bytes,
        *,
        profile: Profile = ANDROID_FOREGROUND,
        rng: random.Random | None = None,
        clock_offset_s: float = 0.0,
        noise_db: float = 4.0,
        path_loss_exponent: float = 2.2,
    ) -> None:
        self.secret, self.profile = secret, profile
        self.rng = rng or random.Random()
        self.clock_offset_s = clock_offset_s  # the phone's clock minus true time
        self.noise_db, self.n = noise_db, path_loss_exponent
        self._address_window: int | None = None
        self._address = b""

    def advertising_data(self, at: datetime) -> bytes:
        phone_time = at + timedelta(seconds=self.clock_offset_s)
        if not self.profile.eid_on_air:
            if self.profile is IOS_FOREGROUND:  # the app's service UUID, in the clear
                return bytes([2, 0x01, 0x06, 17, 0x07]) + bytes(range(16))
            # iOS background: the service UUID moves to Apple's overflow area inside
            # manufacturer data; no service data on air.
            return bytes([2, 0x01, 0x06, 14, 0xFF, 0x4C, 0x00, 0x01]) + bytes(11)
        eid = rotating_id(self.secret, window_of(phone_time, EID_PERIOD_S))
        return build_advertising_data(eid, tx_power=self.profile.tx_power_dbm)

    def address(self, at: datetime) -> bytes:
        # A new resolvable-private-style random address with each identifier, as phones do.
        window = window_of(at, EID_PERIOD_S)
        if window != self._address_window:
            self._address_window = window
            self._address = bytes(self.rng.getrandbits(8) for _ in range(5)) + bytes([0x40])
        return self._address

    def rssi(self, distance_m: float, walls_db: float) -> int:
        mean = self.profile.tx_power_dbm - 10 * self.n * math.log10(max(distance_m, 0.1))
        value = mean - walls_db + self.rng.gauss(0.0, self.noise_db)
        return max(-127, min(20, round(value)))

    def adverts(
        self, walk: list[Leg], *, start: datetime, seconds: float | None = None
    ) -> Iterator[tuple[float, bytes]]:
        """(seconds since start, HCI report) for every advert the scanner receives."""
        total = sum(leg.seconds for leg in walk) if seconds is None else seconds
        t = self.rng.uniform(0, self.profile.interval_s)
        while t <= total:
            where = _distance(walk, t)
            if where is None:
                break
            if self.rng.random() >= self.profile.loss:
                at = start + timedelta(seconds=t)
                yield (
                    t,
                    build_hci_report(
                        self.advertising_data(at),
                        rssi=self.rssi(*where),
                        address=self.address(at),
                    ),
                )
            t += self.profile.interval_s + self.rng.uniform(0, 0.01)  # + advDelay


class UdpSink:
    """Sends HCI reports to an agent's BLE proxy port."""

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def __call__(self, packet: bytes) -> None:
        self._socket.sendto(packet, self.address)

    def close(self) -> None:
        self._socket.close()


async def play(
    phone: Phone,
    walk: list[Leg],
    sink: Callable[[bytes], None],
    clock: Clock,
    *,
    seconds: float | None = None,
) -> int:
    """Send the walk's adverts in real time; returns how many were sent."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    sent = 0
    for t, packet in phone.adverts(walk, start=clock.now(), seconds=seconds):
        delay = began + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sink(packet)
        sent += 1
    return sent
