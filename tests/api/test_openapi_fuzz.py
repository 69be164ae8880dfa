"""Generated requests from the OpenAPI document never get a 500 (schemathesis).

Runs against a real uvicorn server with a small counter graph registered (and the code
review graph), so that some generated ids exist. Only "no server error" is asserted: the
generated bodies are mostly invalid and must be refused with a 4xx.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.support import COUNTER_SPEC, LiveServer, make_settings

EXAMPLES_PER_OPERATION = int(os.environ.get("GRAPHRUN_FUZZ_EXAMPLES", "30"))


def test_no_generated_request_gets_a_server_error(tmp_path: Path) -> None:
    failures: list[str] = []
    with LiveServer(make_settings(tmp_path)) as server:
        httpx.post(f"{server.url}/graph/create", json={**COUNTER_SPEC, "graph_id": "counter"})
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 15
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} query={case.query} "
                        f"headers={case.headers} body={case.body!r:.200} -> "
                        f"{response.status_code}: {response.text[:300]}"
                    )

            check()
    assert failures == []
