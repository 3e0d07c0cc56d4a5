"""structlog set-up shared by every process: JSON lines when stdout is not a terminal
(journald, files, CI), readable colour on one. Secrets never reach a log line: any key
that looks like a credential is masked by `redact_secrets`, whoever logs it.

    configure_logging("info")                  # once, at process start
    log = get_logger("agent.room")
    log.info("scene", scene="welcome")

structlog imports `structlog.dev` eagerly, and that imports `rich` whenever it is installed,
only for pretty tracebacks on a terminal: ~100 modules and several MB of resident memory in
every process, including the room agent on a Pi. Unless the process has already loaded
rich itself (a CLI printing tables), rich is hidden while structlog loads: the console
renderer then prints plain tracebacks, and rich stays importable for whoever needs it."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

_HIDE_RICH = "rich" not in sys.modules and "structlog" not in sys.modules
if _HIDE_RICH:
    sys.modules["rich"] = None  # type: ignore[assignment]  # makes `import rich` fail
try:
    import structlog
finally:
    if _HIDE_RICH and "rich" in sys.modules and sys.modules["rich"] is None:
        del sys.modules["rich"]

SECRET_MARKERS = ("secret", "password", "token", "api_key", "apikey", "authorization", "key_b64")
MASK = "***"


def redact_secrets(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        lowered = key.lower()
        if any(marker in lowered for marker in SECRET_MARKERS):
            event_dict[key] = MASK
    return event_dict


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog and the stdlib root logger once per process; logs go to
    `stream` (default stderr)."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r} is not one of debug, info, warning, error")
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (uvicorn, aiocoap, pymodbus) log through stdlib: route them through the same
    # processors so one stream has one format.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                *shared,
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric, logging.INFO) if numeric < logging.INFO else numeric)
    for noisy in ("aiocoap", "pymodbus", "asyncio", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
