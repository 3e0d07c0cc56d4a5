"""Ledger failures, each with a stable code (TigerBeetle's result names where they exist)
and the HTTP status the API maps it to."""

from __future__ import annotations


class LedgerError(Exception):
    """A transfer was refused; nothing was written. `code` is stable, `str()` is for people."""

    def __init__(self, code: str, message: str, *, status: int = 409) -> None:
        self.code = code
        self.status = status
        super().__init__(message)
