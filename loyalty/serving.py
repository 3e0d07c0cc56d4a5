"""Serving the loyalty app: `serve` runs uvicorn workers, each building its own app.

Kept apart from `loyalty.app` so that the parent process, which only migrates and watches
its workers, does not import FastAPI, the routers and the rules (~5 s of CPU on this
machine, before the workers could start importing the same).
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
import socket
import threading

import uvicorn


def serve(
    *,
    host: str,
    port: int,
    workers: int = 1,
    factory: str = "loyalty.cli:app_from_env",
    log_level: str = "warning",
) -> None:
    """Serve the app with uvicorn in `workers` processes (each builds its own app).

    Not uvicorn's own multi-worker mode, for two reasons measured on the earn benchmark:
    its shared socket is bound without IPPROTO_TCP, so asyncio never sets TCP_NODELAY and
    every keep-alive response waits ~40 ms for the client's delayed ACK (uvicorn issue
    #3149); and with one shared socket, a burst of connections is accepted by whichever
    worker wakes first, often all of them. Here each worker gets its own SO_REUSEPORT
    socket, and the kernel spreads connections evenly. If a worker dies the others are
    stopped too, so the service manager (systemd) restarts the whole service."""
    if workers <= 1:
        _run_worker(factory, host, port, log_level, _listen(host, port))
        return
    spawn = multiprocessing.get_context("spawn")
    procs = [
        spawn.Process(
            target=_run_worker,
            args=(factory, host, port, log_level, _listen(host, port)),
            name=f"loyalty-worker-{n}",
        )
        for n in range(workers)
    ]
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    for proc in procs:
        proc.start()
    while not stopping.is_set() and all(proc.is_alive() for proc in procs):
        stopping.wait(0.5)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(15)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _worker_config(factory: str, host: str, port: int, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        log_level=log_level,
    )


def _run_worker(factory: str, host: str, port: int, log_level: str, sock: socket.socket) -> None:
    config = _worker_config(factory, host, port, log_level)
    config.load()  # builds the app
    # Everything built so far lives as long as the worker: keep it out of the cyclic
    # collector's way (a full collection over it cost ~150 ms every few seconds).
    gc.collect()
    gc.freeze()
    uvicorn.Server(config).run(sockets=[sock])
