"""Each KPI against a hand-computed example, on SQLite and PostgreSQL, through the real
service: members stay, dine and redeem over HTTP; the figures come back from
GET /v1/analytics/kpis and must equal what is worked out by hand below.

April 2026, default programme, all silver (1 point per CNY, no multiplier: OTA bookings of
standard rooms outside the seasons):
  A: stay sh01 2 nights 2,000 CNY → 2,000 points; stay sh02 1 night 1,000 → 1,000 points
  B: stay sh01 3 nights 6,000 → 6,000 points; dines 500 (no stay) → 500 points;
     redeems one award night at sh01 (cash rate 50 CNY → 5,000 points)
  C: joins, does nothing.
"""

from __future__ import annotations

from service_harness import Service

from loyalty.examples import economics

PERIOD = {"start": "2026-04-01", "end": "2026-05-01"}


def _stay(service: Service, member: str, prop: str, nights: int, rate: str) -> None:
    economics.stay(service.call, service.clock, member, prop, nights, rate)


def april(service: Service) -> dict[str, str]:
    return economics.april(service.call, service.clock)


def kpis(service: Service, **params: str) -> dict[str, object]:
    out = service.call("GET", "/v1/analytics/kpis", "loyalty", params={**PERIOD, **params})
    return {f["key"]: f["value"] for f in out["figures"]} | {"_": out}


def test_each_figure_matches_the_hand_computation(service: Service) -> None:
    ids = april(service)
    k = kpis(service)
    assert k["points_issued"] == 2000 + 6000 + 1000 + 500
    assert k["points_redeemed"] == 5000
    assert k["points_expired"] == 0
    assert k["points_outstanding"] == 9500 - 5000
    assert k["redemption_rate"] == "0.5263"  # 5000 / 9500
    # One cohort (2026-04), one month observed, every factor 1: ERR = 5000 / 9500.
    assert k["expected_redemption_rate"] == "0.5263"
    assert k["breakage_rate"] == "0.4737"
    assert k["liability"] == "23.68"  # 4500 × 0.01 × 0.5263 = 23.6835
    assert k["liability_gross"] == "45.00"
    assert k["revenue"] == "9500.00"  # 2000 + 6000 + 1000 + 500
    assert k["points_cost"] == "95.00"
    assert k["points_cost_share"] == "0.0100"
    figure = next(f for f in k["_"]["figures"] if f["key"] == "points_cost_share")  # type: ignore[index]
    assert figure["flag"] == "below_band" and "2.0% to 5.0%" in figure["definition"]
    assert k["points_cost_expected_share"] == "0.0053"  # 95 × 0.5263 / 9500
    assert k["quarterly_active_rate"] == "0.6667"  # A and B of 3 members
    assert k["repeat_stay_rate"] == "0.5000"  # A stayed twice, B once
    assert k["high_value_share"] == "0.0000"  # nobody spent 30,000 (gold's line)
    assert kpis(service, high_value_line="5000")["high_value_share"] == "0.3333"  # B: 6,500
    assert k["retention"] is None  # nobody was active in March
    # IFRS 15: deferred = price × SSP ÷ (price + SSP), SSP = points × 0.01 × 0.5263, each
    # sale to the cent: 10.47 + 31.41 + 5.24 + 2.62; all of it recognised, since the
    # redemptions (5000) reach the expected 9500 × 0.5263.
    assert k["revenue_deferred"] == "49.74"
    assert k["revenue_recognised_from_points"] == "49.74"
    assert k["contract_liability"] == "0.00"
    # Finance's own assumption instead of the short history's: ERR 0.8.
    f = kpis(service, expected_redemption_rate="0.8")
    assert (f["expected_redemption_rate"], f["breakage_rate"]) == ("0.8", "0.2")
    assert f["liability"] == "36.00"  # 4500 × 0.01 × 0.8
    # SSP per point 0.008: 15.87 + 47.62 + 7.94 + 3.97 deferred; 5000 of the expected
    # 9500 × 0.8 = 7600 redeemed: 75.40 × 5000/7600 = 49.605 → 49.61 recognised.
    assert f["revenue_deferred"] == "75.40"
    assert f["revenue_recognised_from_points"] == "49.61"
    assert f["contract_liability"] == "25.79"
    report = k["_"]
    assert report["tier_distribution"] == {"silver": 3, "gold": 0, "platinum": 0, "diamond": 0}  # type: ignore[index]
    assert report["cohorts"] == [  # type: ignore[index]
        {
            "month": "2026-04",
            "issued": 9500,
            "redeemed": 5000,
            "expired": 0,
            "moved": 0,
            "open": 4500,
            "projected_redeemed": 5000,
        }
    ]
    assert report["drifting"] == []  # type: ignore[index]
    # By property: sh01 has A's first stay, B's stay and B's award; the dinner has none.
    p = kpis(service, property="sh01")
    assert (p["points_issued"], p["points_redeemed"], p["revenue"]) == (8000, 5000, "8000.00")
    # By segment: only A gave an age band.
    s = kpis(service, segment="age_band=30-50")
    assert (s["points_issued"], s["revenue"], s["repeat_stay_rate"]) == (3000, "3000.00", "1.0000")
    assert kpis(service, tier="gold")["points_issued"] == 0
    # Drifting: by the end of August, A (last stay 04-11) and B (award 04-25) are 90+ days
    # quiet; B first (more spend). C never did anything: not drifting, never active.
    later = service.call(
        "GET", "/v1/analytics/kpis", "loyalty", params={"start": "2026-04-01", "end": "2026-09-01"}
    )
    assert [(d["member_id"], d["last_activity"], d["points"]) for d in later["drifting"]] == [
        (ids["b"], "2026-04-25", 1500),
        (ids["a"], "2026-04-11", 3000),
    ]


def test_csv_roles_and_bad_queries(service: Service) -> None:
    april(service)
    r = service.client.get(
        "/v1/analytics/kpis.csv",
        params={**PERIOD, "lang": "zh"},
        headers={"Authorization": f"Bearer {service.keys['loyalty']}"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "figure,points_issued,发放积分,9500,points" in r.text
    assert service.call("GET", "/v1/analytics/kpis", "admin", params=PERIOD)["currency"] == "CNY"
    denied = service.call("GET", "/v1/analytics/kpis", "staff", params=PERIOD, expect=403)
    assert denied["error"]["code"] == "forbidden"
    bad = service.call(
        "GET", "/v1/analytics/kpis", "loyalty", expect=422, params={**PERIOD, "tier": "bronze"}
    )
    assert bad["error"]["field"] == "tier" and "silver, gold" in bad["error"]["message"]
    bad = service.call(
        "GET", "/v1/analytics/kpis", "loyalty", expect=422, params={**PERIOD, "segment": "shoe=42"}
    )
    assert bad["error"]["field"] == "segment"
    bad = service.call(
        "GET",
        "/v1/analytics/kpis",
        "loyalty",
        expect=422,
        params={"start": "2026-05-01", "end": "2026-04-01"},
    )
    assert "must end after it starts" in bad["error"]["message"]


def test_cli_prints_the_same_figures(sqlite_service: Service) -> None:
    """`loyalty analytics kpis` (a real process on the same database) agrees with the API."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    april(sqlite_service)
    url = str(sqlite_service.app.state.ctx.engine.url)
    loyalty = Path(sys.executable).parent / "loyalty"
    out = subprocess.run(
        [
            str(loyalty),
            "analytics",
            "kpis",
            "--start",
            "2026-04-01",
            "--end",
            "2026-05-01",
            "--database",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    figures = {f["key"]: f["value"] for f in json.loads(out.stdout)["figures"]}
    assert figures == {k: v for k, v in kpis(sqlite_service).items() if k != "_"}
    # A bad query names the option (in process: the exit path, not the figures).
    from typer.testing import CliRunner

    from loyalty.cli import app

    args = [
        "analytics",
        "kpis",
        "--start",
        "2026-04-01",
        "--end",
        "2026-05-01",
        "--tier",
        "bronze",
        "--database",
        url,
    ]
    bad = CliRunner().invoke(app, args)
    assert bad.exit_code == 2 and "--tier: unknown tier 'bronze'" in bad.output
