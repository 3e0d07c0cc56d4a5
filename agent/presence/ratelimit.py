"""Per-client token buckets: a client may burst `burst` requests, then `rate_per_s`.

    limits = RateLimiter(rate_per_s=2, burst=10)
    if not limits.allow(client_address, clock.monotonic()): reply 429

At most `max_clients` buckets are kept (least recently used dropped first), so a flood from
many addresses cannot grow memory; a dropped client simply starts with a full bucket.
"""

from __future__ import annotations

from collections import OrderedDict


class RateLimiter:
    def __init__(self, *, rate_per_s: float, burst: int, max_clients: int = 4096) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate_per_s > 0, burst >= 1, max_clients >= 1")
        self.rate, self.burst, self.max_clients = rate_per_s, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self.refused = 0

    def allow(self, client: str, mono: float) -> bool:
        tokens, at = self._buckets.pop(client, (float(self.burst), mono))
        tokens = min(float(self.burst), tokens + max(0.0, mono - at) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        else:
            self.refused += 1
        self._buckets[client] = (tokens, mono)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return ok

    def retry_after_s(self, client: str) -> float:
        tokens, _at = self._buckets.get(client, (float(self.burst), 0.0))
        return max(0.0, (1.0 - tokens) / self.rate)
