"""Reading FHIR R4 Patient resources, and the rules Coffre adds to the standard's own.

fhir.resources validates structure and datatypes (R4B models) but not code bindings, so the
codes of required bindings (a Patient's gender, an Observation's status, a Condition's
statuses), the codes Coffre relies on (telecom system) and the check digits of the national
identifiers it indexes (French NIR, Belgian INSZ/NISS) are checked here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from coffre.crypto import split_address, street_line
from coffre.records.errors import InvalidResource

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INSZ_SYSTEM = "https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/ssin"
NATIONAL_SYSTEMS = {NIR_SYSTEM: "NIR", INSZ_SYSTEM: "INSZ"}

GENDERS = frozenset({"male", "female", "other", "unknown"})
TELECOM_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
CONTACT_FIELDS = ("telecom", "address", "contact")
MAX_LINE_BYTES = 256 * 1024

_NIR = re.compile(r"^[1-478]\d{4}(?:\d{2}|2A|2B)\d{6}\d{2}$")
_INSZ = re.compile(r"^\d{11}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def fhir_model(resource_type: str) -> type[BaseModel]:
    """The fhir.resources R4 model of `resource_type`, imported when first asked for: the
    models take half a second to import, which every command would otherwise pay."""
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def valid_nir(value: str) -> bool:
    """True if `value` is a 15-character NIR whose key matches (Corsica 2A/2B included)."""
    value = value.replace(" ", "").upper()
    if not _NIR.match(value):
        return False
    # Corsica: departments 2A and 2B count as 19 and 18 in the key computation.
    department = {"2A": "19", "2B": "18"}.get(value[5:7], value[5:7])
    body = value[:5] + department + value[7:13]
    return 97 - int(body) % 97 == int(value[13:])


def valid_insz(value: str) -> bool:
    """True if `value` is an 11-digit INSZ/NISS whose check digits match (before or after 2000)."""
    value = re.sub(r"[\s.\-]", "", value)
    if not _INSZ.match(value):
        return False
    check = int(value[9:])
    return check in (97 - int(value[:9]) % 97, 97 - int("2" + value[:9]) % 97)


@dataclass(frozen=True)
class PatientData:
    """A validated Patient, split into what is sealed and what is indexed."""

    identity: dict[str, Any]
    contact: dict[str, Any]
    national_ids: tuple[tuple[str, str], ...]  # (system, value)
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    family_births: tuple[tuple[str, str], ...]  # (family, birth date)
    families: tuple[str, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()  # (street line, postcode)


# The required bindings (FHIR R4) of the coded elements Coffre keeps as they are sent, which
# fhir.resources does not check: element -> (code system of a CodeableConcept, or None for
# a code; the codes allowed).
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
REQUIRED_CODES: dict[str, dict[str, tuple[str | None, frozenset[str]]]] = {
    "Observation": {
        "status": (
            None,
            frozenset(
                [
                    "registered",
                    "preliminary",
                    "final",
                    "amended",
                    "corrected",
                    "cancelled",
                    "entered-in-error",
                    "unknown",
                ]
            ),
        ),
    },
    "Condition": {
        "clinicalStatus": (
            _CLINICAL,
            frozenset(["active", "recurrence", "relapse", "inactive", "remission", "resolved"]),
        ),
        "verificationStatus": (
            _VERIFICATION,
            frozenset(
                [
                    "unconfirmed",
                    "provisional",
                    "differential",
                    "confirmed",
                    "refuted",
                    "entered-in-error",
                ]
            ),
        ),
    },
    "Patient": {"gender": (None, GENDERS)},
}


def check_required_codes(resource: dict[str, Any]) -> None:
    """Raise InvalidResource, with the element's path, if a coded element of the resource
    holds a code its required binding does not allow (a CodeableConcept must hold a coding
    of the binding's system, and every coding of that system must be allowed)."""
    kind = str(resource.get("resourceType"))
    for element, (system, allowed) in REQUIRED_CODES.get(kind, {}).items():
        value = resource.get(element)
        if value is None:
            continue
        path, listed = f"{kind}.{element}", ", ".join(sorted(allowed))
        if system is None:
            if not isinstance(value, str) or value not in allowed:
                raise InvalidResource(f"{element} {value!r} is not one of {listed}", path)
            continue
        codings = value.get("coding") if isinstance(value, dict) else None
        codes = [
            c.get("code")
            for c in codings or ()
            if isinstance(c, dict) and c.get("system") == system
        ]
        if not codes or any(code not in allowed for code in codes):
            raise InvalidResource(
                f"{element} must hold a coding of {system} with a code among {listed}", path
            )


def _check_rules(resource: dict[str, Any], regions: tuple[str, ...]) -> None:
    check_required_codes(resource)
    names = resource.get("name") or []
    if not any(isinstance(n, dict) and n.get("family") for n in names):
        raise InvalidResource("the patient has no name with a family name")
    for i, ident in enumerate(resource.get("identifier") or []):
        system, value = ident.get("system"), ident.get("value") or ""
        if system == NIR_SYSTEM and not valid_nir(value):
            raise InvalidResource(f"identifier[{i}] is not a valid NIR (wrong length or key)")
        if system == INSZ_SYSTEM and not valid_insz(value):
            raise InvalidResource(f"identifier[{i}] is not a valid INSZ/NISS (wrong check digits)")
    for i, telecom in enumerate(resource.get("telecom") or []):
        system, value = telecom.get("system"), telecom.get("value") or ""
        if system is not None and system not in TELECOM_SYSTEMS:
            raise InvalidResource(f"telecom[{i}].system {system!r} is not a FHIR contact system")
        if system == "email" and not _EMAIL.match(value):
            raise InvalidResource(f"telecom[{i}] is not a valid e-mail address")
        if system in ("phone", "sms") and not _possible_phone(value, regions):
            raise InvalidResource(f"telecom[{i}] is not a valid phone number")


def _possible_phone(value: str, regions: tuple[str, ...]) -> bool:
    import phonenumbers  # its metadata takes a tenth of a second: loaded when a phone is read

    for region in regions if not value.strip().startswith("+") else (None,):
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(value, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    path = ".".join(str(p) for p in error.get("loc", ()) if p != "__root__")
    message = str(error.get("msg", "invalid value")).rstrip(".")
    return f"{path}: {message}" if path else message


def parse_patient(
    text: str | bytes, regions: tuple[str, ...] = ("FR", "BE"), *, validate: bool = True
) -> PatientData:
    """Validate one Patient (JSON text) and split it; raise InvalidResource with the reason.

    `validate=False` only splits: for text already validated whose bytes are known unchanged."""
    if not validate:
        return split_patient(json.loads(text))
    if len(text) > MAX_LINE_BYTES:
        raise InvalidResource(f"the resource is over {MAX_LINE_BYTES // 1024} KiB")
    try:
        resource = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidResource(
            f"not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
        ) from None
    if not isinstance(resource, dict):
        raise InvalidResource("not a JSON object")
    if resource.get("resourceType") != "Patient":
        raise InvalidResource(
            f"resourceType is {resource.get('resourceType')!r}, expected 'Patient'"
        )
    try:
        fhir_model("Patient").model_validate(resource)
    except ValidationError as exc:
        raise InvalidResource(f"not a valid FHIR R4 Patient ({_first_error(exc)})") from None
    _check_rules(resource, regions)
    return split_patient(resource)


def split_patient(resource: dict[str, Any]) -> PatientData:
    """Split a validated Patient resource into sealed parts and index keys."""
    resource = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    contact = {k: resource.pop(k) for k in CONTACT_FIELDS if k in resource}
    national = tuple(
        (i["system"], i["value"])
        for i in resource.get("identifier") or []
        if i.get("system") in NATIONAL_SYSTEMS and i.get("value")
    )
    telecoms = contact.get("telecom") or []
    emails = tuple(t["value"] for t in telecoms if t.get("system") == "email" and t.get("value"))
    phones = tuple(
        t["value"] for t in telecoms if t.get("system") in ("phone", "sms") and t.get("value")
    )
    birth = resource.get("birthDate")
    families = tuple(
        (n["family"], birth) for n in resource.get("name") or [] if n.get("family") and birth
    )
    names = tuple(n["family"] for n in resource.get("name") or [] if n.get("family"))
    return PatientData(
        resource, contact, national, emails, phones, families, names, _addresses(contact)
    )


def _addresses(contact: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """(street line, postcode) of each postal address: its street line and postal code, or
    else its one-line text; addresses without both are left out."""
    found: list[tuple[str, str]] = []
    for address in contact.get("address") or []:
        street = street_line(address.get("line") or [])
        if street and address.get("postalCode"):
            found.append((street, address["postalCode"]))
            continue
        split = split_address(address.get("text") or "")
        if split is not None:
            found.append(split)
    return tuple(found)


def join_patient(
    patient_id: str, identity: dict[str, Any], contact: dict[str, Any]
) -> dict[str, Any]:
    """The Patient resource from its sealed parts."""
    resource: dict[str, Any] = {"resourceType": "Patient", "id": patient_id}
    resource.update((k, v) for k, v in identity.items() if k != "resourceType")
    resource.update(contact)
    return resource
