"""The patient's sharing choices as one Consent, and back: the Consent the API answers
(`consent_resource` in `care.py`) is the one it takes in an update, so a client reads it,
changes its status or its nested `deny` provisions, and sends it back.

Only that shape is understood: a `permit` provision whose nested provisions are each a
`deny` of one professional (`actor`, role PRF, `Practitioner/ID`) or of one document
(`data`, meaning `instance`, `DocumentReference/ID`). Anything else in a provision is
refused with its path rather than ignored: a restriction the server would silently drop
is one the patient believes holds.
"""

from __future__ import annotations

import re
from typing import Any

from coffre import records
from coffre.api.outcomes import Problem

# The Consent of a patient's choices is named after the patient.
ID_PREFIX = "sharing-"
# Consent.status values that grant sharing; those that withdraw it.
GRANTING = frozenset({"active"})
WITHDRAWING = frozenset({"inactive", "rejected"})
PERFORMER_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# Each denial changed is decided, journaled and told to the patient: a bound on one request.
MAX_DENIALS = 200
_ID = r"[A-Za-z0-9\-.]{1,64}"
_PRACTITIONER = re.compile(rf"^Practitioner/({_ID})$")
_DOCUMENT = re.compile(rf"^DocumentReference/({_ID})$")


def consent_id(patient_id: str) -> str:
    return ID_PREFIX + patient_id


def patient_of(resource_id: str) -> str:
    """The patient whose choices the Consent with this id holds (404 for an id that is no
    Consent of this server: it names no patient, so saying so reveals nothing)."""
    patient_id = resource_id.removeprefix(ID_PREFIX)
    if not resource_id.startswith(ID_PREFIX) or not patient_id:
        raise Problem(404, "not-found", f"There is no Consent with id {resource_id}.")
    return patient_id


def _invalid(diagnostics: str, path: str) -> Problem:
    return Problem(400, "invalid", diagnostics, path)


def _only(value: dict[str, Any], allowed: set[str], path: str) -> None:
    """Refuse an element this server would not honour, naming it."""
    extra = sorted(set(value) - allowed)
    if extra:
        raise _invalid(
            f"{path}.{extra[0]} is not supported here: a Consent's provisions list only "
            "excluded professionals and masked documents.",
            f"{path}.{extra[0]}",
        )


def _one(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise _invalid(f"{path} must hold exactly one element.", path)
    return value[0]


def _reference(element: dict[str, Any], pattern: re.Pattern[str], path: str) -> str:
    reference = (element.get("reference") or {}).get("reference")
    found = pattern.match(reference) if isinstance(reference, str) else None
    if found is None:
        kind = pattern.pattern.split("/")[0].lstrip("^")
        raise _invalid(f"{path} must be a reference {kind}/ID.", f"{path}.reference")
    return found.group(1)


def _denial(provision: Any, path: str) -> tuple[str, str, str]:
    """One nested provision: ("actor" or "data", the id it names, the path of its
    reference)."""
    if not isinstance(provision, dict):
        raise _invalid(f"{path} must be a provision.", path)
    _only(provision, {"type", "actor", "data"}, path)
    if provision.get("type") != "deny":
        raise _invalid(f"{path}.type must be deny.", f"{path}.type")
    if ("actor" in provision) == ("data" in provision):
        raise _invalid(f"{path} must deny either one actor or one document.", path)
    if "actor" in provision:
        where = f"{path}.actor[0]"
        actor = _one(provision["actor"], f"{path}.actor")
        _only(actor, {"role", "reference"}, where)
        codes = {
            (c.get("system"), c.get("code"))
            for c in (actor.get("role") or {}).get("coding") or []
            if isinstance(c, dict)
        }
        if (PERFORMER_SYSTEM, "PRF") not in codes:
            raise _invalid(f"{where}.role must be the performer (PRF).", f"{where}.role")
        return "actor", _reference(actor, _PRACTITIONER, where), f"{where}.reference"
    where = f"{path}.data[0]"
    data = _one(provision["data"], f"{path}.data")
    _only(data, {"meaning", "reference"}, where)
    if data.get("meaning") != "instance":
        raise _invalid(f"{where}.meaning must be instance.", f"{where}.meaning")
    return "data", _reference(data, _DOCUMENT, where), f"{where}.reference"


def choices_of(resource: dict[str, Any], patient_id: str) -> tuple[records.Choices, dict[str, str]]:
    """The choices a Consent (valid FHIR R4) states for this patient, and the path of the
    reference that names each professional and document; 400 with the path of the first
    element that is not understood."""
    reference = (resource.get("patient") or {}).get("reference")
    if reference != f"Patient/{patient_id}":
        raise _invalid(f"Consent.patient must be Patient/{patient_id}.", "Consent.patient")
    status = resource.get("status")
    if status not in GRANTING | WITHDRAWING:
        raise _invalid(
            "Consent.status must be active (share) or inactive (stop sharing).", "Consent.status"
        )
    provision = resource.get("provision")
    if not isinstance(provision, dict) or provision.get("type") != "permit":
        # Required: a Consent without it would lift every exclusion and mask at once.
        raise _invalid(
            "Consent.provision must be a permit (with its denials).", "Consent.provision"
        )
    _only(provision, {"type", "provision"}, "Consent.provision")
    nested = provision.get("provision") or []
    if not isinstance(nested, list) or len(nested) > MAX_DENIALS:
        raise Problem(
            400,
            "too-costly",
            f"Consent.provision.provision holds at most {MAX_DENIALS} denials.",
            "Consent.provision.provision",
        )
    excluded: list[str] = []
    masked: list[str] = []
    where: dict[str, str] = {}
    for index, denial in enumerate(nested):
        kind, named, path = _denial(denial, f"Consent.provision.provision[{index}]")
        if named in where:
            raise _invalid(f"{path} names {named} a second time.", path)
        where[named] = path
        (excluded if kind == "actor" else masked).append(named)
    choices = records.Choices(status in GRANTING, tuple(sorted(excluded)), tuple(sorted(masked)))
    return choices, where
