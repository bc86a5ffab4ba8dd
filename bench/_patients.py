"""Synthetic French patients: valid FHIR R4 Patient resources with unique NIRs, e-mails and
phone numbers, reproducible from a seed."""

from __future__ import annotations

import json
import random
import unicodedata
from typing import Any

from coffre.records import NIR_SYSTEM

FAMILIES = (
    "Martin", "Bernard", "Thomas", "Petit", "Robert", "Richard", "Durand", "Dubois",
    "Moreau", "Laurent", "Simon", "Michel", "Lefèvre", "Leroy", "Roux", "David", "Bertrand",
    "Morel", "Fournier", "Girard", "Bonnet", "Dupont", "Lambert", "Fontaine", "Rousseau",
    "Vincent", "Muller", "Le Goff", "Faure", "André", "Mercier", "Blanc", "Guérin", "Boyer",
    "Garnier", "Chevalier", "François", "Legrand", "Gauthier", "Garcia", "Perrin", "Robin",
    "Clément", "Morin", "Nicolas", "Henry", "Roussel", "Mathieu", "Gautier", "Masson",
)  # fmt: skip
GIVEN = {
    "female": ("Hélène", "Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Anne", "Zoé"),
    "male": ("Lucas", "Hugo", "Louis", "Gabriel", "Jules", "Noé", "Théo", "Paul", "Étienne"),
}
STREETS = ("rue des Lilas", "avenue Jean Jaurès", "boulevard Voltaire", "place de la Mairie")
CITIES = (
    ("Paris", "75011"),
    ("Lyon", "69003"),
    ("Marseille", "13005"),
    ("Bordeaux", "33000"),
    ("Lille", "59000"),
    ("Nantes", "44000"),
    ("Toulouse", "31000"),
    ("Rennes", "35000"),
)


def nir(sex: int, year: int, month: int, department: str, index: int) -> str:
    """A French NIR, unique per `index` (< 998,001): key = 97 - (body mod 97)."""
    commune, order = index % 999 + 1, (index // 999) % 999 + 1
    body = f"{sex}{year % 100:02d}{month:02d}{department}{commune:03d}{order:03d}"
    return f"{body}{97 - int(body) % 97:02d}"


def mobile(index: int) -> str:
    """A French mobile number, unique per `index` (< 100,000,000): '+33 6 00 00 00 42'."""
    digits = f"{index:08d}"
    return "+33 6 " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))


def _ascii(text: str) -> str:
    letters = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in letters.lower() if c.isalnum())


def patient(rng: random.Random, index: int) -> dict[str, Any]:
    """One valid patient; `index` makes its NIR, e-mail and phone number unique."""
    gender = rng.choice(("female", "male"))
    family, given = rng.choice(FAMILIES), rng.choice(GIVEN[gender])
    year, month, day = rng.randint(1930, 2015), rng.randint(1, 12), rng.randint(1, 28)
    city, postal_code = rng.choice(CITIES)
    return {
        "resourceType": "Patient",
        "identifier": [
            {
                "system": NIR_SYSTEM,
                "value": nir(1 if gender == "male" else 2, year, month, postal_code[:2], index),
            }
        ],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": f"{year:04d}-{month:02d}-{day:02d}",
        "telecom": [
            {"system": "phone", "value": mobile(index)},
            {"system": "email", "value": f"{_ascii(given)}.{_ascii(family)}.{index}@example.org"},
        ],
        "address": [
            {
                "line": [f"{rng.randint(1, 120)} {rng.choice(STREETS)}"],
                "city": city,
                "postalCode": postal_code,
                "country": "FR",
            }
        ],
    }


def ndjson_lines(count: int, seed: int = 1) -> list[str]:
    """The lines of an NDJSON file of `count` patients; the same seed gives the same lines,
    and a shorter file is a prefix of a longer one."""
    rng = random.Random(seed)
    return [json.dumps(patient(rng, index), ensure_ascii=False) for index in range(count)]
