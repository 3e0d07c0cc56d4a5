"""The upload brake's controller (sync/brake.py, pure logic) and its `[central]` keys."""

from __future__ import annotations

import pytest
from hypothesis import example, given
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
# Found by Hypothesis: a max timeout a few ULPs above the timeout left the wait 1 ULP
# above it after eight answers, so the brake never released.
@example(UploadBrake(max_batch=1, min_batch=1, timeout_s=1.0, max_timeout_s=1.0000000000001572), 1)
@example(
    UploadBrake(
        max_batch=800, min_batch=707, timeout_s=38.178192430691794, max_timeout_s=38.17819243069193
    ),
    30,
)
def test_timeouts_shrink_the_batch_then_lengthen_the_wait(brake: UploadBrake, n: int) -> None:
    batch, wait = brake.max_batch, brake.timeout_s
    for _ in range(n):
        brake.timed_out()
        if batch > brake.min_batch:  # the batch first, down to its floor
            batch = max(brake.min_batch, batch // 2)
        else:  # then the wait
            wait = min(brake.max_timeout_s, wait * 2)
        assert (brake.batch, brake.wait_s) == (batch, pytest.approx(wait))
    # Additive increase: back at full batches and the configured timeout within 8 answers.
    for _ in range(8):
        brake.succeeded()
    assert (brake.batch, brake.wait_s) == (brake.max_batch, pytest.approx(brake.timeout_s))
    assert not brake.braking


def test_examples() -> None:
    brake = UploadBrake(max_batch=500, min_batch=25, timeout_s=2, max_timeout_s=30)
    seen = []
    for _ in range(10):
        brake.timed_out()
        seen.append((brake.batch, brake.wait_s))
    assert seen == [
        *((250, 2), (125, 2), (62, 2), (31, 2), (25, 2)),
        *((25, 4), (25, 8), (25, 16), (25, 30), (25, 30)),
    ]
    brake.succeeded()
    assert (brake.batch, brake.wait_s) == (88, 26.5)
    for _ in range(7):
        brake.succeeded()
    assert (brake.batch, brake.wait_s, brake.braking) == (500, 2, False)


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
    assert (section.upload_batch_min, section.upload_timeout_max_s) == (25, 30.0)
    # A long configured timeout stays valid: the default cap is never below it.
    assert CentralSection(timeout_s=45).upload_timeout_max_s == 45
    assert CentralSection(timeout_s=2, timeout_max_s=8).upload_timeout_max_s == 8
    with pytest.raises(ValidationError, match=r"timeout_s <= central\.timeout_max_s"):
        CentralSection(timeout_s=10, timeout_max_s=5)
    with pytest.raises(ValidationError, match="upload_batch_min"):
        CentralSection(upload_batch_min=0)
    with pytest.raises(ValidationError, match="upload_batch_min"):
        CentralSection(upload_batch_min=501)
