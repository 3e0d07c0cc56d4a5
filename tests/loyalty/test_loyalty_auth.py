"""Every /v1 operation in the OpenAPI declares its roles (`x-roles`); each one rejects a
missing key (401) and every role it does not allow (403), checked for all operations."""

from __future__ import annotations

import re

from service_harness import PROPERTY, ROOM, Service


def _operations(service: Service) -> list[tuple[str, str, list[str]]]:
    spec = service.client.get("/openapi.json").json()
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if path.startswith("/v1"):
                assert "x-roles" in op, f"{method.upper()} {path} declares no roles"
                ops.append((method.upper(), path, op["x-roles"]))
    return ops


def test_every_operation_rejects_missing_keys_and_wrong_roles(sqlite_service: Service) -> None:
    service = sqlite_service
    member = service.member()
    service.keys["member"] = service.key_for("member", member_id=member)
    ops = _operations(service)
    assert len(ops) >= 25
    for method, path, roles in ops:
        url = re.sub(r"\{[^}]+\}", "abcdefgh12345678", path)
        anonymous = service.client.request(method, url, json={})
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        for role in ("admin", "staff", "agent", "member"):
            if role in roles:
                continue
            response = service.client.request(method, url, json={}, headers=service.headers(role))
            assert response.status_code == 403, (method, path, role, response.text)


def test_member_scope_and_agent_scope(sqlite_service: Service) -> None:
    service = sqlite_service
    me, other = service.member(), service.member()
    service.keys["member"] = service.key_for("member", member_id=me)
    service.call("GET", f"/v1/members/{me}", "member")
    denied = service.call("GET", f"/v1/members/{other}", "member", expect=403)
    assert denied["error"]["code"] == "forbidden"
    # an agent cannot read a member who is not staying in its room: 404, not 403
    hidden = service.call("GET", f"/v1/agent/preferences/{other}", "agent", expect=404)
    assert hidden["error"]["code"] == "member_not_found"
    bad = service.client.get(f"/v1/members/{me}", headers={"Authorization": "Bearer lk.x.y"})
    assert bad.status_code == 401
    assert PROPERTY and ROOM


def test_keys_are_stored_hashed(sqlite_service: Service) -> None:
    from sqlalchemy import text

    plaintext = sqlite_service.keys["staff"]
    secret = plaintext.split(".")[2]
    with sqlite_service.app.state.ctx.engine.begin() as conn:
        stored = [r[0] for r in conn.execute(text("SELECT secret_hash FROM api_keys"))]
    assert all(secret not in value for value in stored)
