"""Independent protocol peers for the conformance suite, and where the devices under test are.

The peers are programs nobody here wrote: `mbpoll` (Modbus master, Debian `mbpoll`),
`coap-client-notls` (libcoap, Debian `libcoap3-bin`), `mosquitto_pub`/`mosquitto_sub`
(Debian `mosquitto-clients`). Where a peer cannot send what a case needs (mbpoll refuses a
quantity of 0, unit 0 and unknown function codes), the frame is built here by hand from the
Modbus spec and written to the serial port with pyserial.

The devices are the rig's simulators unless the environment names real ones (see
docs/rig.md "Conformance suite"):

    SMARTROOM_CONFORMANCE_MODBUS_PORT   serial port of a thermostat (e.g. /dev/ttyUSB0)
    SMARTROOM_CONFORMANCE_MODBUS_UNITS  its unit and a second unit (broadcast case): "1,2"
    SMARTROOM_CONFORMANCE_MODBUS_LINE   baud, parity, stop bits: "9600,E,1"
    SMARTROOM_CONFORMANCE_MODBUS_MAP    its register map (drivers/maps/<name>.toml): "smt131"
    SMARTROOM_CONFORMANCE_COAP          the lamp's object: "coap://192.168.1.40:5683/3311/0"
    SMARTROOM_CONFORMANCE_MQTT          the Zigbee2MQTT broker: "192.168.1.10:1883"
    SMARTROOM_CONFORMANCE_Z2M           base topic, light, battery sensor: "zigbee2mqtt,lamp,door"
"""

from __future__ import annotations

import os
import secrets
import shutil
import struct
import subprocess
import threading
import time
from dataclasses import dataclass

import serial

from drivers.modbus_frames import crc16
from drivers.modbus_serial import Framing, os_parity

PEERS = {
    "mbpoll": "mbpoll",
    "coap-client-notls": "libcoap3-bin",
    "mosquitto_pub": "mosquitto-clients",
    "mosquitto_sub": "mosquitto-clients",
}


def require_peers() -> None:
    missing = sorted({pkg for exe, pkg in PEERS.items() if shutil.which(exe) is None})
    if missing:
        raise RuntimeError(
            f"the conformance suite needs {' '.join(missing)}: "
            f"apt-get install {' '.join(missing)} (./dev test installs them as root)"
        )


@dataclass(frozen=True)
class ModbusTarget:
    port: str
    unit: int
    unit2: int
    framing: Framing
    register_map: str


@dataclass(frozen=True)
class CoapTarget:
    uri: str  # coap://host:port/3311/<instance>

    @property
    def base(self) -> str:
        return self.uri.rsplit("/3311/", 1)[0]


@dataclass(frozen=True)
class Z2mTarget:
    host: str
    port: int
    base_topic: str
    light: str
    sensor: str


@dataclass(frozen=True)
class Bench:
    """The devices under test, wherever they are."""

    modbus: ModbusTarget
    coap: CoapTarget
    z2m: Z2mTarget
    simulated: bool  # True: the rig's simulators (no SMARTROOM_CONFORMANCE_* set)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run(args: list[str], timeout: float = 10.0) -> Run:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr)


# --- Modbus -------------------------------------------------------------------------------


def mbpoll(
    target: ModbusTarget,
    *args: str,
    unit: int | None = None,
    timeout_s: float = 0.5,
    framing: Framing | None = None,
) -> Run:
    """mbpoll once against the target (its line settings unless `framing` is given)."""
    f = framing or target.framing
    parity = {"E": "even", "O": "odd", "N": "none"}[f.parity]
    return run(
        [
            "mbpoll",
            "-m", "rtu",
            "-b", str(f.baudrate),
            "-P", parity,
            "-s", str(f.stops),
            "-a", str(target.unit if unit is None else unit),
            "-1",
            "-o", f"{timeout_s:g}",
            *args,
        ]
    )  # fmt: skip


def mbpoll_values(result: Run) -> dict[int, int]:
    """'[9]: 	235' lines -> {9: 235}."""
    values: dict[int, int] = {}
    for line in result.out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]:" in line:
            ref, _, value = line[1:].partition("]:")
            values[int(ref)] = int(value.strip().split()[0])
    return values


def frame(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + struct.pack("<H", crc16(body))


def exchange(target: ModbusTarget, request: bytes, wait_s: float = 0.4) -> bytes:
    """Write one raw frame; return whatever comes back within `wait_s` (b"" for silence)."""
    f = target.framing
    with serial.Serial(
        target.port,
        baudrate=f.baudrate,
        parity={"E": serial.PARITY_EVEN, "O": serial.PARITY_ODD, "N": serial.PARITY_NONE}[
            os_parity(target.port, f.parity)
        ],
        stopbits=serial.STOPBITS_TWO if f.stops == 2 else serial.STOPBITS_ONE,
        timeout=0.05,
    ) as port:
        port.reset_input_buffer()
        port.write(request)
        port.flush()
        reply = b""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            chunk = port.read(256)
            reply += chunk
            if reply and not chunk:
                break  # a silence after bytes: the frame has ended
        return reply


# --- CoAP ---------------------------------------------------------------------------------


def coap(*args: str, timeout: float = 8.0) -> Run:
    """coap-client-notls; a response code other than 2.xx is printed on stderr ("4.06 ...")."""
    return run(["coap-client-notls", "-B", "3", *args], timeout=timeout)


# --- MQTT ---------------------------------------------------------------------------------


def mqtt_sub(
    target: Z2mTarget, topic: str, *, count: int = 1, wait_s: float = 3.0, fresh: bool = False
) -> Run:
    """mosquitto_sub for up to `count` messages within `wait_s` (-R: skip retained ones)."""
    args = ["mosquitto_sub", "-h", target.host, "-p", str(target.port), "-t", topic]
    args += ["-C", str(count), "-W", f"{max(1, round(wait_s))}", "-v"]
    if fresh:
        args.append("-R")
    return run(args, timeout=wait_s + 5)


def mqtt_pub(target: Z2mTarget, topic: str, payload: bytes | str) -> Run:
    data = payload.encode() if isinstance(payload, str) else payload
    args = ["mosquitto_pub", "-h", target.host, "-p", str(target.port), "-t", topic, "-s"]
    done = subprocess.run(args, input=data, capture_output=True, timeout=10, check=False)
    return Run(done.returncode, done.stdout.decode(), done.stderr.decode())


class MqttListener:
    """A mosquitto_sub running in the background: start it, act, then read what it saw.

    It is only handed back once it demonstrably receives: a ping on a private topic is
    published until it comes through (a fixed wait is not enough on a loaded machine)."""

    def __init__(self, target: Z2mTarget, topic: str, *, fresh: bool = True) -> None:
        self._ping = f"smartroom-conformance/{secrets.token_hex(4)}"
        args = ["mosquitto_sub", "-h", target.host, "-p", str(target.port), "-v"]
        args += ["-t", topic, "-t", self._ping]
        if fresh:
            args.append("-R")
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 10
        while not any(line.startswith(self._ping) for line in self._lines):
            if time.monotonic() > deadline:
                self._proc.kill()
                raise RuntimeError(f"mosquitto_sub never received on {target.host}:{target.port}")
            mqtt_pub(target, self._ping, "ping")
            time.sleep(0.1)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            self._lines.append(raw.decode(errors="replace").rstrip("\n"))

    def lines(self, wait_s: float) -> list[str]:
        time.sleep(wait_s)
        self._proc.terminate()
        self._proc.wait(timeout=5)
        self._reader.join(timeout=5)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        return [line for line in self._lines if not line.startswith(self._ping)]


# --- targets ------------------------------------------------------------------------------


def env_modbus() -> ModbusTarget | None:
    port = os.environ.get("SMARTROOM_CONFORMANCE_MODBUS_PORT")
    if not port:
        return None
    units = os.environ.get("SMARTROOM_CONFORMANCE_MODBUS_UNITS", "1,2").split(",")
    baud, parity, stops = os.environ.get("SMARTROOM_CONFORMANCE_MODBUS_LINE", "9600,E,1").split(",")
    framing = Framing(int(baud), parity.strip().upper(), int(stops))  # type: ignore[arg-type]
    register_map = os.environ.get("SMARTROOM_CONFORMANCE_MODBUS_MAP", "smt131")
    return ModbusTarget(port, int(units[0]), int(units[-1]), framing, register_map)


def env_coap() -> CoapTarget | None:
    uri = os.environ.get("SMARTROOM_CONFORMANCE_COAP")
    return CoapTarget(uri.rstrip("/")) if uri else None


def env_z2m() -> Z2mTarget | None:
    broker = os.environ.get("SMARTROOM_CONFORMANCE_MQTT")
    if not broker:
        return None
    host, _, port = broker.rpartition(":")
    spec = os.environ.get("SMARTROOM_CONFORMANCE_Z2M", "zigbee2mqtt,light,sensor")
    base, light, sensor = (part.strip() for part in spec.split(","))
    return Z2mTarget(host, int(port), base, light, sensor)
