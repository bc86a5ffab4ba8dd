"""The application's OpenAPI description, and every operation it lists called with inputs
generated from it: a valid OpenAPI 3.1 document in which every FHIR call but the
CapabilityStatement needs a credential and may be refused 401; no call answered with a
server error; no answer that breaks the schema the description gives it, and every FHIR
answer a valid resource. The API's answers (/fhir, /auth, /.well-known) also come with a
status, a media type and headers the description declares, and a call that succeeds with
the token is refused without it. A bounded run (two examples per operation and generation
mode, reproducible) as dr.martin's bearer token: once with generated ids, valid and invalid
inputs; once with valid inputs only, on the ids of the world's patient, entry and document,
with a search that finds them and an Observation to create.

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
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apicalls import FHIR_JSON, bearer, personal_token
from careworld import World, build_world
from coffre.access import Category
from coffre.bootstrap import Coffre
from coffre.web import create_app


def fhir_resource(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """An answer sent as application/fhir+json is one valid FHIR resource. The description
    gives FHIR answers their type only, so the schema check alone says little about them."""
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
# The pages are described only as FastAPI sees them; the API is described in full.
API = ("/fhir/", "/auth/", "/.well-known/")
API_CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance]
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


def served(coffre: Coffre) -> Iterator[schemathesis.BaseSchema]:
    app = create_app(coffre)
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        # The lifespan the loader started would otherwise run until the process ends.
        shutdown_lifespans()


@pytest.fixture
def description(sqlite_coffre: Coffre) -> Iterator[schemathesis.BaseSchema]:
    """The description of an installation that holds nothing yet."""
    yield from served(sqlite_coffre)


@pytest.fixture
def schema(sqlite_coffre: Coffre, world: World) -> Iterator[schemathesis.BaseSchema]:
    yield from served(sqlite_coffre)


def ignored_auth_once() -> CheckFunction:
    """`ignored_auth`, probing each operation without and with bad credentials once per run
    (after its first success) rather than after every success."""
    enforced: set[str] = set()

    def check(
        ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
    ) -> bool | None:
        if ctx.auth_enforced_operations is None:
            ctx.auth_enforced_operations = enforced
        return ignored_auth(ctx, response, case)

    return check


def exercise(
    schema: schemathesis.BaseSchema,
    subtests: pytest.Subtests,
    headers: dict[str, str],
    ids: dict[str, str] | None = None,
    searches: dict[str, dict[str, str]] | None = None,
    bodies: dict[str, dict[str, object]] | None = None,
    *,
    negative: bool = True,
) -> int:
    """Call every operation with generated inputs, positive and (unless told not to)
    negative, checking each answer. The path parameters named in `ids` are fixed, and so
    are part of the query of the GET operations in `searches` and the body of the POST
    operations in `bodies` (generated values would hardly ever match a record or make a
    valid resource). Returns the number of calls."""
    calls = 0
    api_checks = [*CHECKS, *API_CHECKS, ignored_auth_once()]
    for result in schema.get_all_operations():
        assert isinstance(result, Ok)
        operation = result.ok()
        path = {k: v for k, v in (ids or {}).items() if f"{{{k}}}" in operation.path}
        query = (searches or {}).get(operation.path) if operation.method == "get" else None
        body = (bodies or {}).get(operation.path) if operation.method == "post" else None
        fixed = {"body": body, "media_type": FHIR_JSON} if body is not None else {}
        for mode in modes_of(operation) if negative else [schemathesis.GenerationMode.POSITIVE]:
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=path or None, query=query, **fixed
            )

            @BOUNDED
            @given(case=strategy)
            def call(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                api = case.operation.path.startswith(API)
                case.call_and_validate(headers=headers, checks=api_checks if api else CHECKS)

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
    draws before giving up), and neither have the credentials, which the run sends."""
    constrained = any(
        set(p.definition.get("schema", {})) - {"type", "title", "description"}
        or p.definition.get("schema", {}).get("type") != "string"
        for p in operation.path_parameters
    )
    schemes = operation.schema.raw_schema.get("components", {}).get("securitySchemes", {})
    credentials = {"Authorization"} | {s["name"] for s in schemes.values() if "name" in s}
    inputs = [
        *operation.query,
        *(p for p in [*operation.headers, *operation.cookies] if p.name not in credentials),
    ]
    if constrained or inputs or len(operation.body):
        return list(schemathesis.GenerationMode)
    return [schemathesis.GenerationMode.POSITIVE]


def fhir_operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        if path.startswith("/fhir/")
        for method, operation in operations.items()
    ]


def test_the_description_is_a_valid_openapi_3_1_document(description):
    assert description.raw_schema["openapi"].startswith("3.1")
    description.validate()  # against the OpenAPI 3.1 meta-schema; raises if it breaks it
    operations = list(description.get_all_operations())
    assert operations and all(isinstance(o, Ok) for o in operations)
    paths = {o.ok().path for o in operations}
    assert {"/fhir/metadata", "/fhir/Patient/{patient_id}", "/fhir/Observation"} <= paths
    # Every FHIR call but the CapabilityStatement needs a token or a session, and may be
    # refused 401 with an OperationOutcome and a challenge.
    document = description.raw_schema
    schemes = document["components"]["securitySchemes"]
    token, cookie = schemes["bearer"], schemes["session"]
    assert (token["type"], token["scheme"]) == ("http", "bearer")
    assert (cookie["type"], cookie["in"], cookie["name"]) == (
        "apiKey",
        "cookie",
        "__Host-coffre-session",
    )
    outcome = {"$ref": "#/components/schemas/OperationOutcome"}
    for method, path, operation in fhir_operations(document):
        if path == "/fhir/metadata":
            assert not operation.get("security"), "the CapabilityStatement is open"
            continue
        assert operation["security"] == [{"bearer": []}, {"session": []}], (method, path)
        refused = operation["responses"]["401"]
        assert refused["content"][FHIR_JSON]["schema"] == outcome, (method, path)
        assert refused["headers"]["WWW-Authenticate"]["required"], (method, path)
    for path in ("/.well-known/smart-configuration", "/auth/token", "/auth/login"):
        assert all(not o.get("security") for o in document["paths"][path].values())


def test_the_description_and_the_capability_statement_name_the_same_interactions(description):
    described = {
        (o["x-fhir-type"], o["x-fhir-interaction"])
        for _, _, o in fhir_operations(description.raw_schema)
        if "x-fhir-type" in o and o["x-fhir-interaction"] != "operation"
    }
    metadata = description["/fhir/metadata"]["GET"].Case().call()
    [rest] = metadata.json()["rest"]
    stated = {(r["type"], i["code"]) for r in rest["resource"] for i in r["interaction"]}
    assert described == stated
    searches = {
        (o["x-fhir-type"], p["name"])
        for _, _, o in fhir_operations(description.raw_schema)
        if o["x-fhir-interaction"] == "search-type"
        for p in o["parameters"]
        if p["in"] == "query" and not p["name"].startswith("_")
    }
    named = {(r["type"], p["name"]) for r in rest["resource"] for p in r.get("searchParam", [])}
    assert searches == named


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
    heart_rate = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Heart rate"},
        "subject": {"reference": f"Patient/{world.patient_id}"},
        "valueQuantity": {"value": 72, "unit": "/min"},
    }
    # Valid inputs only: invalid ones are refused before any record is looked at, and the
    # run with generated ids already sends them.
    calls = exercise(
        schema, subtests, headers, ids, searches, {"/fhir/Observation": heart_rate}, negative=False
    )
    assert 0 < calls <= EXAMPLES * len(schema)
