"""The patient's sharing choices read back, and replaced as a whole: consent, the
professionals excluded and the documents masked, for the patient (or the operator at their
request) only.

The look is decided, journaled and committed like the changes in `controls`, whose `_look`
it shares with the list of care relationships. A replacement is decided as a whole first
(`update-choices`), then each change in it as `set_consent`, `set_exclusion` and `set_mask`
decide it; all of them are journaled, recorded and notified in one transaction, or none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from coffre import access, identity
from coffre.access import Control, ControlRequest, PatientFacts, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.notify import NotificationKind
from coffre.records.controls import _Change, _look
from coffre.records.errors import UnknownChoice, VersionConflict
from coffre.records.gate import record
from coffre.records.tables import documents
from coffre.records.vault import Vault
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class Choices:
    """A patient's sharing choices as they stand: consent, the professionals excluded, the
    documents masked (ids only)."""

    consent: bool
    excluded: tuple[str, ...]
    masked: tuple[str, ...]

    @property
    def version(self) -> int:
        """A version number derived from the choices themselves: the same choices always
        have the same version, and any change gives another (up to 15 digits)."""
        text = "\n".join(
            ["yes" if self.consent else "no", *sorted(self.excluded), "", *sorted(self.masked)]
        )
        return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def _choices_of(facts: PatientFacts) -> Choices:
    return Choices(
        facts.consent, tuple(sorted(facts.excluded)), tuple(sorted(facts.masked_documents))
    )


def read_choices(
    uow: UnitOfWork, vault: Vault, actor: Actor, patient_id: str, purpose: Purpose
) -> Choices:
    """The patient's sharing choices, for the patient (or the operator at their request):
    no one else learns whom a patient excluded or what they masked."""
    facts, _ = _look(
        uow,
        vault,
        actor,
        patient_id,
        ControlRequest(Control.LIST_CHOICES, purpose),
        EventKind.CONSENT_READ,
        lambda facts: [f"consent:{'granted' if facts.consent else 'withdrawn'}"],
    )
    return _choices_of(facts)


@dataclass(frozen=True)
class _Step:
    """One change of a replacement, decided: what to record, then what to tell."""

    change: _Change
    apply: Callable[[datetime], bool]
    resource_ids: list[str]
    notice: NotificationKind
    params: dict[str, str]


def change_choices(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    wanted: Choices,
    purpose: Purpose,
    *,
    expected_version: int | None = None,
) -> Choices:
    """Make the patient's choices those `wanted`: give or withdraw consent, exclude or lift,
    mask or unmask, each decided, journaled and notified as its own service does, in one
    transaction; return the choices now in force. With `expected_version`, refuse (journaled
    as failed) when the choices are at another version. Raises AccessDenied,
    VersionConflict, UnknownChoice (a professional or a document of this patient that does
    not exist), NothingToChange, PatientNotFound or PatientErased; nothing changes then."""
    with uow:
        whole = _Change(
            uow,
            vault,
            actor,
            patient_id,
            ControlRequest(Control.UPDATE_CHOICES, purpose),
            EventKind.CONSENT_UPDATE,
        )
        current = _choices_of(access.load_patient_facts(uow, patient_id, whole.now))
        if expected_version is not None and current.version != expected_version:
            record(uow, actor, whole.decision, whole.kind, Outcome.FAILED, purpose, [patient_id])
            uow.commit()
            raise VersionConflict(
                f"The choices are at version {current.version}, not {expected_version}; "
                "read them again before changing them."
            )
        steps = _steps(uow, vault, actor, patient_id, current, wanted, purpose)
        if not steps:
            raise whole.unchanged("The patient's choices are already as asked.")
        for step in steps:
            step.apply(step.change.now)
            step.change.done(step.resource_ids, step.notice, commit=False, **step.params)
        uow.commit()
    return Choices(wanted.consent, tuple(sorted(wanted.excluded)), tuple(sorted(wanted.masked)))


def _steps(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    patient_id: str,
    current: Choices,
    wanted: Choices,
    purpose: Purpose,
) -> list[_Step]:
    """Each change from `current` to `wanted`, decided (a refusal is journaled and raised
    before anything is recorded)."""

    def decided(control: Control, kind: EventKind, subject: str | None = None) -> _Change:
        request = ControlRequest(control, purpose, subject_id=subject)
        return _Change(uow, vault, actor, patient_id, request, kind)

    steps: list[_Step] = []
    if wanted.consent != current.consent:
        granted = wanted.consent
        steps.append(
            _Step(
                decided(Control.CONSENT, EventKind.CONSENT_UPDATE),
                lambda at: access.record_consent(uow, patient_id, granted, at),
                [f"consent:{'granted' if granted else 'withdrawn'}"],
                NotificationKind.CONSENT_GRANTED if granted else NotificationKind.CONSENT_REVOKED,
                {},
            )
        )
    for account_id, excluded in _differences(current.excluded, wanted.excluded):
        account = (
            _professional(uow, account_id) if excluded else identity.find_account(uow, account_id)
        )
        steps.append(
            _Step(
                decided(Control.EXCLUSION, EventKind.EXCLUSION_UPDATE, account.id),
                lambda at, who=account.id, on=excluded: access.record_exclusion(
                    uow, patient_id, who, on, at
                ),
                [f"professional:{account.id}"],
                NotificationKind.EXCLUSION_SET if excluded else NotificationKind.EXCLUSION_LIFTED,
                {"subject": account.display_name},
            )
        )
    masking = _differences(current.masked, wanted.masked)
    authors = _authors(uow, patient_id, [d for d, masked in masking if masked])
    for document_id, masked in masking:
        steps.append(
            _Step(
                decided(Control.MASK, EventKind.MASK_UPDATE, document_id),
                lambda at, doc=document_id, on=masked: access.record_mask(
                    uow, patient_id, doc, authors.get(doc), on, at
                ),
                [document_id],
                NotificationKind.DOCUMENT_MASKED if masked else NotificationKind.DOCUMENT_UNMASKED,
                {},
            )
        )
    return steps


def _differences(current: tuple[str, ...], wanted: tuple[str, ...]) -> list[tuple[str, bool]]:
    """The ids to add (True) and to lift (False), each once, in a stable order."""
    added = sorted(set(wanted) - set(current))
    lifted = sorted(set(current) - set(wanted))
    return [(i, True) for i in added] + [(i, False) for i in lifted]


def _professional(uow: UnitOfWork, account_id: str) -> identity.Account:
    """The account to exclude, named by its id (a username is not a Practitioner's id)."""
    try:
        account = identity.find_account(uow, account_id)
    except identity.AccountNotFound:
        account = None
    if account is None or account.id != account_id or account.patient_id is not None:
        raise UnknownChoice(f"There is no professional with id {account_id}.", account_id)
    return account


def _authors(uow: UnitOfWork, patient_id: str, document_ids: list[str]) -> dict[str, str | None]:
    """The author of each document to mask; raise UnknownChoice for one that is not this
    patient's (a document of another patient is answered as no document at all)."""
    if not document_ids:
        return {}
    rows = uow.connection.execute(
        sa.select(documents.c.id, documents.c.author_id).where(
            documents.c.patient_id == patient_id, documents.c.id.in_(document_ids)
        )
    )
    authors: dict[str, str | None] = {row.id: row.author_id for row in rows}
    for document_id in document_ids:
        if document_id not in authors:
            raise UnknownChoice(f"There is no document with id {document_id}.", document_id)
    return authors
