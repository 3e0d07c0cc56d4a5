"""Record a benchmark's figures in docs/benchmarks.md, one section per benchmark.

Each benchmark calls `record("earn-http", markdown_body)`; the section between
`<!-- bench:earn-http -->` markers is replaced (other sections are kept), stamped with the
date, the machine and the Python version, so the file always shows the latest run of each.
"""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Measured by the scripts in `bench/` (run `./dev smartroom bench --help`). Each section is "
    "rewritten by its benchmark; figures are compared against a baseline measured in the same "
    "run, because these machines are noisy.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def record(name: str, title: str, body: str, doc: Path = DOC) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"_Run {stamp} on {machine()}._\n\n{body.strip()}\n<!-- /bench:{name} -->"
    )
    text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S
    )
    text = (
        pattern.sub(lambda _m: section, text)
        if pattern.search(text)
        else text.rstrip() + "\n\n" + section + "\n"
    )
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    return section
