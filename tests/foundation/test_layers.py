"""Import layering, read from the source: a lower layer never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {
    "agent",
    "bench",
    "drivers",
    "firmware_mocks",
    "loyalty",
    "models",
    "scenes",
    "smartroom",
    "smartroom_cli",
    "sync",
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_cross_cutting_package_imports_nothing_above_it() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted((imported_roots(path) & PROJECT) - {"smartroom"})
        for path in sorted((ROOT / "smartroom").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_umbrella_cli_and_demo_live_above_it() -> None:
    # `smartroom` the console script still exists; its code moved out of the low package.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'smartroom = "smartroom_cli.cli:main"' in pyproject
    assert not (ROOT / "smartroom" / "demo.py").exists()
    assert not (ROOT / "smartroom" / "cli.py").exists()
