"""The as-of jobs from the API and the CLI share one rule (never after today) and both
offer a dry run that lists what would change and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from service_harness import Service
from sqlalchemy import func, select
from typer.testing import CliRunner

from loyalty.cli import app as cli
from loyalty.db.tables import job_runs


def _runs(service: Service) -> int:
    with service.app.state.ctx.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(job_runs)).scalar_one())


def _points(service: Service, member: str) -> int:
    return int(service.call("GET", f"/v1/members/{member}")["balance"]["points"])


def test_cli_jobs_refuse_the_future_and_dry_run_changes_nothing(
    sqlite_service: Service, sqlite_url: str
) -> None:
    service = sqlite_service
    today = datetime.now(UTC).date()  # the CLI runs on the system clock
    service.clock.set(datetime.now(UTC) - timedelta(days=1200))  # earned > 36 months ago
    member = service.member()
    body = {"member_id": member, "activity": "fnb", "amount": "5000.00"}
    earned = service.call("POST", "/v1/earn", json=body)["points"]
    assert earned > 0 and _points(service, member) == earned
    runner = CliRunner()

    def job(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["jobs", *args, "--database", sqlite_url])
        return result.exit_code, result.output

    for name in ("expiry", "tiers"):
        for ahead in (today + timedelta(days=1), date(today.year + 3, 1, 6)):
            code, out = job(name, "--as-of", ahead.isoformat())
            assert code == 2, out
            assert "after today" in out
    assert _points(service, member) == earned and _runs(service) == 0
    code, out = job("expiry", "--as-of", today.isoformat(), "--dry-run")
    assert code == 0, out
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["already_ran"] is False
    assert dry["changes"] == [{"member_id": member, "points_expired": earned}]
    assert _points(service, member) == earned and _runs(service) == 0
    code, out = job("expiry", "--as-of", today.isoformat())
    real = json.loads(out)
    assert code == 0 and real["dry_run"] is False and "changes" not in real
    assert real["points_expired"] == dry["points_expired"] == earned
    assert _points(service, member) == 0 and _runs(service) == 1


def test_api_tier_dry_run_lists_the_downgrade_it_would_make(service: Service) -> None:
    member = service.member()
    now = service.clock.now()
    stay = {
        "member_id": member,
        "property_id": "sh01",
        "arrival": now.isoformat(),
        "departure": (now + timedelta(days=10)).isoformat(),
        "nightly_rate": "4000.00",
    }
    stay_id = service.call("POST", "/v1/stays", json=stay, expect=201)["id"]
    service.call("POST", f"/v1/stays/{stay_id}/check-in", json={"room_id": "1208"})
    service.clock.advance(days=10)
    folio = {"folio": [{"category": "room", "amount": "40000.00"}]}
    service.call("POST", f"/v1/stays/{stay_id}/check-out", json=folio)
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "gold"
    early = service.call(
        "POST", "/v1/jobs/tier-evaluation", "admin", json={"year_ending": "2026-12-31"}, expect=422
    )
    assert early["error"]["code"] == "year_not_over"
    service.clock.set(datetime(2029, 1, 2, 9, 0, tzinfo=UTC))
    for year in ("2026-12-31", "2027-12-31"):
        service.call("POST", "/v1/jobs/tier-evaluation", "admin", json={"year_ending": year})
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "gold"
    body = {"year_ending": "2028-12-31", "dry_run": True}
    dry = service.call("POST", "/v1/jobs/tier-evaluation", "admin", json=body)
    assert dry["dry_run"] is True
    assert dry["result"]["changes"] == [
        {"member_id": member, "from_tier": "gold", "to_tier": "silver", "retention_bonus": 0}
    ]
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "gold"
    real = service.call(
        "POST", "/v1/jobs/tier-evaluation", "admin", json={"year_ending": "2028-12-31"}
    )
    assert real["result"]["downgrade"] == dry["result"]["downgrade"] == 1
    assert service.call("GET", f"/v1/members/{member}")["tier"] == "silver"
