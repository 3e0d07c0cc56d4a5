"""A member's years, played through the real loyalty service over HTTP.

The service is the one `loyalty serve` runs (`create_app`, uvicorn on a free loopback port,
SQLite in a temporary directory); only its clock is a `FakeClock`, set to each step's date,
so four years play in seconds and every rule (seasons, tier years, expiry) sees the date
it would in production. Li Wei joins in January 2026, stays, dines, climbs from silver to
gold to platinum, books an award night, gives points to her partner Chen Jie and converts
some to airline miles; 2027 falls below platinum, 2028 is quiet, and the tier job of
2029-01-01 moves her down to gold. Chen's gold lapses for a year and is requalified, which
earns the retention bonus. Points from 2026 expire at the end of 2029. The ledger is
verified over HTTP and with `loyalty ledger verify`.

    ./dev python -m loyalty.examples.member_year              # print the story (markdown)
    ./dev python -m loyalty.examples.member_year --markdown   # rewrite docs/loyalty-year.md

    story = play()                     # -> Story (steps and the key figures)
    text = render_markdown(story)      # deterministic: ids become labels such as «li»
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from loyalty.app import create_app
from loyalty.examples.player import (
    PROPERTY,
    Labels,
    Player,
    Section,
    at,
    render_sections,
    served,
)
from loyalty.rules.numbers import int_text
from loyalty.settings import LoyaltySettings
from smartroom.clock import FakeClock

DOC = Path(__file__).resolve().parents[2] / "docs" / "loyalty-year.md"


@dataclass
class Story:
    sections: list[Section]
    figures: dict[str, Any]
    ledger: list[dict[str, Any]]
    labels: Labels


# --- the story ---------------------------------------------------------------------------


def _story(p: Player) -> dict[str, Any]:
    figures: dict[str, Any] = {"tiers": {}}

    def tier_of(label: str, when: str) -> None:
        figures["tiers"][f"{label} {when}"] = p.state(label).tier

    p.section("2026: silver to gold to platinum")
    with p.step("Li Wei joins", "Enrolment at the front desk; every member starts silver.", "li"):
        li = p.join("li", "Li Wei", at("2026-01-05", 9))
        p.say("member created; the hotel app gets a member-scoped API key")
    tier_of("li", "2026-01-05")

    with p.step(
        "Profile completed in the app",
        "A fixed award, limited to once per lifetime by the programme.",
        "li",
    ):
        p.earn("li", "profile_completion", "0", at("2026-01-06"))

    with p.step(
        "Stay A: 3 nights, premium room, booked direct, off-peak March",
        "Booked on the website; checked in and out at the desk. Tax and service charge "
        "earn nothing; room and F&B earn with every multiplier that applies.",
        "li",
    ):
        p.stay(
            "stay A",
            "li",
            booked="2026-02-20",
            arrival="2026-03-09",
            nights=3,
            rate="1200.00",
            room_type="premium",
            channel="direct",
            folio=[("room", "3600.00"), ("fnb", "420.00"), ("service_charge", "360.00")],
        )

    with p.step(
        "Dinner at the hotel restaurant, not staying",
        "F&B outside a stay earns (per-year limit) and counts towards tier spend. A staff "
        "dry run first shows the rules without writing anything.",
        "li",
    ):
        p.clock.set(at("2026-04-18", 21))
        dry = p.call(
            "POST",
            "/v1/earn",
            {"member_id": li, "activity": "fnb", "amount": "680.00", "dry_run": True},
            idempotent=False,
        )
        p.say(f"dry run: {int_text(dry['points'])} points, nothing written")
        p.earn("li", "fnb", "680.00", at("2026-04-18", 21, 5))

    with p.step("Survey answered", "Fixed points per survey, capped per year.", "li"):
        p.earn("li", "survey", "0", at("2026-05-02"))

    with p.step(
        "Chen Jie, Li's partner, joins and stays",
        "A long business stay booked through an online travel agency (no direct-booking "
        "bonus) puts Chen over the gold threshold at check-out.",
        "chen",
    ):
        p.join("chen", "Chen Jie", at("2026-05-20"))
        p.stay(
            "stay C1",
            "chen",
            booked="2026-05-21",
            arrival="2026-06-01",
            nights=10,
            rate="3200.00",
            room_type="deluxe",
            channel="ota",
            folio=[("room", "32000.00"), ("fnb", "900.00")],
        )
    tier_of("chen", "2026-06-11")

    with p.step(
        "Stay B: 10 nights in a suite through a travel agency",
        "Qualifying spend passes 30,000 CNY: Li is upgraded to gold at check-out (upgrades "
        "are immediate; downgrades wait for the year-end job). The stay itself still earns "
        "at the tier she held when it was priced.",
        "li",
    ):
        p.stay(
            "stay B",
            "li",
            booked="2026-06-01",
            arrival="2026-06-08",
            nights=10,
            rate="2800.00",
            room_type="suite",
            channel="ota",
            folio=[("room", "28000.00"), ("fnb", "3000.00")],
        )
    tier_of("li", "2026-06-18")

    with p.step(
        "Stay D: checked in, then cancelled",
        "A burst pipe: the stay is cancelled the evening of arrival. The pending points "
        "are voided by a new transfer; the hold never touched the spendable balance.",
        "li",
    ):
        stay_d = p.stay(
            "stay D",
            "li",
            booked="2026-07-10",
            arrival="2026-07-24",
            nights=2,
            rate="1500.00",
            room_type="deluxe",
            channel="app",
            folio=None,
        )
        pending = p.state("li").incoming
        p.say(f"incoming before the cancellation: {int_text(pending)}")
        p.clock.set(at("2026-07-24", 20))
        cancelled = p.call("POST", f"/v1/stays/{stay_d['id']}/cancel")
        p.say(f"stay {cancelled['status']}; the pending points are void")

    with p.step(
        "Stay E: two weeks in a suite, direct, as gold",
        "Now gold (1.2×), booked direct (1.2×) in a suite (1.5×): the multipliers stack "
        "in the programme's declared order. Spend passes 100,000 CNY: platinum.",
        "li",
    ):
        p.stay(
            "stay E",
            "li",
            booked="2026-08-20",
            arrival="2026-09-14",
            nights=14,
            rate="4800.00",
            room_type="suite",
            channel="direct",
            folio=[("room", "67200.00"), ("fnb", "5000.00"), ("spa", "1800.00")],
        )
    tier_of("li", "2026-09-28")

    quote_peak = {
        "member_id": li,
        "property_id": PROPERTY,
        "check_in": "2026-10-03",
        "nights": 1,
        "cash_rate": "1200.00",
        "occupancy_forecast": "0.92",
    }
    quote_quiet = {**quote_peak, "check_in": "2026-11-20", "occupancy_forecast": "0.35"}
    with p.step(
        "Award night: quotes, hold, confirm",
        "Through the app (member key). The same room costs more in Golden Week with the "
        "hotel nearly full than on a quiet November night; Li takes the November night "
        "with a points + cash option. The hold reserves the points (available drops, "
        "the balance does not) until confirmed or until the hold times out.",
        "li",
    ):
        p.clock.set(at("2026-10-02", 20))
        peak = p.call("POST", "/v1/redemptions/quote", quote_peak, role="li", idempotent=False)
        quiet = p.call("POST", "/v1/redemptions/quote", quote_quiet, role="li", idempotent=False)
        p.say(f"2026-10-03 (Golden Week, 92% forecast): {int_text(peak['points'])} points")
        p.say(f"2026-11-20 (35% forecast): {int_text(quiet['points'])} points")
        p.explain(peak["breakdown"] + quiet["breakdown"])
        options = quiet["options"]
        option = options[len(options) // 2]
        p.say(
            f"{len(options)} points + cash options from {int_text(options[0]['points'])} "
            f"points + {options[0]['cash']} CNY to {int_text(options[-1]['points'])} points "
            f"+ {options[-1]['cash']} CNY; Li picks {int_text(option['points'])} points + "
            f"{option['cash']} CNY"
        )
        held = p.call(
            "POST",
            "/v1/redemptions",
            {**quote_quiet, "option_points": option["points"]},
            role="li",
            expect=201,
        )
        p.labels.name(held["id"], "award")
        mid = p.state("li")
        p.say(
            f"held: balance {int_text(mid.points)}, available {int_text(mid.available)}, "
            f"held {int_text(mid.held)}, hold until {held['hold_until'][11:16]} UTC"
        )
        p.clock.advance(minutes=3)
        confirmed = p.call("POST", f"/v1/redemptions/{held['id']}/confirm", role="li")
        p.say(f"award {confirmed['status']}: {int_text(confirmed['points'])} points posted")
        figures["award_points"] = confirmed["points"]
        figures["award_cash"] = confirmed["cash"]

    with p.step(
        "Tier evaluation for 2026",
        "The admin runs the idempotent tier job on the first day of the new year, so "
        "2026 counts as a completed qualification year (see the limits below).",
        "li",
        "chen",
    ):
        figures["job_2027"] = p.tier_job("2026-12-31")

    p.section("2027: below platinum")
    with p.step(
        "Li gives Chen points",
        "Member-to-member transfer, sent from the app; capped per sender per calendar year.",
        "li",
        "chen",
    ):
        p.clock.set(at("2027-02-14", 12))
        sent = p.call(
            "POST",
            "/v1/transfers",
            {"from_member_id": li, "to_member_id": p.members["chen"], "points": 10000},
            role="li",
        )
        p.say(
            f"sent {int_text(sent['points'])}; {int_text(sent['sent_this_year'])} of the "
            f"{int_text(sent['annual_cap'])} annual cap used"
        )
        over = p.call(
            "POST",
            "/v1/transfers",
            {"from_member_id": li, "to_member_id": p.members["chen"], "points": 45000},
            role="li",
            expect=409,
        )
        p.say(f"a second transfer of 45,000 is refused: {over['error']['message']}")

    with p.step(
        "Li converts points to airline miles",
        "Partner conversion at the programme's configured ratio; points must be a whole "
        "multiple of it (nothing is silently kept).",
        "li",
    ):
        p.clock.set(at("2027-03-01", 12))
        odd = p.call(
            "POST",
            "/v1/partners/conversions",
            {"member_id": li, "partner": "airline_miles", "points": 9001},
            role="li",
            expect=422,
        )
        p.say(f"9,001 points is refused: {odd['error']['message']}")
        miles = p.call(
            "POST",
            "/v1/partners/conversions",
            {"member_id": li, "partner": "airline_miles", "points": 9000},
            role="li",
        )
        p.say(
            f"{int_text(miles['points'])} points → {int_text(miles['units'])} {miles['unit_name']}"
        )
        figures["miles"] = miles["units"]

    with p.step(
        "Stay F: 10 nights in a premium room, as platinum",
        "Platinum earns 1.5×; the year's spend stays well below the 100,000 CNY platinum "
        "threshold.",
        "li",
    ):
        p.stay(
            "stay F",
            "li",
            booked="2027-04-01",
            arrival="2027-04-12",
            nights=10,
            rate="3600.00",
            room_type="premium",
            channel="web",
            folio=[("room", "36000.00"), ("fnb", "4000.00")],
        )

    with p.step(
        "A no-show",
        "Booked but never arrived: marked no-show the next morning. Nothing was pending, "
        "nothing is earned.",
        "li",
    ):
        p.clock.set(at("2027-08-01"))
        booked = p.call(
            "POST",
            "/v1/stays",
            {
                "member_id": li,
                "property_id": PROPERTY,
                "arrival": at("2027-08-20", 14).isoformat(),
                "departure": at("2027-08-22", 12).isoformat(),
                "nightly_rate": "1100.00",
            },
            expect=201,
        )
        p.labels.name(booked["id"], "stay G")
        p.clock.set(at("2027-08-21", 8))
        shown = p.call("POST", f"/v1/stays/{booked['id']}/no-show")
        p.say(f"stay G: {shown['status']}, {shown['points_posted']} points")

    with p.step(
        "Tier evaluation for 2027",
        "One year below platinum: Li keeps platinum but is at risk; Chen (no 2027 stays) "
        "is at risk of losing gold.",
        "li",
        "chen",
    ):
        figures["job_2028"] = p.tier_job("2027-12-31")
    tier_of("li", "2028-01-01")

    p.section("2028: a quiet year for Li; Chen requalifies")
    with p.step("Li dines once", "Below every threshold but silver's.", "li"):
        p.earn("li", "fnb", "1200.00", at("2028-05-20", 20))

    with p.step(
        "Chen requalifies for gold",
        "A year after falling below gold, Chen's spend passes the gold threshold again.",
        "chen",
    ):
        p.stay(
            "stay C2",
            "chen",
            booked="2028-06-01",
            arrival="2028-06-10",
            nights=10,
            rate="3100.00",
            room_type="deluxe",
            channel="direct",
            folio=[("room", "31000.00")],
        )

    with p.step(
        "Tier evaluation for 2028",
        "Two consecutive completed years below platinum (2027, 2028): Li goes down one "
        "tier, to gold, from the start of 2029. Chen requalified after a year below "
        "gold: the retention bonus is posted once (its transfer id derives from the tier "
        "and year, so a re-run cannot post it twice).",
        "li",
        "chen",
    ):
        figures["job_2029"] = p.tier_job("2028-12-31")
        again = p.call(
            "POST",
            "/v1/jobs/tier-evaluation",
            {"year_ending": "2028-12-31"},
            role="admin",
        )
        p.say(f"running the job again for the same date: already_ran={again['already_ran']}")
    tier_of("li", "2029-01-01")
    tier_of("chen", "2029-01-01")

    p.section("2029: expiry")
    with p.step(
        "Points expire 36 months after they were earned",
        "The expiry job runs as of 2029-12-31: every 2026 lot still unspent expires, "
        "oldest first (spending consumed the oldest lots first). Points earned in 2027 "
        "and later are kept.",
        "li",
        "chen",
    ):
        before = {label: p.state(label).points for label in p.members}
        p.clock.set(at("2030-01-02", 2))
        job = p.call("POST", "/v1/jobs/expiry", {"as_of": "2029-12-31"}, role="admin")
        p.say(
            f"job result: {int_text(job['result']['points_expired'])} points expired "
            f"across {job['result']['members']} member(s)"
        )
        for label in p.members:
            lost = before[label] - p.state(label).points
            figures[f"expired_{label}"] = lost
            p.say(f"{label}: {int_text(lost)} points expired")

    with p.step(
        "Verify the ledger",
        "Every hash chain recomputed and every stored balance re-derived from the "
        "transfers, over HTTP (admin) and with the CLI against the same database file.",
    ):
        verify = p.call("GET", "/v1/admin/ledger/verify", role="admin")
        p.say(
            f"HTTP: ok={verify['ok']}, {verify['transfers_checked']} transfers in "
            f"{verify['chains_checked']} chains checked, problems: {verify['problems'] or 'none'}"
        )
        totals = p.call("GET", "/v1/admin/ledger/totals", role="admin")
        for row in totals:
            p.say(
                f"ledger `{row['ledger']}`: Σdebits {int_text(row['debits_posted'])} = "
                f"Σcredits {int_text(row['credits_posted'])} (balanced={row['balanced']})"
            )
        figures["verify_ok"] = verify["ok"]
        figures["transfers_checked"] = verify["transfers_checked"]

    for label in p.members:
        final = p.state(label)
        figures[f"final_{label}"] = {"tier": final.tier, "points": final.points}
    return figures


def _cli_verify(database_url: str) -> tuple[int, dict[str, Any]]:
    """`loyalty ledger verify` against the story's database, as an operator would run it."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and CLI, fixed arguments
        [
            sys.executable,
            "-c",
            "from loyalty.cli import main; main()",
            "ledger",
            "verify",
            "--database",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {"ok": False, "problems": [done.stdout[-500:], done.stderr[-500:]]}
    return done.returncode, report


def _oldest_first(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History rows oldest first. Rows posted in one request share a timestamp; the
    service orders them by chain position, except that the expiry job's lots of one day
    come in the order of their (random) ids, so those ties are broken by amount."""
    rows = [
        {
            "at": e["created_at"],
            "date": e["created_at"][:10],
            "code": e["code"],
            "ledger": e["ledger"],
            "amount": e["amount"],
            "direction": e["direction"],
            "state": e["state"],
        }
        for e in reversed(entries)
    ]
    first_seen: dict[tuple[str, str], int] = {}
    for i, row in enumerate(rows):
        first_seen.setdefault((row["at"], row["code"]), i)
    rows.sort(key=lambda r: (first_seen[(r["at"], r["code"])], -r["amount"]))
    for row in rows:
        del row["at"]
    return rows


def play() -> Story:
    """Play the story against a fresh service on a temporary SQLite file."""
    with tempfile.TemporaryDirectory(prefix="member-year-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'loyalty.db'}"
        clock = FakeClock(at("2026-01-05", 8))
        app = create_app(
            LoyaltySettings(database_url=url, key_cache_s=0), clock=clock, migrate=True
        )
        try:
            with served(app) as base, httpx.Client(base_url=base, timeout=30) as client:
                p = Player(app, client, clock)
                figures = _story(p)
                code, report = _cli_verify(url)
                step = p.sections[-1].steps[-1]
                step.results.append(
                    f"CLI `loyalty ledger verify --database sqlite:///…/loyalty.db`: exit "
                    f"{code}, ok={report.get('ok')}, "
                    f"{report.get('transfers_checked')} transfers checked"
                )
                figures["cli_verify_exit"] = code
                history = p.call(
                    "GET", f"/v1/members/{p.members['li']}/history?limit=500", record=False
                )
                ledger = _oldest_first(history["entries"])
        finally:
            app.state.ctx.engine.dispose()
    return Story(sections=p.sections, figures=figures, ledger=ledger, labels=p.labels)


# --- rendering ---------------------------------------------------------------------------

HEADER = """\
# A member's years, played through the loyalty service

<!-- Generated by `./dev python -m loyalty.examples.member_year --markdown` from a real run.
     Do not edit by hand: tests/loyalty/test_member_year.py fails when this file differs
     from a fresh run. -->

This is the worked example of issue 4: one member's stays, F&B, an award night, a
transfer and a partner conversion, expiry, and her tier going up and down, plus her
partner's retention bonus. Every figure below is what the real service answered: the
script `loyalty/examples/member_year.py` starts `create_app` on uvicorn on a loopback
port with a fresh SQLite file and the default programme
(`loyalty/rules/default_programme.toml`, described in [programme.md](programme.md)),
sets the service's `FakeClock` to each step's date, and sends the requests shown
(front desk = `staff` key, jobs = `admin` key, the hotel app = the member's own
`member` key). Ids are random in every run; here they are replaced by labels such as
`«li»` or `«stay A»`. Idempotency keys are the ones the script sent.

Run it yourself:

```sh
./dev python -m loyalty.examples.member_year             # prints this document
./dev python -m loyalty.examples.member_year --markdown  # rewrites docs/loyalty-year.md
./dev pytest tests/loyalty/test_member_year.py -q        # checks the figures and this file
```
"""

LIMITS = """\
## What this example shows about the service (and its limits)

* **Upgrades are immediate, at check-out**, and the stay that crosses the threshold still
  earns at the tier held when it was priced; the tier job only confirms upgrades,
  downgrades and posts retention bonuses.
* **Retention bonus** is shown on Chen, not Li: a bonus needs a year below the tier held
  and then a year that requalifies for it; Li's story spends its below-years on the
  downgrade.
* **Expiry** here is the default fixed policy (36 months after earning, oldest lot
  first). The programme's alternative (`policy = "inactivity"`, 24 months without
  activity) is selectable in the programme file; this run does not exercise it.
* The award hold is confirmed three minutes after it is placed; an unconfirmed hold is
  voided by `POST /v1/jobs/expire-holds` after `LOYALTY_HOLD_TIMEOUT_S` (900 s).
"""


def render_markdown(story: Story) -> str:
    out = [HEADER, *render_sections(story.sections)]
    out.append("## Li's ledger, oldest first\n")
    out.append(
        "`GET /v1/members/«li»/history`: every transfer touching her `points`, `qualifying` "
        "(spend in fen) and `nights` accounts. Nothing was ever edited: holds are posted or "
        "voided by new transfers, expiry is a transfer to breakage.\n"
    )
    out.append("| date | ledger | code | amount | direction | state |")
    out.append("|---|---|---|---:|---|---|")
    for e in story.ledger:
        out.append(
            f"| {e['date']} | {e['ledger']} | {e['code']} | {int_text(e['amount'])} | "
            f"{e['direction']} | {e['state']} |"
        )
    out.append("")
    out.append("## The figures the test checks\n")
    out.append("```json")
    out.append(json.dumps(story.figures, indent=2, sort_keys=True, default=str))
    out.append("```\n")
    out.append(LIMITS)
    return str(story.labels.scrub("\n".join(out)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loyalty.examples.member_year",
        description="Play a member's years through the real loyalty service.",
    )
    parser.add_argument(
        "--markdown",
        nargs="?",
        const=str(DOC),
        metavar="PATH",
        help=f"write the story as markdown to PATH (default {DOC.name} in docs/)",
    )
    args = parser.parse_args(argv)
    text = render_markdown(play())
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
        print(f"wrote {args.markdown}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
