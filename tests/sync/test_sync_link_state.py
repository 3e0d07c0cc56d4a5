"""Online or not from requests that overlap in time (`sync.worker.LinkState`, pure): the
outage test once logged `central_unreachable` twice for one outage, because an upload
answered just before the link went down was read after the long poll's reset and flipped
the room back to "reachable" for a moment."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.worker import LinkState

# (ok, sent_at, seen_at) per outcome, and the transitions logged (True: reachable).
CASES = {
    "first answer": ([(True, 0, 1)], [True]),
    "first failure": ([(False, 0, 1)], [False]),
    "an outage is one line": ([(True, 0, 1), (False, 2, 3), (False, 4, 5)], [True, False]),
    "answered, healed": ([(False, 0, 1), (True, 2, 3)], [False, True]),
    # The outage test's case: the pull (sent at 1) fails at 5; the upload sent at 3 and
    # answered before the cut is read at 6; the upload's next try fails at 7.
    "a stale answer after a failure": (
        [(True, 0, 1), (False, 1, 5), (True, 3, 6), (False, 6, 7)],
        [True, False],
    ),
    "an answer sent as the failure was seen counts": (
        [(False, 0, 5), (True, 5, 6)],
        [False, True],
    ),
    "a stale failure still counts (seen now)": (
        [(True, 5, 6), (False, 0, 7)],
        [True, False],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_link_state(case: str) -> None:
    outcomes, want = CASES[case]
    link, logged = LinkState(), []
    for ok, sent_at, seen_at in outcomes:
        changed = link.observe(ok, sent_at, seen_at)
        if changed is not None:
            logged.append(changed)
    assert logged == want


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 100), st.floats(0, 100)), max_size=30))
def test_the_state_alternates_and_a_failure_is_never_undone_by_an_older_request(
    outcomes: list[tuple[bool, float, float]],
) -> None:
    link, logged, now = LinkState(), [], 0.0
    failure_seen: float | None = None
    for ok, sent_ago, delay in outcomes:
        now += delay  # outcomes are seen in time order, each request sent before it
        sent_at = now - sent_ago
        changed = link.observe(ok, sent_at, now)
        if changed is not None:
            logged.append(changed)
            assert changed is ok and link.online is ok
        if changed is True and failure_seen is not None:
            # Back online only through a request sent after the last failure was seen.
            assert sent_at >= failure_seen
        if not ok:
            failure_seen = now
            assert link.online is False  # a failure always counts
    assert all(a != b for a, b in itertools.pairwise(logged))  # one line per change
