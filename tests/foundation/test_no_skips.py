"""A skip anywhere in the suite fails the run (see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def test_a_skipped_test_fails_the_run(pytester: pytest.Pytester) -> None:
    conftest = (Path(__file__).parent.parent / "conftest.py").read_text()
    pytester.makeconftest(conftest)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        def test_needs_a_service():
            pytest.skip("mosquitto missing")

        def test_fine():
            assert True
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*skipped tests count as failures here*mosquitto missing*"])
