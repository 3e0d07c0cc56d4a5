"""Schema-driven fuzzing (schemathesis) of every operation in /openapi.json, as admin, over
real HTTP: no input may produce a 5xx. Bounded: a few examples per operation."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_harness import Service

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _given(value: Any) -> Any:
    """schemathesis marks absent parts with a NotSet sentinel."""
    return None if type(value).__name__ == "NotSet" else value


def test_no_input_makes_a_5xx(sqlite_service: Service) -> None:
    service = sqlite_service
    service.member()
    spec = service.client.get("/openapi.json").json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 25
    admin = {"Authorization": f"Bearer {service.keys['admin']}"}
    failures = []
    for operation in operations:
        strategy = operation.as_strategy()

        @settings(
            max_examples=4,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, n=st.integers(0, 10**9))
        def probe(case: Any, n: int) -> None:
            headers = dict(_given(case.headers) or {})
            headers.update(admin)
            headers.setdefault("Idempotency-Key", f"fuzz-{n:010d}")
            response = service.client.request(
                case.method,
                case.formatted_path,
                params=_given(case.query),
                json=_given(case.body),
                headers=headers,
            )
            if response.status_code >= 500:
                failures.append((case.method, case.formatted_path, case.body, response.text))

        probe()
    assert failures == [], failures[:3]
