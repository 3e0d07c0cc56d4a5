"""Schema-driven fuzzing (schemathesis) of every operation in /openapi.json, as admin, over
real HTTP, on SQLite and PostgreSQL: no input may produce a 5xx. Bounded: a few examples per
operation. The generated bodies are also salted with the characters the text policy
refuses (NUL, other controls, lone surrogates), since schemas never generate them and
PostgreSQL is where they used to become 500s; and a Hypothesis property sends any text,
those characters included, to the text fields that reach the database."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_harness import Service

from loyalty.edge.text import text_problem

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REFUSED = ["\x00", "\x01", "\x1f", "\x7f", "\x9f", "\ud800", "\udfff"]
# Any text, including controls and lone surrogates (st.text() leaves surrogates out).
ANY_TEXT = st.text(
    st.characters(categories=["Cc", "Cs", "Cf", "Co", "L", "M", "N", "P", "S", "Z"]),
    max_size=40,
)


def _given(value: Any) -> Any:
    """schemathesis marks absent parts with a NotSet sentinel."""
    return None if type(value).__name__ == "NotSet" else value


def _salted(value: Any, char: str, nth: int) -> tuple[Any, bool]:
    """`value` with `char` put into its nth string (keys and values), and whether it was."""
    seen = [0]

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            seen[0] += 1
            return item[:1] + char + item[1:] if seen[0] == nth + 1 else item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    out = walk(value)
    return out, seen[0] > nth


def test_no_input_makes_a_5xx(service: Service) -> None:
    service.member()
    spec = service.client.get("/openapi.json").json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 25
    admin = {"Authorization": f"Bearer {service.keys['admin']}"}
    failures = []
    salted_refused = [0]
    for operation in operations:
        strategy = operation.as_strategy()

        @settings(
            max_examples=4,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=strategy,
            n=st.integers(0, 10**9),
            char=st.sampled_from(REFUSED),
            nth=st.integers(0, 3),
            salt=st.booleans(),
        )
        def probe(case: Any, n: int, char: str, nth: int, salt: bool) -> None:
            headers = dict(_given(case.headers) or {})
            headers.update(admin)
            headers.setdefault("Idempotency-Key", f"fuzz-{n:010d}")
            body = _given(case.body)
            salted = False
            if salt and body is not None:
                body, salted = _salted(body, char, nth)
            content = None
            if body is not None:
                # json.dumps keeps a lone surrogate as a \\ud800 escape, as a client would
                content = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            response = service.client.request(
                case.method,
                case.formatted_path,
                params=_given(case.query),
                content=content,
                headers=headers,
            )
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, body, response.text))
            if salted and case.method.upper() in ("POST", "PUT", "PATCH"):
                # the edge reads every JSON body, so a salted one never gets past it
                if response.status_code != 422 or response.json()["error"]["code"] != (
                    "invalid_text"
                ):
                    failures.append(("salt passed", case.formatted_path, body, response.text))
                salted_refused[0] += 1

        probe()
    assert failures == [], failures[:3]
    assert salted_refused[0] > 10  # the salting really happened


@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # each example: a new member
)
@given(name=ANY_TEXT, reference=ANY_TEXT, description=ANY_TEXT)
def test_text_reaches_the_database_intact_or_is_refused_naming_the_field(
    service: Service, name: str, reference: str, description: str
) -> None:
    """Both backends store exactly what they accept, and refuse the same text with a 422
    naming the field (a NUL in a name was stored by SQLite and a 500 on PostgreSQL)."""
    created = service.client.post(
        "/v1/members",
        content=json.dumps({"name": name or "x"}).encode(),
        headers={**service.headers("staff"), "Content-Type": "application/json"},
    )
    if text_problem(name or "x"):
        assert created.status_code == 422 and created.json()["error"]["field"] == "name"
        return
    assert created.status_code == 201, created.text
    member = created.json()
    assert member["name"] == (name or "x")
    stored = service.call("GET", f"/v1/members/{member['id']}")
    assert stored["name"] == (name or "x")
    earn = {"member_id": member["id"], "activity": "fnb", "amount": "10", "reference": reference}
    posted = service.client.post(
        "/v1/earn",
        content=json.dumps(earn).encode(),
        headers={**service.headers("staff"), "Content-Type": "application/json"},
    )
    if text_problem(reference):
        assert posted.status_code == 422 and posted.json()["error"]["field"] == "reference"
    elif len(reference) > 64:
        assert posted.status_code == 422
    else:
        assert posted.status_code == 200, posted.text
        history = service.call("GET", f"/v1/members/{member['id']}/history")["entries"]
        points = [e for e in history if e["ledger"] == "points"]
        assert [e["reference"] for e in points] == [reference]
    folio = {"folio": [{"category": "fnb", "amount": "1", "description": description}]}
    checked = service.client.post(
        "/v1/stays/s_doesnotexist0000000/check-out",
        content=json.dumps(folio).encode(),
        headers={**service.headers("staff"), "Content-Type": "application/json"},
    )
    if text_problem(description):
        assert checked.status_code == 422
        assert checked.json()["error"]["field"] == "folio.0.description"
    else:
        assert checked.status_code in (404, 422), checked.text
