"""Errors raised by the rules. Each carries a stable `code` (the API maps it to a 4xx and
clients branch on it) and a message that says what was wrong and how to fix it."""

from __future__ import annotations


class RulesError(ValueError):
    """A request the programme's rules refuse. `code` is machine-readable, str() is human.

    >>> RulesError("below_minimum", "3,000 points is below the 5,000-point minimum").code
    'below_minimum'
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class EarnError(RulesError):
    """An earn request the programme cannot price (unknown kind or tier, absurd amount)."""


class RedemptionError(RulesError):
    """A redemption the programme refuses (below the minimum, too many nights, ...)."""


class TierError(RulesError):
    """Qualification history that does not make sense (future years, duplicates)."""


class ExpiryError(RulesError):
    """Lots or dates that do not make sense (duplicate lot ids, lots from the future)."""


class TransferError(RulesError):
    """A member-to-member transfer the programme refuses (cap, minimum, steps)."""


class ConversionError(RulesError):
    """A partner conversion the programme refuses (unknown partner, ratio, minimum)."""


class InsufficientPoints(RulesError):
    """Fewer points are available than the operation needs."""
