"""The live service against its own OpenAPI document (schemathesis): every built-in
check, including negative_data_rejection, positive_data_acceptance and use_after_free, on
positive and negative cases for each operation; a stateful run that follows the links
chat → session → delete and chat → task; and `st run` with schemathesis.toml (JUnit).

Exclusions, each with its reason:
- POST /a2a/{agentId} is JSON-RPC 2.0: an invalid request is answered inside a 200
  response with a JSON-RPC error (A2A spec), so negative_data_rejection, which expects a
  4xx, does not apply to it. Its JSON-RPC errors are tested in test_behaviour and unit tests.

The schemathesis pytest plugin (`from_fixture`) fails under pytest 9 ('Function' object
has no attribute '_nodeid'), so each operation is driven through Hypothesis directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import negative_data_rejection

from lucia.openapi import build_openapi
from lucia_deploy.verify import junit_cases
from tests.support.deployed import Deployed

SEED = int(os.environ.get("LUCIA_CONTRACT_SEED", "20261127"))
EXAMPLES = int(os.environ.get("LUCIA_CONTRACT_EXAMPLES", "40"))
JSON_RPC = "/a2a/{agentId}"
REPO = Path(__file__).resolve().parents[2]

load_all_checks()
ALL_CHECKS = CHECKS.get_all()
# The operations as the code documents them, so the test ids exist before a stack does.
OPERATIONS = sorted((method.upper(), path) for path, item in
                    build_openapi("0", 1, [], api_key_required=False)["paths"].items()
                    for method in item)
CASES = {"positive": 0, "negative": 0, "stateful": 0}


def excluded_for(path: str) -> list:
    return [negative_data_rejection] if path == JSON_RPC else []


CREATED: set[str] = set()  # sessions the contract run made (deleted when it ends)


def without_dry_run_parameter(document: dict[str, Any]) -> dict[str, Any]:
    """The live profile sends `X-Lucia-Dry-Run: true` on every request itself, so the
    schema's own parameter is taken out: generated cases must never send `false` (a real
    device would move) nor an invalid value in place of ours."""
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "parameters" in operation:
                operation["parameters"] = [p for p in operation["parameters"]
                                           if p.get("name") != "X-Lucia-Dry-Run"]
    return document


@pytest.fixture(scope="session")
def live_schema(deployed: Deployed) -> Iterator[schemathesis.BaseSchema]:
    schema = schemathesis.openapi.from_url(f"{deployed.url}/openapi.json", wait_for_schema=30)
    if deployed.live:
        schema = schemathesis.openapi.from_dict(without_dry_run_parameter(schema.raw_schema))
    yield schema
    # Every profile: a run leaves the stack's Redis as it found it (docs/capacity.md).
    deleted = deployed.forget(CREATED)
    print(f"\ncontract: deleted {deleted} of the {len(CREATED)} sessions it made")


def remember_session(response: Any) -> None:
    """Note the session a chat or A2A turn created, from its answer."""
    try:
        body = response.json()
    except ValueError:
        return
    if not isinstance(body, dict):
        return
    result = body.get("result")
    found = body.get("sessionId") or (result.get("contextId") if isinstance(result, dict)
                                      else None)
    if isinstance(found, str):
        CREATED.add(found)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_honours_the_contract(live_schema: schemathesis.BaseSchema,
                                        deployed: Deployed, method: str, path: str) -> None:
    operation = live_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE).map(lambda c: ("positive", c)),
        operation.as_strategy(GenerationMode.NEGATIVE).map(lambda c: ("negative", c)),
    )

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(cases)
    def run(labelled: tuple[str, schemathesis.Case]) -> None:
        mode, case = labelled
        CASES[mode] += 1
        response = case.call(base_url=deployed.url, headers=deployed.turn_headers())
        remember_session(response)
        case.validate_response(response, checks=ALL_CHECKS,
                               excluded_checks=excluded_for(path))

    run()


def test_stateful_links_chat_session_task(live_schema: schemathesis.BaseSchema,
                                          deployed: Deployed) -> None:
    machine = live_schema.as_state_machine()

    class Links(machine):  # type: ignore[misc,valid-type]  # built from the schema at run time
        def get_call_kwargs(self, case: schemathesis.Case) -> dict:
            return {"base_url": deployed.url, "headers": deployed.turn_headers()}

        def validate_response(self, response, case, **kwargs) -> None:
            CASES["stateful"] += 1
            remember_session(response)
            case.validate_response(response, checks=ALL_CHECKS,
                                   excluded_checks=excluded_for(case.operation.path))

    Links.run(settings=settings(max_examples=max(10, EXAMPLES // 2), deadline=None,
                                database=None, stateful_step_count=6,
                                suppress_health_check=list(HealthCheck)))
    assert CASES["stateful"] > 0, "the stateful run made no calls"


def test_st_run_with_the_project_config(deployed: Deployed, tmp_path: Path) -> None:
    """The CLI run operators use (schemathesis.toml): all phases, a JUnit report."""
    if deployed.live:
        pytest.skip("live profile: `st run` cannot send the dry-run header in place of the "
                    "generated one nor delete the sessions it creates; the contract run "
                    "above covers every operation, negative cases included")
    report = REPO / "reports" / deployed.stack / "schemathesis-junit.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    auth = ["-H", f"X-Api-Key: {deployed.api_key}"] if deployed.api_key else []
    result = subprocess.run(
        [str(Path(sys.executable).with_name("st")), "--config-file",
         str(REPO / "schemathesis.toml"), "run", f"{deployed.url}/openapi.json",
         "--seed", str(SEED), "--report", "junit", "--report-junit-path", str(report),
         *auth], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    cases = junit_cases(report)
    failed = [case.name for case in cases if case.outcome == "failed"]
    assert cases, "st run executed no test cases"
    assert not failed, f"st run: {len(failed)} of {len(cases)} cases failed: {failed[:5]}"
    print(f"\nst run: {summary.strip().splitlines()[-1]}")


def test_zz_report_case_counts() -> None:
    """Print how many contract cases ran (named to run last in this module)."""
    print(f"\nschemathesis: {CASES['positive']} positive and {CASES['negative']} negative "
          f"cases over {len(OPERATIONS)} operations, {CASES['stateful']} stateful calls "
          f"(seed {SEED}, {EXAMPLES} examples per operation)")
    assert CASES["positive"] > 0
    assert CASES["negative"] > 0
