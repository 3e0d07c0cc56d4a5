"""Private instances of the real services Smartroom talks to, on free loopback ports.

Used by the test fixtures, the demo and the benchmarks: a Mosquitto broker with its own
config in a temporary directory, and a throwaway PostgreSQL database (a uniquely named
database on a local trust-auth server, else a private cluster started with initdb).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


class ServiceError(RuntimeError):
    """A service could not be started; the message says what is missing."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise ServiceError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def find_binary(
    name: str, extra_dirs: tuple[str, ...] = ("/usr/sbin", "/usr/local/sbin")
) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class PortProcess:
    """A child process that serves a TCP port: `start()` returns once the port accepts
    connections, `stop()` terminates it (killed after `grace_s`). `stop()`/`start()` keep
    the port, so a test or bench can take a service away under its clients and bring it
    back (an outage)."""

    def __init__(
        self,
        argv: list[str],
        port: int,
        host: str = "127.0.0.1",
        *,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        start_timeout_s: float = 10.0,
        grace_s: float = 5.0,
    ) -> None:
        self.argv, self.port, self.host = argv, port, host
        self.log, self.env = log, env
        self.start_timeout_s, self.grace_s = start_timeout_s, grace_s
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> PortProcess:
        if self.running:
            return self
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(self.log.open("ab")) if self.log else subprocess.DEVNULL
            self.proc = subprocess.Popen(  # noqa: S603 - the caller's own command
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env
            )
        try:
            wait_for_port(self.host, self.port, timeout=self.start_timeout_s)
        except ServiceError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class MosquittoBroker:
    """A private Mosquitto on a free port. `stop()`/`start()` keep the port, so tests can
    restart the broker under a connected client."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        binary = find_binary("mosquitto")
        if binary is None:
            raise ServiceError("the mosquitto broker is not installed: apt-get install mosquitto")
        self.binary = binary
        self.host = host
        self.port = port or free_port(host)
        self._dir = Path(tempfile.mkdtemp(prefix="smartroom-mosquitto-"))
        self.config = self._dir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} {host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            f"log_dest file {self._dir / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\n"
            "max_packet_size 1048576\n"
            # Mosquitto leaves Nagle on by default: every small command then waits ~40 ms
            # for a delayed ACK (measured: 44 ms vs 0.7 ms per command; docs/benchmarks.md).
            "set_tcp_nodelay true\n",
            encoding="utf-8",
        )
        self._process = PortProcess([self.binary, "-c", str(self.config)], self.port, host)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process.running

    def start(self) -> MosquittoBroker:
        self._process.start()
        return self

    def stop(self) -> None:
        self._process.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class TemporaryPostgres:
    """A throwaway PostgreSQL database; `url` is a SQLAlchemy URL (psycopg 3 driver).

    Prefers a uniquely named database on a server already listening on 127.0.0.1:5432 with
    trust auth (as on CI machines), dropped on close. Otherwise initdb's a private cluster on
    a free port in a temporary directory (as the `postgres` user when running as root,
    because PostgreSQL refuses to run as root)."""

    def __init__(self, prefix: str = "smartroom_test", *, durable: bool = False) -> None:
        # durable: always a private cluster with fsync on (benchmarks); tests trade
        # durability for speed (fsync off), which a kill -9 of PostgreSQL would show.
        self.durable = durable
        self.dbname = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self.host = "127.0.0.1"
        self.port = 5432
        self.user = "postgres"
        self._cluster_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname="postgres",
            autocommit=True,
            connect_timeout=3,
        ) as conn:
            conn.execute(sql.encode())

    def start(self) -> TemporaryPostgres:
        if self.durable:
            self._start_cluster()
            self._admin(f'CREATE DATABASE "{self.dbname}"')
            return self
        try:
            self._admin(f'CREATE DATABASE "{self.dbname}"')
        except Exception:  # noqa: BLE001 - no usable local server: start our own cluster
            self._start_cluster()
        else:
            return self
        self._admin(f'CREATE DATABASE "{self.dbname}"')
        return self

    @property
    def on_shared_server(self) -> bool:
        """Whether the database is on a server already running (not a private cluster)."""
        return self._proc is None

    def copy(self, prefix: str = "smartroom_test") -> TemporaryPostgres:
        """A new database on the same shared server made from this one (CREATE DATABASE ...
        TEMPLATE): a schema migrated once is copied in about half the migrations' time.
        Nothing may be connected to this database meanwhile."""
        if not self.on_shared_server:
            raise ServiceError("copy() needs a database on a shared server, not a private cluster")
        clone = TemporaryPostgres(prefix)
        clone.host, clone.port, clone.user = self.host, self.port, self.user
        clone._admin(f'CREATE DATABASE "{clone.dbname}" TEMPLATE "{self.dbname}"')
        return clone

    def _start_cluster(self) -> None:
        initdb, postgres = _postgres_bin("initdb"), _postgres_bin("postgres")
        if not initdb or not postgres:
            raise ServiceError("PostgreSQL server binaries are missing: apt-get install postgresql")
        as_root = os.geteuid() == 0
        self._cluster_dir = Path(tempfile.mkdtemp(prefix="smartroom-pg-"))
        data = self._cluster_dir / "data"
        prefix: list[str] = []
        if as_root:
            shutil.chown(self._cluster_dir, user="postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
            self.user = "postgres"
        else:
            import getpass

            self.user = getpass.getuser()
        subprocess.run(  # noqa: S603
            [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", self.user, "--no-sync"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.port = free_port()
        self._proc = subprocess.Popen(  # noqa: S603
            [
                *prefix,
                postgres,
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                str(self._cluster_dir),
                *([] if self.durable else ["-F", "-c", "fsync=off"]),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.host, self.port, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._admin("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        if self._proc is None:
            with contextlib.suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._proc = None
        if self._cluster_dir:
            shutil.rmtree(self._cluster_dir, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedBroker:
    """An in-process MQTT broker (amqtt) for the demo on machines without Mosquitto.

    It runs on its own event loop in a daemon thread so the caller's loop stays free. Tests
    and production use Mosquitto; this exists only so `./dev demo` works anywhere."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            from amqtt.broker import Broker

            config = {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {
                    "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
                },
            }
            broker = Broker(config)
            self._stop = asyncio.Event()
            await broker.start()
            ready.set()
            await self._stop.wait()
            await broker.shutdown()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(serve())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="embedded-mqtt", daemon=True)
        self._thread.start()
        ready.wait(timeout=10)
        if failure:
            raise ServiceError(f"embedded MQTT broker failed to start: {failure[0]}")
        # No TCP probe here: amqtt leaks a stream for a connection that sends no packet, and
        # `broker.start()` returning means its listeners are bound.
        return self

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop already finished
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def stop(self) -> None:
        self.close()


def start_broker(prefer_embedded: bool = False) -> MosquittoBroker | EmbeddedBroker:
    """Mosquitto when installed (the real thing), else the embedded broker."""
    if not prefer_embedded and find_binary("mosquitto") is not None:
        return MosquittoBroker().start()
    return EmbeddedBroker().start()


class AppServer:
    """An ASGI app served by uvicorn in a thread on a free loopback port: real HTTP for the
    tests, the worked example and tools that drive a service in-process.

        with AppServer(create_app(settings)) as server:
            httpx.get(server.url + "/health")
    """

    def __init__(
        self,
        app: Any,
        *,
        port: int | None = None,
        lifespan: bool = False,
        start_timeout: float = 15.0,
        name: str = "app-server",
    ) -> None:
        import uvicorn  # here, not at module level: the room agent never loads uvicorn

        # A given port lets a test stop the service and bring it back where clients expect it.
        self.port = port or free_port()
        self._start_timeout = start_timeout
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                access_log=False,
                # Off by default so one app can be served, stopped and served again (tests);
                # on, the app's shutdown hooks run when the server stops.
                lifespan="on" if lifespan else "off",
            )
        )
        # Off the main thread uvicorn installs no signal handlers: the caller keeps Ctrl-C.
        self._thread = threading.Thread(target=self.server.run, name=name, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppServer:
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise ServiceError(f"the app did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=self._start_timeout)

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
