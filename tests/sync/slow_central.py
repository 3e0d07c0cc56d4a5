"""Central (`loyalty serve`) slowed the way a loaded machine slows it: every event of an
upload costs `--per-event-ms` more wall time in the accept transaction (duplicates too, as
reading and answering them costs time), so a big batch takes longer than a small one.

    python slow_central.py --per-event-ms 10 -- serve --database URL --port 8000

The cost is a sleep at the `central.accept.event` fault point (sync/faults.py), installed
before the app is built; the rest is the real server, unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time

from sync import faults


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-event-ms", type=float, required=True)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="-- then `loyalty` arguments")
    args = parser.parse_args()
    cost = args.per_event_ms / 1000

    def slow(name: str) -> None:
        if name == "central.accept.event":
            time.sleep(cost)  # in the request's worker thread, as CPU load would be

    faults.set_hook(slow)
    from loyalty.cli import main as loyalty

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    sys.argv = ["loyalty", *rest]
    loyalty()


if __name__ == "__main__":
    main()
