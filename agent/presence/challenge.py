"""Challenges for the app's key presentation: a fresh random nonce, short-lived, single use.

    book = ChallengeBook(ttl=timedelta(seconds=30))
    nonce, expires = book.issue(now)
    book.redeem(nonce, now)      # once; raises KeyRejected("challenge_unknown"/"..._expired")

The book holds at most `max_open` nonces; under a flood the oldest are dropped (their
holders ask again), so memory stays bounded. A restart forgets every nonce, which only
makes old answers fail. Randomness is injectable for tests.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from agent.presence.room_key import KeyRejected

NONCE_BYTES = 16


class ChallengeBook:
    def __init__(
        self,
        *,
        ttl: timedelta = timedelta(seconds=30),
        max_open: int = 512,
        token: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.ttl, self.max_open, self._token = ttl, max_open, token
        self._open: OrderedDict[bytes, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._open)

    def issue(self, now: datetime) -> tuple[bytes, datetime]:
        self._prune(now)
        while len(self._open) >= self.max_open:
            self._open.popitem(last=False)
        nonce = self._token(NONCE_BYTES)
        expires = now + self.ttl
        self._open[nonce] = expires
        return nonce, expires

    def redeem(self, nonce: bytes, now: datetime) -> None:
        expires = self._open.pop(nonce, None)  # popped whatever happens next: single use
        if expires is None:
            raise KeyRejected("challenge_unknown", "unknown or already used challenge")
        if now > expires:
            raise KeyRejected("challenge_expired", "the challenge expired; ask for a new one")

    def _prune(self, now: datetime) -> None:
        while self._open:
            nonce, expires = next(iter(self._open.items()))
            if expires >= now:
                return
            del self._open[nonce]
