"""What decisions on one patient tell the watch besides access: the record's flags, and
whether the acting person shares the patient's family name or address.

One query, on every decision's path: the patient's flags (primary key), and those of the
patient's FAMILY and ADDRESS index rows whose digest equals the actor's own (the patient's
rows by their index; the account's digests by its primary key, as subqueries). Digests are
compared inside the database; no name or address is ever read or compared in clear.
"""

from __future__ import annotations

import sqlalchemy as sa

from coffre.access import Flag
from coffre.crypto import IndexKind
from coffre.identity import Actor, ActorKind, personal_digest
from coffre.records.tables import patient_flags, patient_index
from coffre.store import Lean, UnitOfWork

_FLAG_ORDER = {flag.value: position for position, flag in enumerate(Flag)}
_PATIENT = sa.bindparam("patient_id")
_ACTOR = sa.bindparam("actor_id")


def _shared(kind: IndexKind) -> sa.ColumnElement[bool]:
    return sa.and_(
        patient_index.c.kind == kind.value,
        patient_index.c.digest == personal_digest(_ACTOR, kind),
    )


# Built once: the statements are on every read's path.
_FLAGS = sa.select(sa.literal("flag").label("what"), patient_flags.c.flag.label("value")).where(
    patient_flags.c.patient_id == _PATIENT
)
_MARKS = sa.union_all(
    _FLAGS,
    sa.select(sa.literal("shared").label("what"), patient_index.c.kind.label("value")).where(
        patient_index.c.patient_id == _PATIENT,
        sa.or_(_shared(IndexKind.FAMILY), _shared(IndexKind.ADDRESS)),
    ),
)

_LEAN_FLAGS, _LEAN_MARKS = Lean(_FLAGS), Lean(_MARKS)


def load_marks(
    uow: UnitOfWork, actor: Actor, patient_id: str
) -> tuple[tuple[str, ...], frozenset[str]]:
    """The record's flags (vip first) and what the actor shares with the patient ("family",
    "address"), in one query (the flags alone for an actor that is no account, which keeps
    no digests)."""
    flags: list[str] = []
    shared: set[str] = set()
    statement = _LEAN_MARKS if actor.kind is ActorKind.ACCOUNT else _LEAN_FLAGS
    for what, value in statement.rows(
        uow.connection, {"patient_id": patient_id, "actor_id": actor.id}
    ):
        if what == "flag":
            flags.append(value)
        else:
            shared.add(value)
    ordered = sorted(flags, key=lambda flag: _FLAG_ORDER.get(flag, len(_FLAG_ORDER)))
    return tuple(ordered), frozenset(shared)
