"""The `smartroom` umbrella CLI."""

from __future__ import annotations


def test_bench_lists_only_runnable_benchmarks() -> None:
    from typer.testing import CliRunner

    from smartroom_cli.cli import app

    result = CliRunner().invoke(app, ["bench"])
    assert result.exit_code == 0
    listed = result.output.split(":", 1)[1].strip().split(", ")
    assert "loyalty_earn" in listed
    assert "record" not in listed
    assert "loyalty_load" not in listed  # a load generator, not a benchmark
    missing = CliRunner().invoke(app, ["bench", "no_such_bench"])
    assert missing.exit_code == 2
