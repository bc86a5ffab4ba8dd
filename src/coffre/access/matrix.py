"""The profession × category matrix: which categories each profession may read and write.

The default ships as `matrix.toml` beside this module. An organisation's own matrix can
only narrow it: `Matrix.narrowed` keeps what both allow.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from coffre.access.errors import AccessError

MATRIX_FORMAT = "coffre-matrix/1"


class Category(StrEnum):
    IDENTITY = "identity"
    CONTACT = "contact"
    ADMINISTRATIVE = "administrative"
    APPOINTMENTS = "appointments"
    REASON = "reason"
    CLINICAL_NOTES = "clinical-notes"
    RESULTS = "results"
    PRESCRIPTIONS = "prescriptions"
    MENTAL_HEALTH = "mental-health"
    SEXUAL_HEALTH = "sexual-health"
    DOCUMENTS = "documents"


# Everything that says something about a person's health.
CLINICAL = frozenset(
    {
        Category.REASON,
        Category.CLINICAL_NOTES,
        Category.RESULTS,
        Category.PRESCRIPTIONS,
        Category.MENTAL_HEALTH,
        Category.SEXUAL_HEALTH,
        Category.DOCUMENTS,
    }
)


class Profession(StrEnum):
    PHYSICIAN = "physician"
    SPECIALIST = "specialist"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    PSYCHOLOGIST = "psychologist"
    PHYSIOTHERAPIST = "physiotherapist"
    MIDWIFE = "midwife"
    DENTIST = "dentist"
    ADMINISTRATIVE = "administrative"


class InvalidMatrix(AccessError):
    """A matrix file cannot be used."""


@dataclass(frozen=True)
class Matrix:
    read: Mapping[Profession, frozenset[Category]]
    write: Mapping[Profession, frozenset[Category]]

    def allows(self, profession: Profession, category: Category, *, writing: bool) -> bool:
        table = self.write if writing else self.read
        return category in table.get(profession, frozenset())

    def narrowed(self, other: Matrix) -> Matrix:
        """What both matrices allow: an organisation's matrix never widens the default."""
        return Matrix(
            read={p: c & other.read.get(p, frozenset()) for p, c in self.read.items()},
            write={p: c & other.write.get(p, frozenset()) for p, c in self.write.items()},
        )


def parse_matrix(text: str, source: str = "the matrix") -> Matrix:
    """A matrix from TOML text; raise InvalidMatrix naming the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidMatrix(f"{source} is not valid TOML ({exc}).") from None
    if data.pop("format", None) != MATRIX_FORMAT:
        raise InvalidMatrix(f"{source} does not declare format = {MATRIX_FORMAT!r}.")
    read: dict[Profession, frozenset[Category]] = {}
    write: dict[Profession, frozenset[Category]] = {}
    for name, rows in data.items():
        try:
            profession = Profession(name)
        except ValueError:
            raise InvalidMatrix(f"{source} names an unknown profession {name!r}.") from None
        if not isinstance(rows, dict) or set(rows) - {"read", "write"}:
            raise InvalidMatrix(f"{source}: [{name}] may hold only 'read' and 'write' lists.")
        for column, target in (("read", read), ("write", write)):
            values = rows.get(column, [])
            try:
                if not isinstance(values, list):
                    raise TypeError("not a list")
                target[profession] = frozenset(Category(c) for c in values)
            except (ValueError, TypeError):
                raise InvalidMatrix(
                    f"{source}: [{name}].{column} holds something that is not a category."
                ) from None
    return Matrix(read, write)


@cache
def default_matrix() -> Matrix:
    """The matrix shipped with Coffre (matrix.toml)."""
    path = Path(__file__).with_name("matrix.toml")
    return parse_matrix(path.read_text(encoding="utf-8"), str(path))
