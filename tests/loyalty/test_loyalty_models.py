"""Comfort-model distribution over real HTTP, on SQLite and PostgreSQL: admins publish
versions the ML team signed offline (central holds no signing key), agents list and
download them and the bytes verify with the agent's own check; retries are idempotent,
other content for a version is a 409, bad uploads are precise 4xx that change nothing
(also as a Hypothesis property), withdrawal hides a version, and the `loyalty models` CLI."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_harness import Service
from sqlalchemy import select
from typer.testing import CliRunner

from agent.comfort.updates import signed_manifest, verify
from loyalty.cli import app as cli
from loyalty.db.tables import models
from sync.wire import ModelManifest

SHIPPED = (Path(__file__).resolve().parents[2] / "models" / "comfort.tflite").read_bytes()
ML_KEY = Ed25519PrivateKey.generate()  # the ML team's offline key; central never sees it
MiB = 1_048_576


def manifest_for(version: str, blob: bytes, key: Ed25519PrivateKey = ML_KEY) -> dict[str, Any]:
    return signed_manifest(key, blob, version).model_dump(mode="json")


def upload(version: str, blob: bytes, /, **changes: Any) -> dict[str, Any]:
    manifest = {**manifest_for(version, blob), **changes}
    return {"manifest": manifest, "model_b64": base64.b64encode(blob).decode()}


def publish(service: Service, body: dict[str, Any], expect: int = 201) -> Any:
    return service.call("POST", "/v1/admin/models", "admin", json=body, expect=expect)


def stored(service: Service) -> list[tuple[Any, ...]]:
    with service.app.state.ctx.engine.begin() as conn:
        rows = conn.execute(select(models).order_by(models.c.version)).all()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows]


def test_publish_list_download_and_withdraw(service: Service) -> None:
    url = "/v1/agent/models/comfort/1.2.0"
    created = publish(service, upload("1.2.0", SHIPPED))
    assert created == {
        "schema_version": 1,
        "name": "comfort",
        **manifest_for("1.2.0", SHIPPED),
        "url": url,
    }
    assert publish(service, upload("1.2.0", SHIPPED), expect=200) == created  # a retry

    offered = service.call("GET", "/v1/agent/models", "agent")
    assert offered == [created]
    listed = service.client.get("/v1/agent/models", headers=service.headers("agent"))
    tag = {**service.headers("agent"), "If-None-Match": listed.headers["etag"]}
    unchanged = service.client.get("/v1/agent/models", headers=tag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    response = service.client.get(url, headers=service.headers("agent"))
    assert response.status_code == 200, response.text
    assert response.content == SHIPPED
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["x-content-sha256"] == created["sha256"]
    assert response.headers["etag"] == f'"{created["sha256"]}"'
    # the agent's own check passes with the ML team's public key: nothing central signed
    verify(ModelManifest.model_validate(created), response.content, ML_KEY.public_key())
    again = service.client.get(
        url, headers={**service.headers("agent"), "If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""

    # every agent sees the same models, whatever its room
    service.keys["agent2"] = service.key_for("agent", property_id="sh02", room_id="0101")
    assert service.call("GET", "/v1/agent/models", "agent2") == offered

    # newest first by numbers, not strings
    for version in ("1.10.0", "1.9.0", "0.20.1"):
        publish(service, upload(version, SHIPPED))
    order = ["1.10.0", "1.9.0", "1.2.0", "0.20.1"]
    assert [m["version"] for m in service.call("GET", "/v1/agent/models", "agent")] == order

    service.clock.advance(60)
    gone = service.call("DELETE", "/v1/admin/models/comfort/1.10.0", "admin")
    assert gone["withdrawn"] is True and gone["manifest"]["version"] == "1.10.0"
    service.clock.advance(60)
    assert service.call("DELETE", "/v1/admin/models/comfort/1.10.0", "admin") == gone
    agents = [m["version"] for m in service.call("GET", "/v1/agent/models", "agent")]
    assert agents == ["1.9.0", "1.2.0", "0.20.1"]
    missing = service.call("GET", "/v1/agent/models/comfort/1.10.0", "agent", expect=404)
    assert missing["error"]["code"] == "model_not_found"
    admins = service.call("GET", "/v1/admin/models", "admin")
    assert [(m["manifest"]["version"], m["withdrawn"]) for m in admins] == [
        ("1.10.0", True),
        ("1.9.0", False),
        ("1.2.0", False),
        ("0.20.1", False),
    ]
    assert admins[0]["withdrawn_at"] == gone["withdrawn_at"]
    # a withdrawn version stays withdrawn when its upload is retried
    publish(service, upload("1.10.0", SHIPPED), expect=200)
    assert "1.10.0" not in [m["version"] for m in service.call("GET", "/v1/agent/models", "agent")]
    unknown = service.call("DELETE", "/v1/admin/models/comfort/9.9.9", "admin", expect=404)
    assert unknown["error"]["code"] == "model_not_found"


def test_conflicts_and_bad_uploads_are_precise_and_change_nothing(service: Service) -> None:
    publish(service, upload("1.2.0", SHIPPED))
    before = stored(service)
    other = SHIPPED[:-1] + bytes([SHIPPED[-1] ^ 1])
    good = upload("1.3.0", SHIPPED)
    b64 = good["model_b64"]
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (upload("1.2.0", other), 409, "version_exists", "manifest.sha256"),
        (
            upload("1.2.0", SHIPPED, signature_b64=manifest_for("1.2.1", SHIPPED)["signature_b64"]),
            409,
            "version_exists",
            "manifest.signature_b64",
        ),
        ({**good, "model_b64": b64[:-4] + "*" + b64[-3:]}, 422, "invalid_base64", "model_b64"),
        ({**good, "model_b64": b64[:40] + "\n" + b64[40:]}, 422, "invalid_base64", "model_b64"),
        ({**good, "model_b64": b64 + "="}, 422, "invalid_base64", "model_b64"),
        (upload("1.3.0", SHIPPED, size_bytes=len(SHIPPED) + 1), 422, "size_mismatch", "model_b64"),
        (upload("1.3.0", SHIPPED, sha256="0" * 64), 422, "sha256_mismatch", "model_b64"),
        (upload("1.3.0", SHIPPED, signature_b64="A" * 88), 422, "invalid_signature", ""),
        (upload("1.3.0", SHIPPED, version="1.3"), 422, "invalid_request", "manifest.version"),
        (upload("1.3.0", SHIPPED, version="١.٣.٠"), 422, "invalid_version", "manifest.version"),
        ({**good, "extra": 1}, 422, "invalid_request", "extra"),
        ({**good, "model_b64": ""}, 422, "invalid_request", "model_b64"),
    ]
    for body, status, code, field in cases:
        error = publish(service, body, expect=status)["error"]
        assert error["code"] == code, (body["manifest"], error)
        assert field in (error.get("field") or ""), error
    for path in ("/v1/agent/models/comfort/1.2", "/v1/agent/models/comfort/x.2.0"):
        bad = service.call("GET", path, "agent", expect=422)
        assert bad["error"]["field"] == "path.version", bad
    service.call("DELETE", "/v1/admin/models/comfort/1.2.0.0", "admin", expect=422)
    assert stored(service) == before
    assert [m["version"] for m in service.call("GET", "/v1/agent/models", "agent")] == ["1.2.0"]


def test_wrong_roles_are_refused(service: Service) -> None:
    publish(service, upload("1.2.0", SHIPPED))
    for role in ("staff", "agent"):
        refused = service.call(
            "POST", "/v1/admin/models", role, json=upload("1.4.0", SHIPPED), expect=403
        )
        assert refused["error"]["code"] == "forbidden"
        service.call("GET", "/v1/admin/models", role, expect=403)
        service.call("DELETE", "/v1/admin/models/comfort/1.2.0", role, expect=403)
    for role in ("admin", "staff"):
        service.call("GET", "/v1/agent/models", role, expect=403)
        service.call("GET", "/v1/agent/models/comfort/1.2.0", role, expect=403)
    anonymous = service.client.get("/v1/agent/models/comfort/1.2.0")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
    assert [m["version"] for m in service.call("GET", "/v1/agent/models", "agent")] == ["1.2.0"]


def test_a_full_size_model_passes_the_body_limit(sqlite_service: Service) -> None:
    service = sqlite_service
    blob = os.urandom(MiB)
    publish(service, upload("2.0.0", blob))
    response = service.client.get(
        "/v1/agent/models/comfort/2.0.0", headers=service.headers("agent")
    )
    assert response.status_code == 200 and response.content == blob
    # A manifest for 1 MiB (the most a manifest may say) and one byte more sent.
    one_more = {
        "manifest": manifest_for("2.0.1", blob),
        "model_b64": base64.b64encode(blob + b"\0").decode(),
    }
    assert publish(service, one_more, expect=422)["error"]["code"] == "size_mismatch"
    huge = service.client.post(
        "/v1/admin/models",
        content=b'{"model_b64": "' + b"A" * (2 * MiB) + b'"}',
        headers={**service.headers("admin"), "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert [m["manifest"]["version"] for m in service.call("GET", "/v1/admin/models", "admin")] == [
        "2.0.0"
    ]


def test_only_an_admin_key_raises_the_body_limit(sqlite_service: Service) -> None:
    """Central reads a model-sized body only for a caller that may publish one: anyone else
    is refused at the normal limit before the body is read, and a small body still gets the
    route's precise 401/403."""
    service = sqlite_service
    big = json.dumps(upload("2.1.0", os.urandom(MiB // 2))).encode()  # over the 256 KiB default
    json_type = {"Content-Type": "application/json"}
    callers = {
        "nobody": {},
        "a bad key": {"Authorization": "Bearer lk.nope.nope"},
        "not bearer": {"Authorization": "Basic " + service.keys["admin"]},
        "staff": service.headers("staff"),
        "agent": service.headers("agent"),
    }
    for who, headers in callers.items():
        refused = service.client.post(
            "/v1/admin/models", content=big, headers={**headers, **json_type}
        )
        assert refused.status_code == 413, who
        assert refused.json()["error"]["code"] == "body_too_large", who
    small = service.client.post("/v1/admin/models", json=upload("2.1.0", SHIPPED))
    assert small.status_code == 401 and small.json()["error"]["code"] == "unauthenticated"
    assert service.call("GET", "/v1/admin/models", "admin") == []
    publish(service, json.loads(big))
    assert [m["manifest"]["version"] for m in service.call("GET", "/v1/admin/models", "admin")] == [
        "2.1.0"
    ]


def _signature_shaped(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == 64
    except ValueError:
        return False


@st.composite
def bad_uploads(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A well-formed upload of random bytes with at least one thing wrong."""
    blob = draw(st.binary(min_size=1, max_size=256))
    version = draw(st.sampled_from(["1.2.0", "3.0.0"]))  # 1.2.0 holds other content
    body = upload(version, blob)
    manifest, b64 = dict(body["manifest"]), body["model_b64"]
    wrong = draw(
        st.sets(st.sampled_from(["b64", "size", "sha256", "signature"]), min_size=0, max_size=4)
    )
    if "b64" in wrong:
        b64 = draw(
            st.one_of(
                st.text(min_size=1, max_size=400),
                st.binary(min_size=0, max_size=256).map(lambda b: base64.b64encode(b).decode()),
            )
        )
    if "size" in wrong:
        manifest["size_bytes"] = draw(st.integers(1, MiB))
    if "sha256" in wrong:
        manifest["sha256"] = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    if "signature" in wrong:  # central cannot tell a well-formed wrong signature: the agent does
        manifest["signature_b64"] = draw(
            st.text(min_size=80, max_size=100).filter(lambda s: not _signature_shaped(s))
        )
    changed = body != {"manifest": manifest, "model_b64": b64}
    expect = 422 if changed or version != "1.2.0" else 409
    if not changed and version != "1.2.0":
        manifest["size_bytes"] = len(blob) + 1  # make sure something is wrong
    return {"manifest": manifest, "model_b64": b64}, expect


def test_any_mismatch_is_a_4xx_and_changes_nothing(sqlite_service: Service) -> None:
    service = sqlite_service
    publish(service, upload("1.2.0", SHIPPED))
    before = stored(service)

    @settings(
        max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=bad_uploads())
    def probe(case: tuple[dict[str, Any], int]) -> None:
        body, expect = case
        response = service.client.post(
            "/v1/admin/models", json=body, headers=service.headers("admin")
        )
        assert 400 <= response.status_code < 500, response.text
        if expect == 409:
            assert response.status_code == 409, response.text
        assert stored(service) == before

    probe()


def test_cli_publish_list_withdraw(service: Service, db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "comfort.tflite"
    model.write_bytes(SHIPPED)
    manifest = tmp_path / "comfort-1.5.0.json"
    manifest.write_text(json.dumps(manifest_for("1.5.0", SHIPPED)))
    args = ["models", "publish", "--manifest", str(manifest), "--file", str(model)]

    first = runner.invoke(cli, [*args, "--database", db_url])
    assert first.exit_code == 0, first.output
    printed = json.loads(first.stdout)
    assert printed["url"] == "/v1/agent/models/comfort/1.5.0"
    assert service.call("GET", "/v1/agent/models", "agent") == [printed]
    again = runner.invoke(cli, [*args, "--database", db_url])
    assert again.exit_code == 0 and "already published" in again.stderr

    model.write_bytes(SHIPPED + b"\0")
    wrong = runner.invoke(cli, [*args, "--database", db_url])
    assert wrong.exit_code == 2 and "--file" in wrong.stderr and "size_bytes" in wrong.stderr
    manifest.write_text('{"version": "1.5"}')
    broken = runner.invoke(cli, [*args, "--database", db_url])
    assert broken.exit_code == 2 and "version" in broken.stderr, broken.output
    conflict = tmp_path / "other.json"
    conflict.write_text(json.dumps(manifest_for("1.5.0", SHIPPED + b"\0")))
    clash_args = ["models", "publish", "--manifest", str(conflict), "--file", str(model)]
    clash = runner.invoke(cli, [*clash_args, "--database", db_url])
    assert clash.exit_code == 2 and "already published" in clash.stderr, clash.output

    listed = runner.invoke(cli, ["models", "list", "--database", db_url])
    assert listed.exit_code == 0
    assert [(m["manifest"]["version"], m["withdrawn"]) for m in json.loads(listed.stdout)] == [
        ("1.5.0", False)
    ]
    out = runner.invoke(cli, ["models", "withdraw", "1.5.0", "--database", db_url])
    assert out.exit_code == 0 and json.loads(out.stdout)["withdrawn"] is True
    assert service.call("GET", "/v1/agent/models", "agent") == []
    unknown = runner.invoke(cli, ["models", "withdraw", "7.7.7", "--database", db_url])
    assert unknown.exit_code == 1 and "7.7.7" in unknown.stderr
    bad = runner.invoke(cli, ["models", "withdraw", "latest", "--database", db_url])
    assert bad.exit_code == 2 and "MAJOR.MINOR.PATCH" in bad.stderr
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    unmigrated = runner.invoke(cli, ["models", "list", "--database", empty])
    assert unmigrated.exit_code == 2 and "loyalty migrate" in unmigrated.stderr
