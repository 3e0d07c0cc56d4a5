"""The one error type services raise; the app turns it into a 4xx JSON body:

{"error": {"code": "exceeds_credits", "message": "...", "field": "points"}}
"""

from __future__ import annotations

from typing import Any

from loyalty.ledger.errors import LedgerError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after  # seconds, sent as Retry-After (a retryable 503)
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return {"error": error}

    @classmethod
    def from_ledger(cls, exc: LedgerError, *, field: str | None = None) -> ApiError:
        return cls(exc.status, exc.code, str(exc), field=field)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"no {what} {ident!r}")
