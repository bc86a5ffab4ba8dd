"""Deterministic fictitious patients and practitioners (clinical entries and documents:
coffre.demo.content).

Everything here is invented: names are drawn from common French and Belgian name lists,
identifiers have valid check digits but are random, e-mails use reserved ``example.*``
domains.  The same seed always yields the same data (stdlib ``random.Random`` only).
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INSZ_SYSTEM = "https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/ssin"

#: Fixed "today" so that ages and dates do not depend on the wall clock.
REFERENCE_DATE = date(2026, 1, 1)

PROFESSIONS = (
    "physician", "specialist", "nurse", "pharmacist", "psychologist",
    "physiotherapist", "midwife", "dentist", "administrative",
)  # fmt: skip


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


# --- Patient name pools (culture -> family, male given, female given). -------------------------
# Every name has at least 4 letters; none is a substring of a practitioner name (see tests).
_PATIENT_POOLS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "fr": (
        _names(
            "Lefèvre, Le Goff, Le Gall, Dubois, Moreau, Laurent, Girard, Fournier, Mercier, "
            "Rousseau, Chevalier, Gauthier, Perrin, Brunet, Blanchard, Guérin, Garnier, Lemaire, "
            "Marchand, Duval, Bertrand, Lacroix, Fontaine, Lebrun, Dumont, Roussel, Picard, "
            "Leroux, Barbier, Morel, Aubert, Rolland, Caron, Renaud, Carpentier, Bouvier, "
            "Deschamps, Ménard, Hébert, Saint-Martin"
        ),
        _names(
            "Jean-Luc, Jean-Pierre, Jérôme, François, Benoît, Sébastien, Frédéric, Stéphane, "
            "Mathieu, Nicolas, Julien, Thomas, Antoine, Guillaume, Olivier, Vincent, Pierre, "
            "Louis, Jules, Gabriel, Raphaël, Maxime, Romain, Quentin, Loïc, Adrien, Timothée"
        ),
        _names(
            "Hélène, Clémence, Amélie, Noémie, Gaëlle, Anaïs, Françoise, Cécile, Élodie, "
            "Valérie, Aurélie, Marie-Claire, Anne-Sophie, Nathalie, Sandrine, Camille, Manon, "
            "Pauline, Julie, Lucie, Claire, Louise, Chloé, Mathilde, Margaux, Océane"
        ),
    ),
    "nl": (
        _names(
            "Van den Broeck, De Smet, Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, "
            "Goossens, Wouters, De Vos, Hermans, Van Damme, Verstraeten, Van de Velde, Vermeulen, "
            "Pauwels, Aerts, Dierickx, Verhaegen, De Clercq, Coppens, Van Acker, Lambrechts"
        ),
        _names(
            "Pieter, Wouter, Joris, Bram, Koen, Dirk, Stijn, Jeroen, Maarten, Thijs, Ruben, "
            "Seppe, Niels, Sander, Geert, Jens, Lieven, Jasper, Kobe, Pieter-Jan"
        ),
        _names(
            "Lotte, Sofie, Annelies, Griet, Liesbeth, Veerle, Katrien, Lieke, Fien, Mieke, "
            "Evelien, Marijke, Hilde, Femke, Elke, Jolien, Saskia, Ann-Sofie"
        ),
    ),
    "wa": (
        _names(
            "Dupont, Lambert, Renard, Lejeune, Collard, Delhaye, Wathelet, Lecomte, Michaux, "
            "Henrard, Piron, Gilson, Jacquemin, Delvaux, Goffin, Massart, Remacle, Leclercq, "
            "Dethier, Lhoest, Marchal, Hubert"
        ),
        _names(
            "Thibault, Ludovic, Grégoire, Cédric, Arnaud, Jérémy, Damien, Corentin, Baptiste, "
            "Florian, Benoît, Jean-François, Olivier, Martin"
        ),
        _names(
            "Aurore, Sylvie, Martine, Florence, Mélanie, Delphine, Virginie, Caroline, Justine, "
            "Laetitia, Marie-France, Géraldine, Coralie, Émilie, Pascale, Gaëlle"
        ),
    ),
}
PATIENT_FAMILY_NAMES = tuple(sorted({n for p in _PATIENT_POOLS.values() for n in p[0]}))
PATIENT_GIVEN_NAMES = tuple(sorted({n for p in _PATIENT_POOLS.values() for g in p[1:] for n in g}))

# --- Practitioner names: disjoint from the patient pools. --------------------------------------
_PRACT_FAMILY = {
    "FR": _names("Castaing, Quéméner, Tessier, Vidal, Rabaté, Hautecœur, Le Bihan, Escudier"),
    "BE": _names("Vandenberghe, Opdebeeck, Deprez, Houbion, Schoonjans, Verbruggen, Tielemans"),
}
PRACTITIONER_FAMILY_NAMES = tuple(sorted(n for v in _PRACT_FAMILY.values() for n in v))
PRACTITIONER_GIVEN_NAMES = _names(
    "Ghislaine, Baudouin, Séverine, Gwenaël, Anouk, Bénédicte, Hendrik, Isaure, Tanguy, "
    "Ysaline, Wannes, Octave, Roxane"
)
_SPECIALTIES = ("cardiology", "dermatology", "endocrinology", "pulmonology", "psychiatry")
_INAMI_PREFIX = {"dentist": "3", "nurse": "4", "midwife": "4", "physiotherapist": "5"}

# --- Places: French (city, postal code, department); Belgian (city, postal code). ------------
_FR_CITIES = (
    ("Paris", "75011", "75"), ("Lyon", "69003", "69"), ("Marseille", "13005", "13"),
    ("Toulouse", "31000", "31"), ("Nantes", "44000", "44"), ("Strasbourg", "67000", "67"),
    ("Lille", "59000", "59"), ("Bordeaux", "33000", "33"), ("Rennes", "35000", "35"),
    ("Montpellier", "34000", "34"), ("Grenoble", "38000", "38"), ("Dijon", "21000", "21"),
    ("Brest", "29200", "29"), ("Nice", "06000", "06"), ("Rouen", "76000", "76"),
    ("Limoges", "87000", "87"), ("Clermont-Ferrand", "63000", "63"),
    ("Ajaccio", "20000", "2A"), ("Bastia", "20200", "2B"), ("Porto-Vecchio", "20137", "2A"),
)  # fmt: skip
_BE_CITIES = {
    "nl": (("Antwerpen", "2000"), ("Gent", "9000"), ("Brugge", "8000"), ("Leuven", "3000"),
           ("Mechelen", "2800"), ("Hasselt", "3500"), ("Kortrijk", "8500"), ("Brussel", "1000")),
    "wa": (("Liège", "4000"), ("Namur", "5000"), ("Charleroi", "6000"), ("Mons", "7000"),
           ("Tournai", "7500"), ("Wavre", "1300"), ("Arlon", "6700"), ("Ixelles", "1050")),
}  # fmt: skip
_STREETS = {
    "fr": ("rue des Lilas", "rue de la République", "avenue Jean Jaurès", "boulevard Gambetta",
           "rue du Moulin", "impasse des Tilleuls", "place de l'Église", "chemin des Vignes"),
    "nl": ("Kerkstraat", "Stationsstraat", "Molenstraat", "Dorpsstraat", "Nieuwstraat",
           "Schoolstraat", "Veldstraat", "Lindenlaan"),
    "wa": ("rue de la Station", "rue du Moulin", "chaussée de Bruxelles", "rue de l'Église",
           "avenue des Tilleuls", "rue Haute", "place Saint-Lambert", "rue des Champs"),
}  # fmt: skip
_EMAIL_DOMAINS = ("example.org", "example.com", "example.net")


@dataclass(frozen=True)
class DemoPatient:
    """A fictitious patient and its FHIR R4 Patient resource (no ``id``)."""

    resource: dict
    family: str
    given: str
    birth_date: str
    national_id: str
    email: str
    phone: str
    address_line: str
    city: str
    country: str


@dataclass(frozen=True)
class DemoPractitioner:
    """A fictitious health professional or administrative staff member."""

    family: str
    given: str
    profession: str
    specialty: str | None
    professional_id: str
    country: str


def ascii_fold(text: str) -> str:
    """Lower-case ``text`` and strip accents (``"Hélène"`` -> ``"helene"``)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("œ", "oe").replace("Œ", "Oe"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def nir_key(first13: str) -> str:
    """Return the 2-digit NIR key for 13 characters (Corsica: 2A -> 19, 2B -> 18)."""
    digits = first13.upper().replace("2A", "19").replace("2B", "18")
    return f"{97 - int(digits) % 97:02d}"


def insz_check(first9: str, born_2000_or_later: bool) -> str:
    """Return the 2 check digits of a Belgian INSZ/NISS."""
    base = int(("2" if born_2000_or_later else "") + first9)
    return f"{97 - base % 97:02d}"


def _make_nir(rng: random.Random, male: bool, born: date, department: str) -> str:
    commune, order = rng.randint(1, 999), rng.randint(1, 999)
    head = f"{1 if male else 2}{born.year % 100:02d}{born.month:02d}{department}"
    head += f"{commune:03d}{order:03d}"
    return head + nir_key(head)


def _make_insz(rng: random.Random, male: bool, born: date) -> str:
    serial = rng.randrange(1 if male else 2, 998, 2)
    head = f"{born.year % 100:02d}{born.month:02d}{born.day:02d}{serial:03d}"
    return head + insz_check(head, born.year >= 2000)


def _slug(text: str) -> str:
    return "".join(c for c in ascii_fold(text) if c.isalnum())


def _make_phone(rng: random.Random, country: str) -> str:
    """French mobile (+336/+337 + 8 digits) or Belgian mobile (+3247/8/9 + 7 digits)."""
    if country == "FR":
        return f"+33{rng.choice('67')}{rng.randrange(10**8):08d}"
    return f"+324{rng.choice('789')}{rng.randrange(10**7):07d}"


def _make_email(rng: random.Random, given: str, family: str) -> str:
    number, domain = rng.randint(1000, 9999), rng.choice(_EMAIL_DOMAINS)
    return f"{_slug(given)}.{_slug(family)}.{number}@{domain}"


def patients(count: int, seed: int = 2026) -> list[DemoPatient]:
    """Return ``count`` unique fictitious patients (~60% French, ~40% Belgian)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    rng = random.Random(seed)
    pairs: set[tuple[str, str]] = set()
    ids: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    result: list[DemoPatient] = []
    for _ in range(count):
        country = "FR" if rng.random() < 0.6 else "BE"
        culture = "fr" if country == "FR" else ("nl" if rng.random() < 0.6 else "wa")
        male = rng.random() < 0.5
        families, males, females = _PATIENT_POOLS[culture]
        for _attempt in range(10_000):
            pair = (rng.choice(families), rng.choice(males if male else females))
            if pair not in pairs:
                break
        else:
            raise ValueError(f"name pool exhausted after {len(result)} patients")
        pairs.add(pair)
        family, given = pair
        born = REFERENCE_DATE - timedelta(days=rng.randint(0, 95 * 365))
        number = rng.randint(1, 99)
        street = rng.choice(_STREETS[culture])
        if country == "FR":
            city, postal, dept = rng.choice(_FR_CITIES)
            birth_dept = dept if rng.random() < 0.7 else rng.choice(_FR_CITIES)[2]
            if birth_dept in ("2A", "2B") and born.year < 1976:
                birth_dept = "20"  # Corsica was a single department before 1976
            line = f"{number} {street}"
            national_id = _unique(partial(_make_nir, rng, male, born, birth_dept), ids)
        else:
            city, postal = rng.choice(_BE_CITIES[culture])
            line = f"{street[0].upper()}{street[1:]} {number}"
            national_id = _unique(partial(_make_insz, rng, male, born), ids)
        phone = _unique(partial(_make_phone, rng, country), phones)
        email = _unique(partial(_make_email, rng, given, family), emails)
        system = NIR_SYSTEM if country == "FR" else INSZ_SYSTEM
        language = {"system": "urn:ietf:bcp:47", "code": "nl" if culture == "nl" else "fr"}
        address = {"use": "home", "line": [line], "city": city, "postalCode": postal}
        resource = {
            "resourceType": "Patient",
            "identifier": [{"use": "official", "system": system, "value": national_id}],
            "active": True,
            "name": [{"use": "official", "family": family, "given": [given]}],
            "telecom": [
                {"system": "phone", "value": phone, "use": "mobile"},
                {"system": "email", "value": email, "use": "home"},
            ],
            "gender": "male" if male else "female",
            "birthDate": born.isoformat(),
            "address": [{**address, "country": country}],
            "communication": [{"language": {"coding": [language]}, "preferred": True}],
        }
        fields = (family, given, born.isoformat(), national_id, email, phone, line, city, country)
        result.append(DemoPatient(resource, *fields))
    return result


def _unique(make: Callable[[], str], seen: set[str]) -> str:
    """Call ``make()`` until it returns a value not in ``seen``; record and return it."""
    for _ in range(10_000):
        value = make()
        if value not in seen:
            seen.add(value)
            return value
    raise ValueError("could not generate a unique value")


def _luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _professional_id(rng: random.Random, profession: str, country: str) -> str:
    """French RPPS (``10`` + 8 digits + Luhn key) or Belgian INAMI/RIZIV-style number."""
    if country == "FR":
        payload = "10" + f"{rng.randint(0, 99_999_999):08d}"
        return payload + _luhn_digit(payload)
    head = _INAMI_PREFIX.get(profession, "1") + f"{rng.randint(0, 99_999):05d}"
    return head + f"{97 - int(head) % 97:02d}" + f"{rng.randint(0, 999):03d}"


def practitioners(seed: int = 2026) -> list[DemoPractitioner]:
    """Return 10 fictitious practitioners covering every profession, in France and Belgium."""
    rng = random.Random(seed)
    roles = [*PROFESSIONS, "specialist"]
    givens = rng.sample(PRACTITIONER_GIVEN_NAMES, len(roles))
    families = {c: rng.sample(names, len(names)) for c, names in _PRACT_FAMILY.items()}
    specialties = rng.sample(_SPECIALTIES, 2)
    result = []
    for i, (profession, given) in enumerate(zip(roles, givens, strict=True)):
        country = "FR" if i % 2 == 0 else "BE"
        specialty = specialties.pop() if profession == "specialist" else None
        professional_id = _professional_id(rng, profession, country)
        family = families[country].pop()
        result.append(
            DemoPractitioner(family, given, profession, specialty, professional_id, country)
        )
    return result
