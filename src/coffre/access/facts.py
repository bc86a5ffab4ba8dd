"""Reading and recording the facts of access decisions.

`load_patient_facts` reads everything about one patient in one query. The writers record a
change in the caller's open unit of work and do nothing else: deciding who may make the
change, journaling it and telling the patient belong to the service that calls them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa

from coffre.access.care import (
    BreakGlass,
    EmergencyReason,
    PatientFacts,
    Relationship,
    RelationshipKind,
)
from coffre.access.errors import AccessError
from coffre.access.tables import access_facts
from coffre.store import Lean, UnitOfWork


class FactKind(StrEnum):
    CONSENT = "consent"
    RELATIONSHIP = "relationship"
    EXCLUSION = "exclusion"
    MASK = "mask"
    BREAK_GLASS = "break-glass"


class FactNotFound(AccessError):
    """No fact in force matches."""


_FACTS_OF = Lean(
    sa.select(access_facts)
    .where(access_facts.c.patient_id == sa.bindparam("patient_id"))
    .order_by(access_facts.c.started_at)
)


def load_patient_facts(uow: UnitOfWork, patient_id: str, now: datetime) -> PatientFacts:
    """Everything access decisions need about one patient, in one query; facts ended before
    `now` are left out (relationships are kept: their expiry is the policy's to judge)."""
    consent = False
    relationships: list[Relationship] = []
    excluded: set[str] = set()
    masked: dict[str, str | None] = {}
    glass: list[BreakGlass] = []
    for row in _FACTS_OF.rows(uow.connection, {"patient_id": patient_id}):
        started, ended = row.started_at, row.ended_at
        assert started is not None
        in_force = started <= now and (ended is None or now < ended)
        kind = FactKind(row.kind)
        if kind is FactKind.RELATIONSHIP:
            relationships.append(
                Relationship(
                    RelationshipKind(row.detail),
                    started,
                    professional_id=None if row.team else row.subject_id,
                    care_team_id=row.subject_id if row.team else None,
                    ended_at=ended,
                    id=row.id,
                )
            )
        elif kind is FactKind.BREAK_GLASS:
            assert ended is not None
            glass.append(
                BreakGlass(row.subject_id, started, ended, EmergencyReason(row.detail), row.id)
            )
        elif not in_force:
            continue
        elif kind is FactKind.CONSENT:
            consent = True
        elif kind is FactKind.EXCLUSION:
            excluded.add(row.subject_id)
        else:
            masked[row.subject_id] = row.detail
    return PatientFacts(
        patient_id, consent, tuple(relationships), frozenset(excluded), masked, tuple(glass)
    )


def _insert(
    uow: UnitOfWork,
    patient_id: str,
    kind: FactKind,
    at: datetime,
    *,
    subject: str | None = None,
    detail: str | None = None,
    team: bool = False,
    ended_at: datetime | None = None,
) -> str:
    fact_id = str(uuid.uuid4())
    uow.connection.execute(
        access_facts.insert().values(
            id=fact_id,
            patient_id=patient_id,
            kind=kind.value,
            subject_id=subject,
            detail=detail,
            team=team,
            started_at=at,
            ended_at=ended_at,
        )
    )
    return fact_id


def _end(
    uow: UnitOfWork, patient_id: str, kind: FactKind, at: datetime, subject: str | None = None
) -> int:
    """End the facts of this kind (and subject) in force; return how many were ended."""
    query = access_facts.update().where(
        access_facts.c.patient_id == patient_id,
        access_facts.c.kind == kind.value,
        access_facts.c.ended_at.is_(None),
    )
    if subject is not None:
        query = query.where(access_facts.c.subject_id == subject)
    return int(uow.connection.execute(query.values(ended_at=at)).rowcount)


def record_consent(uow: UnitOfWork, patient_id: str, granted: bool, at: datetime) -> bool:
    """The patient's consent to sharing, given or revoked from `at` on; return whether it
    changed (giving again a consent in force renews it and counts as no change)."""
    ended = _end(uow, patient_id, FactKind.CONSENT, at)
    if granted:
        _insert(uow, patient_id, FactKind.CONSENT, at)
    return bool(granted) != bool(ended)


def start_relationship(
    uow: UnitOfWork,
    patient_id: str,
    kind: RelationshipKind,
    at: datetime,
    *,
    professional_id: str | None = None,
    care_team_id: str | None = None,
) -> str:
    """A care relationship of one professional or one care team; return its id."""
    if (professional_id is None) == (care_team_id is None):
        raise AccessError("A care relationship is with one professional or one care team.")
    subject = professional_id or care_team_id
    return _insert(
        uow,
        patient_id,
        FactKind.RELATIONSHIP,
        at,
        subject=subject,
        detail=kind.value,
        team=care_team_id is not None,
    )


def find_relationship(uow: UnitOfWork, relationship_id: str) -> tuple[str, Relationship]:
    """The patient and the relationship with this id; raise FactNotFound."""
    row = uow.connection.execute(
        sa.select(access_facts).where(
            access_facts.c.id == relationship_id,
            access_facts.c.kind == FactKind.RELATIONSHIP.value,
        )
    ).first()
    if row is None:
        raise FactNotFound("There is no care relationship with that id.")
    relationship = Relationship(
        RelationshipKind(row.detail),
        row.started_at,
        professional_id=None if row.team else row.subject_id,
        care_team_id=row.subject_id if row.team else None,
        ended_at=row.ended_at,
        id=row.id,
    )
    return row.patient_id, relationship


def end_relationship(uow: UnitOfWork, relationship_id: str, at: datetime) -> None:
    """End a relationship (for an admission: the discharge); raise FactNotFound if none."""
    ended = uow.connection.execute(
        access_facts.update()
        .where(
            access_facts.c.id == relationship_id,
            access_facts.c.kind == FactKind.RELATIONSHIP.value,
            access_facts.c.ended_at.is_(None),
        )
        .values(ended_at=at)
    ).rowcount
    if not ended:
        raise FactNotFound("There is no care relationship in force with that id.")


def record_exclusion(
    uow: UnitOfWork, patient_id: str, professional_id: str, excluded: bool, at: datetime
) -> bool:
    """Exclude a professional from the patient's data, or lift the exclusion; return whether
    it changed."""
    ended = _end(uow, patient_id, FactKind.EXCLUSION, at, professional_id)
    if excluded:
        _insert(uow, patient_id, FactKind.EXCLUSION, at, subject=professional_id)
    return bool(excluded) != bool(ended)


def record_mask(
    uow: UnitOfWork,
    patient_id: str,
    document_id: str,
    author_id: str | None,
    masked: bool,
    at: datetime,
) -> bool:
    """Mask a document from everyone but its author, or unmask it; return whether it
    changed."""
    ended = _end(uow, patient_id, FactKind.MASK, at, document_id)
    if masked:
        _insert(uow, patient_id, FactKind.MASK, at, subject=document_id, detail=author_id)
    return bool(masked) != bool(ended)


def record_break_glass(
    uow: UnitOfWork,
    patient_id: str,
    professional_id: str,
    reason: EmergencyReason,
    at: datetime,
    lasts: timedelta,
) -> BreakGlass:
    """An emergency access from `at` for `lasts`; return the grant."""
    fact_id = _insert(
        uow,
        patient_id,
        FactKind.BREAK_GLASS,
        at,
        subject=professional_id,
        detail=reason.value,
        ended_at=at + lasts,
    )
    return BreakGlass(professional_id, at, at + lasts, reason, fact_id)


def started_by_month(
    uow: UnitOfWork,
    kind: RelationshipKind,
    patient_ids: sa.Select[tuple[str]],
    since: datetime,
    until: datetime,
) -> dict[str, int]:
    """How many relationships of this kind started in [since, until) for the patients the
    `patient_ids` query selects, by month ("YYYY-MM"): counts only, no patient named."""
    rows = uow.connection.execute(
        sa.select(access_facts.c.started_at).where(
            access_facts.c.kind == FactKind.RELATIONSHIP.value,
            access_facts.c.detail == kind.value,
            access_facts.c.started_at >= since,
            access_facts.c.started_at < until,
            access_facts.c.patient_id.in_(patient_ids.scalar_subquery()),
        )
    ).scalars()
    months: dict[str, int] = {}
    for started in rows:
        month = f"{started:%Y-%m}"
        months[month] = months.get(month, 0) + 1
    return dict(sorted(months.items()))
