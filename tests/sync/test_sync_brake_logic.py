"""The upload brake's controller (sync/brake.py, pure logic) and its `[central]` keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.config_sections import CentralSection
from sync.brake import UploadBrake

BRAKES = st.builds(
    lambda hi, lo, t, extra: UploadBrake(
        max_batch=hi, min_batch=min(lo, hi), timeout_s=t, max_timeout_s=t + extra
    ),
    st.integers(1, 1000),
    st.integers(1, 1000),
    st.floats(0.1, 60),
    st.floats(0, 240),
)


@given(BRAKES, st.lists(st.booleans(), max_size=200))
def test_batch_and_timeout_stay_within_their_bounds(
    brake: UploadBrake, answers: list[bool]
) -> None:
    for answered in answers:
        before = (brake.batch, brake.wait_s)
        if answered:
            brake.succeeded()
            assert brake.batch >= before[0] and brake.wait_s <= before[1]
        else:
            brake.timed_out()
            assert brake.batch <= before[0] and brake.wait_s >= before[1]
        assert brake.min_batch <= brake.batch <= brake.max_batch
        assert brake.timeout_s <= brake.wait_s <= brake.max_timeout_s


@given(BRAKES, st.integers(0, 30))
def test_timeouts_halve_then_answers_bring_it_back(brake: UploadBrake, timeouts: int) -> None:
    for _ in range(timeouts):
        brake.timed_out()
    expected = brake.max_batch
    for _ in range(timeouts):
        expected = max(brake.min_batch, expected // 2)
    assert brake.batch == expected
    assert brake.wait_s == pytest.approx(min(brake.max_timeout_s, brake.timeout_s * 2**timeouts))
    # Additive increase: back at full batches and the configured timeout within 8 answers.
    for _ in range(8):
        brake.succeeded()
    assert (brake.batch, brake.wait_s) == (brake.max_batch, pytest.approx(brake.timeout_s))
    assert not brake.braking


def test_examples() -> None:
    brake = UploadBrake(max_batch=500, min_batch=25, timeout_s=2, max_timeout_s=30)
    seen = []
    for _ in range(6):
        brake.timed_out()
        seen.append((brake.batch, brake.wait_s))
    assert seen == [(250, 4), (125, 8), (62, 16), (31, 30), (25, 30), (25, 30)]
    brake.succeeded()
    assert (brake.batch, brake.wait_s) == (88, 26.5)


def test_off_when_the_floor_is_the_batch_and_the_cap_the_timeout() -> None:
    brake = UploadBrake(max_batch=500, min_batch=500, timeout_s=2, max_timeout_s=2)
    for _ in range(5):
        brake.timed_out()
        assert (brake.batch, brake.wait_s, brake.braking) == (500, 2, False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch": 10, "min_batch": 11}, "min_batch"),
        ({"min_batch": 0}, "min_batch"),
        ({"timeout_s": 10, "max_timeout_s": 5}, "max_timeout_s"),
        ({"timeout_s": 0}, "timeout_s"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UploadBrake(**kwargs)  # type: ignore[arg-type]


def test_central_keys_are_validated() -> None:
    section = CentralSection()
    assert (section.upload_batch_min, section.timeout_max_s) == (25, 30.0)
    with pytest.raises(ValidationError, match=r"timeout_s <= central\.timeout_max_s"):
        CentralSection(timeout_s=10, timeout_max_s=5)
    with pytest.raises(ValidationError, match="upload_batch_min"):
        CentralSection(upload_batch_min=0)
    with pytest.raises(ValidationError, match="upload_batch_min"):
        CentralSection(upload_batch_min=501)
