"""Valid FHIR patients with checked national identifiers, and NDJSON files of them."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from coffre.records import INSZ_SYSTEM, NIR_SYSTEM

_counter = itertools.count(1)


def nir(
    sex: int = 1, year: int = 85, month: int = 5, department: str = "78", serial: int = 1
) -> str:
    """A French NIR with its key computed from the RFC-free definition: 97 - (n mod 97)."""
    body = f"{sex}{year:02d}{month:02d}{department}{serial % 1000:03d}{(serial // 1000) % 1000:03d}"
    number = body.replace("2A", "19").replace("2B", "18")
    return f"{body}{97 - int(number) % 97:02d}"


def insz(born: str = "850730", serial: int = 33) -> str:
    """A Belgian INSZ for someone born before 2000."""
    body = f"{born}{serial:03d}"
    return f"{body}{97 - int(body) % 97:02d}"


def patient(
    *,
    family: str = "Lefèvre",
    given: str = "Hélène",
    birth_date: str = "1985-05-12",
    gender: str = "female",
    national: tuple[str, str] | None = None,
    email: str | None = None,
    phone: str | None = None,
    address: str | None = "12 rue des Lilas",
) -> dict[str, Any]:
    n = next(_counter)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [
            {"system": national[0], "value": national[1]}
            if national
            else {"system": NIR_SYSTEM, "value": nir(sex=2, serial=n)}
        ],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
        "telecom": [
            {"system": "phone", "value": phone or f"+3361234{n % 10000:04d}"},
            {"system": "email", "value": email or f"person{n}@example.org"},
        ],
    }
    if address:
        resource["address"] = [
            {"line": [address], "city": "Lyon", "postalCode": "69003", "country": "FR"}
        ]
    return resource


def belgian(**kwargs: Any) -> dict[str, Any]:
    n = next(_counter)
    kwargs.setdefault("national", (INSZ_SYSTEM, insz(serial=n % 998 + 1)))
    kwargs.setdefault("phone", f"+32470{n % 1000000:06d}")
    return patient(**kwargs)


def ndjson(path: Path, resources: list[dict[str, Any] | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in resources]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def lines_of(resources: list[dict[str, Any] | str]):  # type: ignore[no-untyped-def]
    """An `open_lines` callable for records.import_patients."""
    texts = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in resources]
    return lambda: iter(texts)


def journal_records(coffre):  # type: ignore[no-untyped-def]
    """Every journal entry, decoded, oldest first."""
    from coffre import journal

    with coffre.uow() as uow:
        return list(journal.select_records(uow, journal.Filter()))
