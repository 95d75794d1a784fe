"""Generated requests, from the plugin's own OpenAPI document, all get answers it describes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, Failure, FailureGroup, load_all_checks

from example_app import close_app, create_app
from flask_import_abort import InMemoryImportRegistry

from ..helpers import SECRET, host

#: Cases per run of each test below; four runs make 1,200 cases per `make test`.
CASES = 300
#: The fewest a run may send. Hypothesis ends a run after ten draws a case at most, and in
#: negative mode schemathesis rejects the draws it cannot make invalid, so a negative run may
#: end a few cases short of CASES (289 was seen once on the lowest versions).
AT_LEAST = CASES * 9 // 10
load_all_checks()
#: Every check schemathesis has, as its CLI's ``-c all`` runs them.
ALL_CHECKS = CHECKS.get_all()
AUTHORIZED = {"Authorization": f"Bearer {SECRET}"}


def fuzz(
    app: Flask,
    mode: GenerationMode,
    headers: dict[str, str],
    operation_path: tuple[str, str] = ("/ccadmin/v1/importProcess/{token}/abort", "POST"),
) -> tuple[Counter[int], list[str]]:
    """Send ``CASES`` generated requests to the operation at ``operation_path`` (the import's
    abort by default); the statuses and the failures."""
    schema = schemathesis.openapi.from_wsgi(app.config["IMPORT_ABORT_OPENAPI_URL"], app)
    path, method = operation_path
    operation = schema[path][method]
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Any) -> None:
        response = case.call(headers=headers)
        statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=ALL_CHECKS, headers=headers)
        except (Failure, FailureGroup) as failure:
            failures.append(f"{response.status_code} for {case.as_curl_command()}: {failure}")

    send()
    return statuses, failures


@pytest.fixture
def example_app(tmp_path: Path) -> Iterator[Flask]:
    database = f"sqlite:///{tmp_path / 'imports.db'}"
    app = create_app({"DEMO_BEARER_TOKEN": SECRET, "DEMO_DATABASE_URL": database})
    yield app
    close_app(app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_authorized_requests_get_documented_answers(
    example_app: Flask, mode: GenerationMode
) -> None:
    statuses, failures = fuzz(example_app, mode, AUTHORIZED)

    assert failures == []
    assert AT_LEAST <= statuses.total() <= CASES
    assert statuses.keys() <= {200, 400, 401, 404, 409, 413, 415}
    assert statuses[404] > 0  # generated tokens reached the registry


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_unauthorized_requests_are_all_documented_401s(
    example_app: Flask, mode: GenerationMode
) -> None:
    statuses, failures = fuzz(example_app, mode, {})

    assert failures == []
    assert statuses.keys() == {401}
    assert AT_LEAST <= statuses[401] <= CASES


#: The export operations, and what each may answer.
EXPORT_OPERATIONS = {
    "abortExportProcess": (
        ("/ccadmin/v1/exportProcess/{token}/abort", "POST"),
        {200, 400, 401, 404, 409, 413, 415},
    ),
    "getExportProcess": (("/ccadmin/v1/exportProcess/{token}", "GET"), {200, 400, 401, 404}),
}


@pytest.mark.parametrize("operation", EXPORT_OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_to_the_export_operations_get_documented_answers(
    mode: GenerationMode, operation: str
) -> None:
    registry = InMemoryImportRegistry()
    registry.register(kind="export", token="export_1")
    registry.register(token="import_1")
    config = {"IMPORT_ABORT_EXPORTS": True, "IMPORT_ABORT_STATUS_ROUTE": True}
    operation_path, answers = EXPORT_OPERATIONS[operation]

    statuses, failures = fuzz(host(config, registry=registry), mode, AUTHORIZED, operation_path)

    assert failures == []
    assert AT_LEAST <= statuses.total() <= CASES
    assert statuses.keys() <= answers
    assert statuses[404] > 0  # generated tokens reached the registry
    assert not registry.snapshot("import_1").abort_requested


class _Broken(InMemoryImportRegistry):
    def abort(self, token: str) -> Any:
        return "aborted, probably"


def test_the_fuzzing_reports_answers_the_document_forbids() -> None:
    statuses, failures = fuzz(host(registry=_Broken()), GenerationMode.POSITIVE, AUTHORIZED)

    assert statuses[500] > 0
    assert failures
    assert all("Server error" in failure for failure in failures if failure.startswith("500"))
