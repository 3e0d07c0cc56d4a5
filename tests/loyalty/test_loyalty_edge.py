"""The edge rules (loyalty.edge) over real HTTP on SQLite and PostgreSQL: one text policy,
strict JSON (duplicate keys, JSON integers for points, one money format, ASCII digits),
strict query parameters, 413/415/405 answers, and the 400s documented in the OpenAPI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from service_harness import Service

REFUSED = ["\x00", "\x1b", "\x7f", "\x85", "\ud800", "\udfff"]


def _raw(service: Service, path: str, body: str, role: str = "staff") -> tuple[int, dict]:
    """POST a JSON text as written (duplicate keys and \\u escapes survive)."""
    headers = {**service.headers(role), "Content-Type": "application/json"}
    response = service.client.post(path, content=body.encode(), headers=headers)
    return response.status_code, response.json()


def _nothing_stored(service: Service) -> None:
    assert service.call("GET", "/v1/admin/ledger/verify", "admin")["transfers_checked"] == 0


@pytest.mark.parametrize("char", REFUSED)
def test_text_policy_is_a_422_naming_the_field_on_both_backends(
    service: Service, char: str
) -> None:
    escaped = json.dumps(f"Li{char}Wei")  # \u0000 etc., as a JSON client sends it
    status, out = _raw(service, "/v1/members", f'{{"name": {escaped}}}')
    assert (status, out["error"]["code"], out["error"]["field"]) == (422, "invalid_text", "name")
    assert f"U+{ord(char):04X}" in out["error"]["message"]
    member = service.member(name="Li\tWei\n")  # tab, LF and CR are text
    body = f'{{"member_id": "{member}", "activity": "fnb", "amount": "10", "reference": {escaped}}}'
    status, out = _raw(service, "/v1/earn", body)
    assert (status, out["error"]["field"]) == (422, "reference")
    folio = f'{{"folio": [{{"category": "fnb", "amount": "1", "description": {escaped}}}]}}'
    status, out = _raw(service, "/v1/stays/s_abcdefgh1234/check-out", folio)
    assert (status, out["error"]["field"]) == (422, "folio.0.description")
    status, out = _raw(service, "/v1/members", f"{{{escaped}: 1}}")
    assert (status, out["error"]["code"]) == (422, "invalid_text")
    query = quote(f"2026{char}".encode("utf-8", "surrogatepass"))
    history = service.client.get(
        f"/v1/members/{member}/history?before={query}", headers=service.headers("staff")
    )
    assert history.status_code == 422 and history.json()["error"]["field"] == "query.before"
    _nothing_stored(service)


def test_duplicate_keys_are_refused_not_last_one_wins(service: Service) -> None:
    member = service.member()
    body = f'{{"member_id": "{member}", "activity": "fnb", "amount": "1", "amount": "99999"}}'
    status, out = _raw(service, "/v1/earn", body)
    assert (status, out["error"]["code"], out["error"]["field"]) == (422, "duplicate_key", "amount")
    nested = '{"folio": [{"category": "fnb", "amount": "1", "category": "room"}]}'
    status, out = _raw(service, "/v1/stays/s_abcdefgh1234/check-out", nested)
    assert (status, out["error"]["field"]) == (422, "folio.0.category")
    status, out = _raw(service, "/v1/earn", '{"amount": NaN}')
    assert (status, out["error"]["code"]) == (422, "not_a_number")
    status, out = _raw(service, "/v1/earn", '{"member_id": ')
    assert (status, out["error"]["code"], out["error"]["field"]) == (400, "malformed_json", "body")
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0
    _nothing_stored(service)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("points", "1000"),  # a string is not a JSON integer
        ("points", 1000.0),
        ("points", True),
        ("points", "１０００"),  # fullwidth digits
    ],
)
def test_points_are_json_integers(sqlite_service: Service, field: str, value: object) -> None:
    service = sqlite_service
    alice, bob = service.member(), service.member()
    body = {"from_member_id": alice, "to_member_id": bob, field: value}
    out = service.call("POST", "/v1/transfers", json=body, expect=422)
    assert out["error"]["field"] == field


@pytest.mark.parametrize(
    "amount", ["１００", "١٠٠", "100.001", "1e2", " 100", "+100", "100.", ".5", 100, 100.5, "0x64"]
)
def test_money_has_one_format(sqlite_service: Service, amount: object) -> None:
    service = sqlite_service
    member = service.member()
    body = {"member_id": member, "activity": "fnb", "amount": amount}
    out = service.call("POST", "/v1/earn", json=body, expect=422)
    assert out["error"]["field"] == "amount"
    for good in ("100", "100.5", "100.50", "0"):
        service.call("POST", "/v1/earn", json={**body, "amount": good, "dry_run": True})
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0


def test_query_parameters_are_strict(sqlite_service: Service) -> None:
    service = sqlite_service
    member = service.member()
    for params, field in [
        ({"before": "0.5"}, "query.before"),
        ({"before": "1700000000"}, "query.before"),
        ({"before": "2026-03-02 10:00:00Z"}, "query.before"),
        ({"limit": "10.0"}, "query.limit"),
        ({"limit": "1_0"}, "query.limit"),
        ({"limit": "１０"}, "query.limit"),
    ]:
        response = service.client.get(
            f"/v1/members/{member}/history", params=params, headers=service.headers("staff")
        )
        assert response.status_code == 422, params
        assert response.json()["error"]["field"] == field
    ok = service.call(
        "GET", f"/v1/members/{member}/history", params={"before": "2026-03-02T10:00:00Z"}
    )
    assert ok["entries"] == []
    loose = service.client.get(
        "/v1/flags", params={"include_resolved": "yes"}, headers=service.headers("staff")
    )
    assert loose.status_code == 422
    assert service.call("GET", "/v1/flags", params={"include_resolved": "true"}) == []


def test_http_edges_413_415_405(sqlite_service: Service) -> None:
    service = sqlite_service
    member = service.member()

    def chunks() -> Iterator[bytes]:
        yield b'{"member_id": "' + member.encode() + b'", "reference": "'
        for _ in range(160):  # 10 MiB in 64 KiB chunks, no Content-Length
            yield b"a" * 65_536
        yield b'"}'

    big = service.client.post(
        "/v1/earn",
        content=chunks(),
        headers={**service.headers("staff"), "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
    body = json.dumps({"member_id": member, "activity": "fnb", "amount": "10"})
    for kind in (
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
    ):
        typed = service.client.post(
            "/v1/earn", content=body, headers={**service.headers("staff"), "Content-Type": kind}
        )
        assert typed.status_code == 415, kind
        assert "application/json" in typed.json()["error"]["message"]
        assert typed.json()["error"]["field"] == "Content-Type"
    untyped = service.client.post("/v1/earn", content=body, headers=service.headers("staff"))
    assert untyped.status_code == 415
    wrong = service.client.delete("/v1/earn", headers=service.headers("staff"))
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    both = service.client.delete(
        f"/v1/members/{member}/preferences", headers=service.headers("staff")
    )
    assert both.status_code == 405 and both.headers["Allow"] == "GET, PUT"
    assert service.call("GET", f"/v1/members/{member}")["balance"]["points"] == 0


def test_every_body_operation_documents_and_gives_its_400(sqlite_service: Service) -> None:
    """Walks the OpenAPI: every POST/PUT/PATCH documents 400, 413 and 422 (415 when it
    takes JSON) and answers a broken body with that 400 (or 415) — including routes other
    engineers add, since the edge and the documentation apply to every route."""
    service = sqlite_service
    spec = service.client.get("/openapi.json").json()
    checked = 0
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("post", "put", "patch"):
                continue
            codes = set(op["responses"])
            assert {"400", "413", "422"} <= codes, (method, path, sorted(codes))
            takes_json = "application/json" in op.get("requestBody", {}).get("content", {})
            if takes_json:
                assert "415" in codes, (method, path)
            url = re.sub(r"\{[^}]+\}", "abcdefgh12345678", path)
            broken = service.client.request(
                method,
                url,
                content=b'{"a": ',
                headers={**service.headers("admin"), "Content-Type": "application/json"},
            )
            assert broken.status_code == 400, (method, path, broken.text)
            if takes_json:
                plain = service.client.request(
                    method,
                    url,
                    content=b"{}",
                    headers={**service.headers("admin"), "Content-Type": "text/plain"},
                )
                assert plain.status_code == 415, (method, path, plain.text)
            checked += 1
    assert checked >= 20
