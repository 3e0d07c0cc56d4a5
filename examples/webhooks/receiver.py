#!/usr/bin/env python3
"""A webhook receiver that verifies Smartroom's signatures: the standard library only, so
it can be copied into any integration. It prints each verified event as one JSON line and
answers 2xx; anything it cannot verify gets 400 and is not printed.

    WEBHOOK_SECRETS=whsec_new,whsec_old python3 examples/webhooks/receiver.py --port 8600

Verification (what to copy): take the raw body, the `Smartroom-Signature` header
`t=<unix seconds>,v1=<hex>[,v1=<hex>...]`; compute HMAC-SHA256(secret, "<t>.<raw body>")
for each secret you hold; accept if it equals any v1 (constant-time compare) and t is
within 5 minutes of your clock. Deduplicate on `Smartroom-Event-Id`: delivery is at least
once, so the same event may arrive again after a retry or a replay.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

TOLERANCE_S = 300
MAX_BODY = 1_048_576


def verify(header: str, body: bytes, secrets: list[str], now: float) -> str | None:
    """None if the delivery is genuine, else why not."""
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return "malformed signature header"
    if abs(now - timestamp) > TOLERANCE_S:
        return "timestamp outside the tolerance (replayed or clock skew)"
    for secret in secrets:
        expected = hmac.new(
            secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        if any(hmac.compare_digest(expected, s) for s in signatures):
            return None
    return "no signature matches our secrets"


class Handler(BaseHTTPRequestHandler):
    secrets: ClassVar[list[str]] = []
    seen: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, "body too large")
            return
        body = self.rfile.read(length)
        problem = verify(
            self.headers.get("Smartroom-Signature", ""), body, self.secrets, time.time()
        )
        if problem:
            print(json.dumps({"rejected": problem}), flush=True)
            self._answer(400, problem)
            return
        event_id = self.headers.get("Smartroom-Event-Id", "")
        duplicate = event_id in self.seen
        self.seen.add(event_id)
        event = json.loads(body)
        print(json.dumps({"event": event, "duplicate": duplicate}), flush=True)
        self._answer(200, "ok")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # stdout carries only events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    args = parser.parse_args()
    secrets = [s for s in os.environ.get("WEBHOOK_SECRETS", "").split(",") if s]
    if not secrets:
        sys.exit("set WEBHOOK_SECRETS to the endpoint's secret(s), comma-separated")
    Handler.secrets = secrets
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(json.dumps({"listening": f"http://{args.host}:{args.port}/"}), flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
