"""Who reaches what through the FHIR API: every endpoint against every kind of caller, each
row generated from the one table below and run against one world.

Every refusal is an OperationOutcome naming its rule; every search that hides a patient
answers like a search that found nobody; and no identifying value of a patient reaches a
caller who may not see that patient, in any response, allowed or refused.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.parameters import Parameters

from apicalls import FHIR_JSON, bearer, ids, new_consent, personal_token, problem, searchset
from careworld import PDF, World, account, build_world
from coffre import journal, records, signin
from coffre.access import Category, Decision, Purpose, RelationshipKind
from coffre.bootstrap import Coffre, initialise, open_coffre
from coffre.config import load_settings
from coffre.identity import Actor, local_operator
from coffre.records import NIR_SYSTEM
from coffre.web import create_app
from factories import lines_of, nir, patient
from machineclients import AUDIENCE, KEY, assertion, jwks

pytestmark = pytest.mark.anyio

# Patient B: names and numbers found nowhere else in the world, so that finding one of them
# in a response can only mean that B's record was read.
PATIENT_B = patient(
    family="Zanzibarova",
    given="Quillon",
    birth_date="1962-11-03",
    gender="male",
    national=(NIR_SYSTEM, nir(sex=1, year=62, month=11, department="75", serial=777)),
    email="q.zanzibarova@example.net",
    phone="+33698765432",
    address="7 impasse des Ormeaux",
)
# A patient imported only to be erased by the data-protection officer.
THROWAWAY = patient(
    family="Jetable",
    given="Ephemere",
    birth_date="1990-02-14",
    national=(NIR_SYSTEM, nir(sex=2, year=90, month=2, department="13", serial=888)),
    email="jetable@example.com",
    phone="+33711223344",
    address=None,
)
# A new patient whom the clinic's reception registers.
NEWCOMER = patient(
    family="Nouvelarrivee",
    given="Clementine",
    birth_date="2001-07-21",
    gender="female",
    national=(NIR_SYSTEM, nir(sex=2, year=1, month=7, department="69", serial=432)),
    email="c.nouvelarrivee@example.org",
    phone="+33655443322",
    address="3 rue des Tanneurs",
)
NEW_CONDITION = {
    "resourceType": "Condition",
    "clinicalStatus": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
        ]
    },
    "code": {"text": "Asthma"},
}
NEW_RESULT = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "Potassium"},
    "valueString": "4.1 mmol/L",
}


@dataclass(frozen=True)
class Caller:
    label: str
    # Which of patient A's and patient B's identifying values may reach this caller.
    sees_a: frozenset[str] = frozenset()
    sees_b: frozenset[str] = frozenset()
    # For a caller without a valid credential: what the 401 says.
    unauthenticated: str | None = None


EVERY_VALUE = frozenset({"id", "family", "given", "nir", "email", "phone", "address"})

# The table's columns, in order.
CALLERS: dict[str, Caller] = {
    "anon": Caller("no credential at all", unauthenticated="bearer token"),
    "exp": Caller("dr.martin's personal token, expired", unauthenticated="expired"),
    "susp": Caller(
        "a physician with a relationship with A, whose account was then suspended",
        unauthenticated="suspended",
    ),
    "pat-a": Caller("patient A's own account (user/*.cruds)", sees_a=EVERY_VALUE),
    "a-tok": Caller("patient A's own account, a user/Patient.rs token", sees_a=EVERY_VALUE),
    "pat-b": Caller("patient B's own account (user/*.cruds)", sees_b=EVERY_VALUE),
    "rel": Caller("dr.martin, physician with an appointment with A", sees_a=EVERY_VALUE),
    "staff": Caller("acc.petit, receptionist with an appointment with A", sees_a=EVERY_VALUE),
    "norel": Caller("dr.bernard, physician with no relationship"),
    "excl": Caller("dr.morel, physician who had an appointment with A, then was excluded"),
    "insur": Caller("agent.mutuelle, the insurer's agent"),
    # The lab's contract covers the clinic's results: it reads A's results, which name A.
    "lab": Caller("the lab's client, system/Observation.crs", sees_a=frozenset({"id"})),
    "lab-x": Caller("the lab's client, system/Patient.rs and no Observation scope"),
    "dpo": Caller("dpo.parc, the clinic's data-protection officer"),
}

# What a 403 cell stands for: the rule the refusal names (None: the refusal may not say
# why, and says only "Not allowed.").
RULES: dict[str, str | None] = {
    "own": "patient-own-record",
    "hist": "patient-own-history",
    "rel": "no-care-relationship",
    "mtx": "profession-matrix",
    "excl": None,
    "ins": "insurer-scope",
    "tok": "token-scope",
    "ctr": "contract-scope",
    "deny": "default-deny",
    "erase": "erasure-role",
    "reg": "registration-role",
    "regm": "registration-matrix",
    "pown": "patient-own-choice",
    "setup": "organisation-setup",
}

# One row per endpoint, one column per caller. A cell is a status (401 for a missing or
# refused credential, 200/201/204 for a success), a rule of RULES (403 naming that rule),
# or {…}: a 200 searchset holding exactly these resources of the world (A, B, the entries
# notes, mental, rx and res, the document doc; {all}: all of A's that the endpoint
# returns; {}: none).
TABLE = """
endpoint      anon  exp   susp  pat-a a-tok pat-b rel   staff norel excl  insur lab   lab-x dpo
read-A        401   401   401   200   200   own   200   200   rel   excl  ins   tok   ctr   deny
vread-A       401   401   401   200   200   own   200   200   rel   excl  ins   tok   ctr   deny
read-B        401   401   401   own   own   200   rel   rel   rel   rel   ins   tok   ctr   deny
read-missing  401   401   401   own   own   own   rel   rel   rel   rel   ins   tok   ctr   deny
history-A     401   401   401   200   200   own   200   200   rel   excl  ins   tok   ctr   deny
register      401   401   401   reg   tok   reg   regm  201   regm  regm  reg   tok   tok   reg
search-A      401   401   401   {A}   {A}   {}    {A}   {A}   {}    {}    ins   tok   {}    {}
search-B      401   401   401   {}    {}    {B}   {}    {}    {}    {}    ins   tok   {}    {}
update-A      401   401   401   own   tok   own   mtx   200   rel   excl  ins   tok   tok   deny
erase-T       401   401   401   erase tok   erase erase erase erase erase erase tok   tok   204
everything-A  401   401   401   {all} {A}   own   {all} {A}   rel   excl  ins   {res} {}    deny
obs-search-A  401   401   401   {all} tok   own   {all} {}    rel   excl  ins   {res} tok   deny
obs-create-A  401   401   401   own   tok   own   201   mtx   rel   excl  ins   201   tok   deny
obs-read      401   401   401   200   tok   own   200   mtx   rel   excl  ins   200   tok   deny
cond-search-A 401   401   401   {all} tok   own   {all} {}    rel   excl  ins   tok   tok   deny
doc-search-A  401   401   401   {all} tok   own   {all} {}    rel   excl  ins   tok   tok   deny
doc-read      401   401   401   200   tok   own   200   mtx   rel   excl  ins   tok   tok   deny
binary-read   401   401   401   200   tok   own   200   mtx   rel   excl  ins   tok   tok   deny
binary-create 401   401   401   own   tok   own   201   mtx   rel   excl  ins   tok   tok   deny
audit-A       401   401   401   200   tok   hist  deny  deny  deny  deny  deny  tok   tok   deny
eligibility   401   401   401   ins   tok   ins   ins   ins   ins   ins   200   tok   tok   ins
usage         401   401   401   ins   tok   ins   ins   ins   ins   ins   200   tok   tok   ins
care-teams    401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
consent-A     401   401   401   200   tok   pown  pown  pown  pown  excl  deny  tok   tok   deny
consent-read  401   401   401   200   tok   pown  pown  pown  pown  excl  deny  tok   tok   deny
consent-put   401   401   401   200   tok   pown  pown  pown  pown  excl  deny  tok   tok   deny
episodes-A    401   401   401   200   tok   pown  pown  pown  pown  excl  deny  tok   tok   deny
care-team-put 401   401   401   setup tok   setup setup setup setup setup setup tok   tok   setup
metadata      200   200   200   200   200   200   200   200   200   200   200   200   200   200
cond-read     401   401   401   200   tok   own   200   mtx   rel   excl  ins   tok   tok   deny
practitioners 401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
pract-read    401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
roles         401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
orgs          401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
org-read      401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
care-team     401   401   401   200   tok   200   200   200   200   200   200   tok   tok   200
consent-post  401   401   401   200   tok   pown  pown  pown  pown  excl  deny  tok   tok   deny
cond-create-A 401   401   401   own   tok   own   201   mtx   rel   excl  ins   tok   tok   deny
docref-create 401   401   401   own   tok   own   201   mtx   rel   excl  ins   tok   tok   deny
"""


@dataclass
class Scene:
    """The world, the patients' ids and identifying values, and every caller's headers."""

    world: World
    ids: dict[str, str]  # A, B, T, missing, notes, mental, rx, res, doc, morel
    values: dict[str, dict[str, str]]  # "A" and "B": name of a value -> the value
    headers: dict[str, dict[str, str]]  # caller -> the headers of its requests
    patient_a: dict[str, Any]  # as stored: the body of the update
    created: set[str] = field(default_factory=set)  # entries created by the rows


def _success_of(resource_type: str, symbol: str) -> Callable[[Scene, httpx.Response], None]:
    def check(scene: Scene, response: httpx.Response) -> None:
        assert response.headers["content-type"].startswith(FHIR_JSON)
        body = response.json()
        assert (body["resourceType"], body["id"]) == (resource_type, scene.ids[symbol])

    return check


def _updated(scene: Scene, response: httpx.Response) -> None:
    _success_of("Patient", "A")(scene, response)
    assert response.headers["etag"].startswith('W/"')


def _erased(scene: Scene, response: httpx.Response) -> None:
    assert response.content == b""


def _created(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert response.headers["location"].endswith(f"/fhir/Observation/{body['id']}")
    assert body["subject"] == {"reference": f"Patient/{scene.ids['A']}"}
    scene.created.add(body["id"])


def _entry_read(scene: Scene, response: httpx.Response) -> None:
    _success_of("Observation", "res")(scene, response)
    assert response.json()["subject"] == {"reference": f"Patient/{scene.ids['A']}"}


def _content(scene: Scene, response: httpx.Response) -> None:
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == PDF


def _uploaded(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert (body["resourceType"], body["subject"]) == (
        "DocumentReference",
        {"reference": f"Patient/{scene.ids['A']}"},
    )
    assert response.headers["location"].endswith(f"/fhir/Binary/{body['id']}")
    assert body["content"][0]["attachment"]["size"] == len(PDF)


def _history(scene: Scene, response: httpx.Response) -> None:
    bundle = searchset(response)
    events = [e["resource"] for e in response.json()["entry"]]
    assert events and len(events) == len(bundle.entry or [])
    about_a = {"reference": f"Patient/{scene.ids['A']}"}
    for event in events:
        assert event["resourceType"] == "AuditEvent"
        assert about_a in [entity.get("what") for entity in event["entity"]], event


def _versions(scene: Scene, response: httpx.Response) -> None:
    bundle = response.json()
    assert bundle["type"] == "history"
    [entry] = bundle["entry"]
    assert (entry["resource"]["id"], entry["resource"]["resourceType"]) == (
        scene.ids["A"],
        "Patient",
    )
    assert entry["response"]["etag"] == f'W/"{entry["resource"]["meta"]["versionId"]}"'


def _registered(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert body["resourceType"] == "Patient" and body["id"] not in scene.ids.values()
    assert response.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")
    assert body["meta"]["versionId"] == "1"


def _choices(scene: Scene, response: httpx.Response) -> None:
    [consent] = [e.resource for e in searchset(response).entry]
    assert (consent.status, consent.patient.reference) == ("active", f"Patient/{scene.ids['A']}")
    [denial] = consent.provision.provision
    assert denial.type == "deny" and denial.actor[0].reference.reference.startswith("Practitioner/")


def _consent_of_a(scene: Scene) -> dict[str, Any]:
    """A's Consent as it is read (consent given, dr.morel excluded): sending it back
    changes nothing, so the row leaves the world as the other rows expect it."""
    performer = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    excluded = {"reference": f"Practitioner/{scene.ids['morel']}"}
    return {
        "resourceType": "Consent",
        "id": f"sharing-{scene.ids['A']}",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": f"Patient/{scene.ids['A']}"},
        "provision": {
            "type": "permit",
            "provision": [
                {
                    "type": "deny",
                    "actor": [
                        {
                            "role": {"coding": [{"system": performer, "code": "PRF"}]},
                            "reference": excluded,
                        }
                    ],
                }
            ],
        },
    }


def _consent(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert (body["resourceType"], body["id"]) == ("Consent", f"sharing-{scene.ids['A']}")
    assert body["provision"] == _consent_of_a(scene)["provision"]
    assert response.headers["etag"] == f'W/"{body["meta"]["versionId"]}"'


def _episodes(scene: Scene, response: httpx.Response) -> None:
    episodes = [e.resource for e in searchset(response).entry]
    assert episodes
    assert {e.patient.reference for e in episodes} == {f"Patient/{scene.ids['A']}"}


def _directory(scene: Scene, response: httpx.Response) -> None:
    assert searchset(response).type == "searchset"


def _covered(scene: Scene, response: httpx.Response) -> None:
    answer = Parameters.model_validate(response.json())
    assert {p.name: p.valueBoolean for p in answer.parameter if p.name == "covered"} == {
        "covered": True
    }


def _figures(scene: Scene, response: httpx.Response) -> None:
    answer = Parameters.model_validate(response.json())
    assert {p.name for p in answer.parameter} >= {"since", "until", "members"}


def _capability(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert (body["resourceType"], body["fhirVersion"]) == ("CapabilityStatement", "4.0.1")


def _created_as(kind: str) -> Callable[[Scene, httpx.Response], None]:
    def check(scene: Scene, response: httpx.Response) -> None:
        body = response.json()
        assert response.headers["location"].endswith(f"/fhir/{kind}/{body['id']}")
        assert body["subject"] == {"reference": f"Patient/{scene.ids['A']}"}
        scene.created.add(body["id"])

    return check


def _consent_post_of_a(scene: Scene) -> dict[str, Any]:
    return new_consent(scene.ids["A"], "active")


def _consent_kept(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert (body["resourceType"], body["status"]) == ("Consent", "active")


def _pdf_reference_of_a(scene: Scene) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "subject": {"reference": f"Patient/{scene.ids['A']}"},
        "description": "Compte rendu",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(PDF).decode(),
                    "title": "compte-rendu.pdf",
                }
            }
        ],
    }


def _referenced(scene: Scene, response: httpx.Response) -> None:
    body = response.json()
    assert (body["resourceType"], body["subject"]) == (
        "DocumentReference",
        {"reference": f"Patient/{scene.ids['A']}"},
    )
    scene.created.add(body["id"])


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with Scene.ids
    body: Callable[[Scene], dict[str, Any]] | None = None
    everything: frozenset[str] = frozenset()  # what {all} stands for
    check: Callable[[Scene, httpx.Response], None] | None = None  # of a success
    upload: bool = False  # sends a PDF as itself for patient A (POST Binary), not JSON


def _same_team(scene: Scene) -> dict[str, Any]:
    """The scene's care team with its one member, dr.bernard, unchanged."""
    member = {"reference": f"Practitioner/{scene.world.colleague.id}"}
    return {
        "resourceType": "CareTeam",
        "id": scene.ids["team"],
        "participant": [{"member": member}],
    }


ENDPOINTS: dict[str, Endpoint] = {
    "read-A": Endpoint("GET", "/fhir/Patient/{A}", check=_success_of("Patient", "A")),
    "read-B": Endpoint("GET", "/fhir/Patient/{B}", check=_success_of("Patient", "B")),
    "read-missing": Endpoint("GET", "/fhir/Patient/{missing}"),
    "history-A": Endpoint("GET", "/fhir/Patient/{A}/_history", check=_versions),
    "register": Endpoint("POST", "/fhir/Patient", body=lambda _: NEWCOMER, check=_registered),
    "search-A": Endpoint("GET", "/fhir/Patient?family=Lefèvre&birthdate=1985-05-12"),
    "search-B": Endpoint("GET", "/fhir/Patient?family=Zanzibarova&birthdate=1962-11-03"),
    "update-A": Endpoint(
        "PUT", "/fhir/Patient/{A}", body=lambda scene: scene.patient_a, check=_updated
    ),
    "erase-T": Endpoint("DELETE", "/fhir/Patient/{T}?reason=subject-request", check=_erased),
    "everything-A": Endpoint(
        "GET",
        "/fhir/Patient/{A}/$everything",
        everything=frozenset({"A", "notes", "mental", "rx", "res", "doc"}),
    ),
    "obs-search-A": Endpoint(
        "GET", "/fhir/Observation?patient={A}", everything=frozenset({"notes", "rx", "res"})
    ),
    "obs-create-A": Endpoint(
        "POST",
        "/fhir/Observation",
        body=lambda scene: {**NEW_RESULT, "subject": {"reference": f"Patient/{scene.ids['A']}"}},
        check=_created,
    ),
    "obs-read": Endpoint("GET", "/fhir/Observation/{res}", check=_entry_read),
    "cond-search-A": Endpoint(
        "GET", "/fhir/Condition?patient={A}", everything=frozenset({"mental"})
    ),
    "doc-search-A": Endpoint(
        "GET", "/fhir/DocumentReference?patient={A}", everything=frozenset({"doc"})
    ),
    "doc-read": Endpoint(
        "GET", "/fhir/DocumentReference/{doc}", check=_success_of("DocumentReference", "doc")
    ),
    "binary-read": Endpoint("GET", "/fhir/Binary/{doc}", check=_content),
    # After every row that lists A's documents: the one it adds is in none of them.
    "binary-create": Endpoint("POST", "/fhir/Binary", check=_uploaded, upload=True),
    "audit-A": Endpoint("GET", "/fhir/AuditEvent?patient={A}", check=_history),
    "eligibility": Endpoint("GET", "/fhir/$eligibility?member=MT-0001", check=_covered),
    "usage": Endpoint("GET", "/fhir/$usage?since=2026-01-01&until=2026-02-01", check=_figures),
    "care-teams": Endpoint("GET", "/fhir/CareTeam", check=_directory),
    "consent-A": Endpoint("GET", "/fhir/Consent?patient={A}", check=_choices),
    "episodes-A": Endpoint("GET", "/fhir/EpisodeOfCare?patient={A}", check=_episodes),
    "consent-read": Endpoint("GET", "/fhir/Consent/sharing-{A}", check=_consent),
    "consent-put": Endpoint("PUT", "/fhir/Consent/sharing-{A}", body=_consent_of_a, check=_consent),
    # Nobody here administers the clinic: every caller is refused (test_fhir_care_team.py
    # has the administrator's update).
    "care-team-put": Endpoint("PUT", "/fhir/CareTeam/{team}", body=_same_team),
    # The CapabilityStatement is public: it names no one.
    "metadata": Endpoint("GET", "/fhir/metadata", check=_capability),
    # Its row comes before update-A's, which makes version 2: version 1 is kept until then.
    "vread-A": Endpoint("GET", "/fhir/Patient/{A}/_history/1", check=_success_of("Patient", "A")),
    "cond-read": Endpoint(
        "GET", "/fhir/Condition/{mental}", check=_success_of("Condition", "mental")
    ),
    "practitioners": Endpoint("GET", "/fhir/Practitioner", check=_directory),
    "pract-read": Endpoint(
        "GET", "/fhir/Practitioner/{martin}", check=_success_of("Practitioner", "martin")
    ),
    "roles": Endpoint("GET", "/fhir/PractitionerRole", check=_directory),
    "orgs": Endpoint("GET", "/fhir/Organization", check=_directory),
    "org-read": Endpoint(
        "GET", "/fhir/Organization/{clinic}", check=_success_of("Organization", "clinic")
    ),
    "care-team": Endpoint("GET", "/fhir/CareTeam/{team}", check=_success_of("CareTeam", "team")),
    # A's consent as it is: asked again, it changes nothing (200, not 201).
    "consent-post": Endpoint("POST", "/fhir/Consent", body=_consent_post_of_a, check=_consent_kept),
    # Last: what these add to A's record is in none of the lists above.
    "cond-create-A": Endpoint(
        "POST",
        "/fhir/Condition",
        body=lambda scene: {**NEW_CONDITION, "subject": {"reference": f"Patient/{scene.ids['A']}"}},
        check=_created_as("Condition"),
    ),
    "docref-create": Endpoint(
        "POST", "/fhir/DocumentReference", body=_pdf_reference_of_a, check=_referenced
    ),
}


def _table() -> dict[tuple[str, str], str]:
    """The table's cells by (endpoint, caller), checked to cover each pair once."""
    header, *rows = (line.split() for line in TABLE.strip().splitlines())
    assert tuple(header[1:]) == tuple(CALLERS), header
    cells: dict[tuple[str, str], str] = {}
    for endpoint, *row in rows:
        assert endpoint in ENDPOINTS and len(row) == len(CALLERS), endpoint
        for caller, cell in zip(CALLERS, row, strict=True):
            assert (endpoint, caller) not in cells, (endpoint, caller)
            cells[endpoint, caller] = cell
    assert {e for e, _ in cells} == set(ENDPOINTS)
    return cells


CELLS = _table()


def _rows() -> Iterator[Any]:
    for (endpoint, caller), cell in CELLS.items():
        yield pytest.param(endpoint, caller, cell, id=f"{endpoint}-by-{caller}")


def _identifying(resource: dict[str, Any]) -> dict[str, str]:
    [name] = resource["name"]
    [national] = resource["identifier"]
    telecom = {t["system"]: t["value"] for t in resource["telecom"]}
    values = {
        "id": resource["id"],
        "family": name["family"],
        "given": name["given"][0],
        "nir": national["value"],
        "email": telecom["email"],
        "phone": telecom["phone"],
    }
    if resource.get("address"):
        values["address"] = resource["address"][0]["line"][0]
    return values


def _physician_with_a_relationship(coffre: Coffre, world: World, username: str) -> Actor:
    doctor = account(coffre, world.clinic, username, "practitioner", "physician")
    records.start_relationship(
        coffre.uow(),
        coffre.vault,
        doctor,
        world.patient_id,
        RelationshipKind.APPOINTMENT,
        Purpose.CARE,
        professional=username,
    )
    return doctor


def _import(coffre: Coffre, world: World, resource: dict[str, Any]) -> str:
    [(_, patient_id)] = records.import_patients(
        coffre.uow(), coffre.vault, world.operator, lines_of([resource]), world.clinic
    ).imported
    return patient_id


def _lab_client(coffre: Coffre, world: World, scopes: str) -> str:
    """The access token of a new machine client of the lab with these scopes."""
    client = signin.add_client(
        coffre.uow(),
        local_operator(world.lab),
        world.lab,
        f"Results feed {scopes}",
        jwks(("k1", KEY.public_key())),
        scopes,
        expires_at=datetime.now(UTC) + timedelta(days=30),
        per_hour=1000,
        per_day=10_000,
    )
    issued = signin.client_token(
        coffre.uow(), assertion(client.id), audience=AUDIENCE, source="203.0.113.9"
    )
    return issued.access_token


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def matrix_coffre(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Coffre]:
    """One installation for the whole module (the rows read far more than they write), on
    SQLite, then on PostgreSQL (where the API's calls run side by side in threads)."""
    home: Path = tmp_path_factory.mktemp("matrix") / "home"
    url = f"sqlite:///{home / 'coffre.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("module_postgres_url")
    settings = load_settings(home, env={"COFFRE_DATABASE_URL": url})
    initialise(settings)
    coffre = open_coffre(settings)
    try:
        yield coffre
    finally:
        coffre.close()


@pytest.fixture(scope="module")
def scene(matrix_coffre: Coffre) -> Scene:
    coffre = matrix_coffre
    world = build_world(coffre)
    clinic, operator = world.clinic, world.operator
    patient_b, throwaway = _import(coffre, world, PATIENT_B), _import(coffre, world, THROWAWAY)
    account(coffre, clinic, "patient.zq", "patient", patient_id=patient_b)
    records.set_consent(
        coffre.uow(), coffre.vault, operator, patient_b, True, Purpose.PATIENT_REQUEST
    )
    account(coffre, clinic, "dpo.parc", "data-protection-officer")
    team = records.add_care_team(coffre.uow(), operator, clinic, "Soins", ["dr.bernard"])
    # A physician who read A's record, until A excluded him.
    excluded = _physician_with_a_relationship(coffre, world, "dr.morel")
    records.read_patient(coffre.uow(), coffre.vault, excluded, world.patient_id, Purpose.CARE)
    records.set_exclusion(
        coffre.uow(),
        coffre.vault,
        operator,
        world.patient_id,
        "dr.morel",
        True,
        Purpose.PATIENT_REQUEST,
    )

    # One entry naming A and B together, as a search that found both writes it: A's
    # history shows it, and nothing of B with it.
    with coffre.uow() as uow:
        journal.append(
            uow,
            [
                journal.Entry(
                    journal.EventKind.PATIENT_SEARCH,
                    operator,
                    Decision(True, "operator-identification", "the operator may search"),
                    journal.Outcome.SUCCESS,
                    Purpose.IDENTIFICATION,
                    (world.patient_id, patient_b),
                    ("index:family-birth", patient_b),
                )
            ],
        )
        uow.commit()

    def token(username: str, scopes: str = "user/*.cruds", organisation: str = clinic) -> str:
        return personal_token(coffre, organisation, username, scopes)

    # A token that worked until its account was suspended.
    _physician_with_a_relationship(coffre, world, "dr.roux")
    suspended = token("dr.roux")
    assert signin.token_actor(coffre.uow(), suspended).id is not None
    signin.suspend_account(coffre.uow(), local_operator(clinic), "dr.roux", "laptop stolen")
    # The same account and scopes as the "rel" column, issued two hours ago for one hour.
    expired, _ = signin.issue_personal_token(
        coffre.uow(),
        local_operator(clinic),
        "dr.martin",
        "user/*.cruds",
        timedelta(hours=1),
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    secrets = {
        "exp": expired,
        "susp": suspended,
        "pat-a": token("patient.hl"),
        "a-tok": token("patient.hl", "user/Patient.rs"),
        "pat-b": token("patient.zq"),
        "rel": token("dr.martin"),
        "staff": token("acc.petit"),
        "norel": token("dr.bernard"),
        "excl": token("dr.morel"),
        "insur": token("agent.mutuelle", organisation=world.insurer),
        "lab": _lab_client(coffre, world, "system/Observation.crs"),
        "lab-x": _lab_client(coffre, world, "system/Patient.rs"),
        "dpo": token("dpo.parc"),
    }
    headers = {caller: bearer(secrets[caller]) if caller in secrets else {} for caller in CALLERS}

    def stored(patient_id: str) -> dict[str, Any]:
        return records.read_patient(
            coffre.uow(), coffre.vault, operator, patient_id, Purpose.SUBJECT_ACCESS
        )

    patient_a = stored(world.patient_id)
    entries = world.entry_ids
    return Scene(
        world,
        {
            "A": world.patient_id,
            "B": patient_b,
            "T": throwaway,
            "missing": str(uuid.uuid4()),
            "notes": entries[Category.CLINICAL_NOTES],
            "mental": entries[Category.MENTAL_HEALTH],
            "rx": entries[Category.PRESCRIPTIONS],
            "res": entries[Category.RESULTS],
            "doc": world.document_id,
            "morel": excluded.id,
            "team": team,
            "martin": world.physician.id,
            "clinic": clinic,
        },
        {"A": _identifying(patient_a), "B": _identifying(stored(patient_b))},
        headers,
        patient_a,
    )


@pytest.fixture(scope="module")
def app(matrix_coffre: Coffre) -> FastAPI:
    return create_app(matrix_coffre)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def send(
    client: httpx.AsyncClient,
    scene: Scene,
    caller: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    upload: bool = False,
) -> httpx.Response:
    headers = dict(scene.headers[caller])
    content = None
    if body is not None:
        headers["Content-Type"] = FHIR_JSON
        content = json.dumps(body, ensure_ascii=False).encode()
    if upload:
        headers["Content-Type"] = "application/pdf"
        headers["X-Security-Context"] = f"Patient/{scene.ids['A']}"
        content = PDF
    return await client.request(method, path, headers=headers, content=content)


def assert_nothing_leaks(scene: Scene, caller: str, response: httpx.Response) -> None:
    """None of a patient's identifying values is in the response (body, decoded or not,
    and headers) unless the caller may see it, or sent it itself (a search echoes its
    terms in its `self` link; an update carries the resource)."""
    request = response.request
    sent = (unquote(str(request.url)) + " " + request.content.decode()).lower()
    text = response.content.decode("utf-8", "replace")
    seen = [text, unquote(text), *(f"{k}: {v}" for k, v in response.headers.items())]
    if response.headers.get("content-type", "").startswith(FHIR_JSON):
        seen.append(json.dumps(response.json(), ensure_ascii=False))
    haystack = "\n".join(seen).lower()
    who = CALLERS[caller]
    for name, values, sees in (
        ("A", scene.values["A"], who.sees_a),
        ("B", scene.values["B"], who.sees_b),
    ):
        for what, value in values.items():
            if what in sees or value.lower() in sent:
                continue
            assert value.lower() not in haystack, f"patient {name}'s {what} reached {who.label}"


def check_found(scene: Scene, wanted: frozenset[str], response: httpx.Response) -> None:
    """A searchset of exactly these resources of the world (and, where A's results are
    wanted, of the results the rows created for A), each about the patient searched."""
    got = ids(searchset(response))
    assert len(got) == len(set(got)), got
    expected = {scene.ids[symbol] for symbol in wanted}
    assert set(got) - scene.created == expected
    assert "res" in wanted or not set(got) & scene.created
    for entry in response.json()["entry"]:
        resource = entry["resource"]
        if "subject" in resource:
            assert resource["subject"] == {"reference": f"Patient/{scene.ids['A']}"}


def test_the_table_names_every_endpoint_and_caller_once() -> None:
    assert len(CELLS) == len(ENDPOINTS) * len(CALLERS)
    for cell in CELLS.values():
        assert cell in RULES or cell in {"200", "201", "204", "401"} or cell.startswith("{")


@pytest.mark.parametrize(("endpoint", "caller", "cell"), list(_rows()))
async def test_access(
    client: httpx.AsyncClient, scene: Scene, endpoint: str, caller: str, cell: str
) -> None:
    call = ENDPOINTS[endpoint]
    body = call.body(scene) if call.body is not None else None
    path = call.path.format(**scene.ids)
    response = await send(client, scene, caller, call.method, path, body, upload=call.upload)
    if cell == "401":
        said = problem(response, 401, "login")
        assert str(CALLERS[caller].unauthenticated) in said
        assert response.headers["www-authenticate"].startswith("Bearer")
    elif cell in RULES:
        said = problem(response, 403, "forbidden")
        rule = RULES[cell]
        if rule is None:
            assert said == "Not allowed."
        else:
            assert said.startswith(f"Access denied by rule {rule}: "), said
    elif cell.startswith("{"):
        named = frozenset(n for n in cell.strip("{}").split(",") if n)
        check_found(scene, call.everything if named == {"all"} else named, response)
    else:
        assert response.status_code == int(cell), response.text
        assert call.check is not None
        call.check(scene, response)
    assert_nothing_leaks(scene, caller, response)


# A forbidden patient who exists (B) and an id that is no one's must look alike. The lab's
# clients are asked only for the Patient: their contract covers every patient of the
# clinic, so B's entries are not forbidden to them.
PROBES = {
    "read": "/fhir/Patient/{id}",
    "everything": "/fhir/Patient/{id}/$everything",
    "obs-search": "/fhir/Observation?patient={id}",
}


def _existence_cases() -> Iterator[Any]:
    for caller in CALLERS:
        if CELLS["read-B", caller] not in RULES:
            continue
        for probe in PROBES if not caller.startswith("lab") else ["read"]:
            yield pytest.param(caller, probe, id=f"{probe}-by-{caller}")


@pytest.mark.parametrize(("caller", "probe"), list(_existence_cases()))
async def test_a_forbidden_patient_and_a_missing_one_get_the_same_answer(
    client: httpx.AsyncClient, scene: Scene, caller: str, probe: str
) -> None:
    path = PROBES[probe]
    await answered_alike(
        client, scene, caller, path.format(id=scene.ids["B"]), path.format(id=scene.ids["missing"])
    )


async def answered_alike(
    client: httpx.AsyncClient, scene: Scene, caller: str, forbidden: str, missing: str
) -> None:
    """GET `forbidden` and `missing`: the same refusal, and nothing of a patient in either."""
    refused = await send(client, scene, caller, "GET", forbidden)
    unknown = await send(client, scene, caller, "GET", missing)
    problem(refused, 403, "forbidden")
    problem(unknown, refused.status_code, "forbidden")
    assert unknown.json() == refused.json()
    for response in (refused, unknown):
        assert_nothing_leaks(scene, caller, response)


def test_the_world_is_as_the_table_assumes(scene: Scene) -> None:
    """The values the leak checks look for are the ones the patients hold, and differ."""
    a, b = scene.values["A"], scene.values["B"]
    assert b["family"] == "Zanzibarova" and b["email"] == "q.zanzibarova@example.net"
    assert a["family"] == "Lefèvre" and a["id"] == scene.world.patient_id
    for what in a.keys() & b.keys():
        assert a[what].lower() not in b[what].lower() and b[what].lower() not in a[what].lower()
    assert date.fromisoformat(scene.patient_a["birthDate"]) == date(1985, 5, 12)


# The same for an entry's and a document's id: A's, for each caller refused them for a
# reason that is not their own tie to A, and ids that are no one's. (A receptionist refused
# by the profession matrix, or a physician A excluded, has or had A in their care: they
# may tell A's items from missing ones.)
ITEM_PROBES = {
    "obs-read": "/fhir/Observation/{id}",
    "doc-read": "/fhir/DocumentReference/{id}",
    "binary-read": "/fhir/Binary/{id}",
}


def _item_existence_cases() -> Iterator[Any]:
    for row in ITEM_PROBES:
        for caller in CALLERS:
            if CELLS[row, caller] in RULES and CELLS[row, caller] not in ("mtx", "excl"):
                yield pytest.param(caller, row, id=f"{row}-by-{caller}")


@pytest.mark.parametrize(("caller", "row"), list(_item_existence_cases()))
async def test_someone_elses_item_and_a_missing_one_get_the_same_answer(
    client: httpx.AsyncClient, scene: Scene, caller: str, row: str
) -> None:
    path = ITEM_PROBES[row]
    item = scene.ids["res" if row == "obs-read" else "doc"]
    await answered_alike(
        client, scene, caller, path.format(id=item), path.format(id=scene.ids["missing"])
    )
