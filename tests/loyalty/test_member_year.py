"""The worked example of a member's years (loyalty/examples/member_year.py) runs against the
real service over HTTP; its key figures are checked here, and docs/loyalty-year.md must be
exactly what a fresh run renders, so the document cannot go stale."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.examples.member_year import DOC, Story, play, render_markdown
from loyalty.examples.player import ID, Labels
from sync.wire import new_id


@pytest.fixture(scope="module")
def story() -> Story:
    return play()


def test_the_tier_goes_up_and_down(story: Story) -> None:
    assert story.figures["tiers"] == {
        "li 2026-01-05": "silver",
        "li 2026-06-18": "gold",
        "li 2026-09-28": "platinum",
        "li 2028-01-01": "platinum",  # one year below: at risk, kept
        "li 2029-01-01": "gold",  # two years below: down one tier
        "chen 2026-06-11": "gold",
        "chen 2029-01-01": "gold",  # requalified after a year below
    }
    assert story.figures["job_2029"]["downgrade"] == 1
    assert story.figures["job_2029"]["retention_bonuses"] == 1


def test_the_key_figures(story: Story) -> None:
    f = story.figures
    assert (f["award_points"], f["award_cash"]) == (51_000, "450")
    assert f["miles"] == 3_000
    assert f["expired_li"] == 146_303
    assert f["expired_chen"] == 32_900
    assert f["final_li"] == {"tier": "gold", "points": 109_800}
    assert f["final_chen"] == {"tier": "gold", "points": 56_640}
    assert f["verify_ok"] is True
    assert f["cli_verify_exit"] == 0


def test_li_s_balance_is_the_sum_of_her_ledger(story: Story) -> None:
    """Posted points credits minus debits (holds count once, via their post) equal the
    balance the service reports; expiry removed exactly the 2026 points still unspent."""
    points = [e for e in story.ledger if e["ledger"] == "points"]
    settled = [e for e in points if e["code"] not in ("stay_pending", "redeem_hold", "stay_void")]
    signed = [e["amount"] if e["direction"] == "credit" else -e["amount"] for e in settled]
    assert sum(signed) == story.figures["final_li"]["points"]
    earned_2026 = sum(
        e["amount"] for e in settled if e["direction"] == "credit" and e["date"] < "2027"
    )
    spent_before_expiry = sum(
        e["amount"] for e in settled if e["direction"] == "debit" and e["code"] != "expiry"
    )
    assert story.figures["expired_li"] == earned_2026 - spent_before_expiry


def test_the_committed_document_is_a_fresh_run(story: Story) -> None:
    fresh = render_markdown(story)
    assert DOC.read_text(encoding="utf-8") == fresh, (
        "docs/loyalty-year.md is stale: run "
        "`./dev python -m loyalty.examples.member_year --markdown` and commit it"
    )
    assert not ID.search(fresh), "a random id leaked into the document"


@settings(max_examples=60, deadline=None)
@given(
    prefixes=st.lists(st.sampled_from(["m_", "s_", "t_", "r_", "f_", "p_"]), max_size=6),
    words=st.lists(
        st.sampled_from(["stay_nights", "earn_profile_completion", "member_transfer", "«li»"]),
        max_size=4,
    ),
)
def test_labels_replace_every_id_and_nothing_else(prefixes: list[str], words: list[str]) -> None:
    ids = [new_id(p) for p in prefixes]
    text = " ".join(ids + words + ids)
    labels = Labels()
    out = labels.scrub(text)
    for ident in ids:
        assert ident not in out
    for word in words:
        assert word in out
    tokens = out.split()
    first, second = tokens[: len(ids)], tokens[len(ids) + len(words) :]
    assert first == second  # the same id always gets the same label
    assert labels.scrub(text) == out
