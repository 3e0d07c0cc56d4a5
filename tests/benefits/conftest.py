"""The benefit end-to-end tests reuse the presence tests' central (two sockets: the room's
link, which a test cuts, and the front desk's) and the agent tests' helpers."""

from __future__ import annotations

import sys
from pathlib import Path

for folder in ("agent", "presence"):
    path = str(Path(__file__).resolve().parents[1] / folder)
    if path not in sys.path:
        sys.path.append(path)
