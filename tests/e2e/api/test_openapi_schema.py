"""The application's OpenAPI description, and every operation it lists called with inputs
generated from it: a valid OpenAPI 3.1 document; no call answered with a server error; no
answer that breaks the schema the description gives it, and every FHIR answer a valid
resource. A bounded run (two examples per operation and generation mode, reproducible) as
dr.martin's bearer token: once with generated ids, once with the ids of the world's
patient, entry and document and with a search that finds them.

Each operation is a subtest driving its own Hypothesis strategy: the installation the app
serves is a per-test fixture, and `schemathesis.pytest.from_fixture` does not run under
pytest 9 (it reads `Node._nodeid`, which pytest 9 no longer has)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import schemathesis
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance

from apicalls import FHIR_JSON, bearer, personal_token
from careworld import World, build_world
from coffre.access import Category
from coffre.bootstrap import Coffre
from coffre.web import create_app


def fhir_resource(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """An answer sent as application/fhir+json is one valid FHIR resource. The description
    gives FHIR answers no schema (`{}`), so the schema check alone says nothing about them."""
    media = ",".join(response.headers.get("content-type", [])).split(";")[0].strip()
    if media != FHIR_JSON:
        return
    body = json.loads(response.content)
    assert isinstance(body, dict) and "resourceType" in body, f"not a resource: {body!r:.200}"
    try:
        get_fhir_model_class(body["resourceType"]).model_validate(body)
    except ValueError as exc:  # an unknown type, or pydantic's ValidationError
        raise AssertionError(f"not a valid FHIR {body['resourceType']}: {exc}") from None


CHECKS = [not_a_server_error, response_schema_conformance, fhir_resource]
EXAMPLES = 2
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # a failure is shown as found, not shrunk
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def world(sqlite_coffre: Coffre) -> World:
    return build_world(sqlite_coffre)


@pytest.fixture
def schema(sqlite_coffre: Coffre, world: World) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(sqlite_coffre)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        # The lifespan the loader started would otherwise run until the process ends.
        shutdown_lifespans()


def exercise(
    schema: schemathesis.BaseSchema,
    subtests: pytest.Subtests,
    headers: dict[str, str],
    ids: dict[str, str] | None = None,
    searches: dict[str, dict[str, str]] | None = None,
) -> int:
    """Call every operation with generated inputs, positive and negative, checking each
    answer. The path parameters named in `ids` are fixed, and so is the query of the GET
    operations in `searches` (the description names no search parameter, so nothing would
    reach a search otherwise). Returns the number of calls."""
    calls = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        path = {k: v for k, v in (ids or {}).items() if f"{{{k}}}" in operation.path}
        query = (searches or {}).get(operation.path) if operation.method == "get" else None
        for mode in modes_of(operation):
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=path or None, query=query
            )

            @BOUNDED
            @given(case=strategy)
            def call(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                case.call_and_validate(headers=headers, checks=CHECKS)

            with subtests.test(msg=f"{operation.label} ({mode.value})"):
                try:
                    call()
                except Unsatisfiable:
                    if mode is schemathesis.GenerationMode.POSITIVE:
                        raise
                    pytest.skip("every input the description allows is valid: none is negative")
    return calls


def modes_of(operation: schemathesis.APIOperation) -> list[schemathesis.GenerationMode]:
    """Valid inputs for every operation; invalid ones too for those where some exist. A path
    parameter that is any string has no invalid value (schemathesis would try hundreds of
    draws before giving up)."""
    constrained = any(
        set(p.definition.get("schema", {})) - {"type", "title", "description"}
        or p.definition.get("schema", {}).get("type") != "string"
        for p in operation.path_parameters
    )
    others = (operation.query, operation.headers, operation.cookies, operation.body)
    if constrained or any(len(part) for part in others):
        return list(schemathesis.GenerationMode)
    return [schemathesis.GenerationMode.POSITIVE]


def test_the_description_is_a_valid_openapi_3_1_document(schema):
    assert schema.raw_schema["openapi"].startswith("3.1")
    schema.validate()  # against the OpenAPI 3.1 meta-schema; raises if it breaks it
    operations = list(schema.get_all_operations())
    assert operations and all(isinstance(o, Ok) for o in operations)
    paths = {o.ok().path for o in operations}
    assert {"/fhir/metadata", "/fhir/Patient/{patient_id}", "/fhir/Observation"} <= paths


def test_no_call_with_generated_ids_fails(schema, subtests, sqlite_coffre, world):
    headers = bearer(personal_token(sqlite_coffre, world.clinic, "dr.martin", "user/*.cruds"))
    calls = exercise(schema, subtests, headers)
    assert 0 < calls <= 2 * EXAMPLES * len(schema)


def test_no_call_on_the_worlds_records_fails(schema, subtests, sqlite_coffre, world):
    headers = bearer(personal_token(sqlite_coffre, world.clinic, "dr.martin", "user/*.cruds"))
    ids = {
        "patient_id": world.patient_id,
        "entry_id": world.entry_ids[Category.RESULTS],
        "document_id": world.document_id,
    }
    patient = {"patient": world.patient_id}
    searches = {
        "/fhir/Patient": {"family": "Lefèvre", "birthdate": "1985-05-12"},
        "/fhir/Observation": {**patient, "_count": "1"},
        "/fhir/Condition": {**patient, "date": "ge2000-01-01"},
        "/fhir/DocumentReference": {**patient, "category": "documents"},
        "/fhir/AuditEvent": {**patient, "_count": "2"},
        "/fhir/EpisodeOfCare": patient,
        "/fhir/$eligibility": {"member": "MT-0001", "date": "2026-01-10"},
        "/fhir/$usage": {"since": "2026-01-01", "until": "2026-02-01"},
    }
    calls = exercise(schema, subtests, headers, ids, searches)
    assert 0 < calls <= 2 * EXAMPLES * len(schema)
