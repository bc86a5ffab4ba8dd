"""The patient's sharing choices read back: consent, the professionals excluded and the
documents masked, for the patient (or the operator at their request) only.

The look is decided, journaled and committed like the changes in `controls`, whose `_look`
it shares with the list of care relationships.
"""

from __future__ import annotations

from dataclasses import dataclass

from coffre.access import Control, ControlRequest, Purpose
from coffre.identity import Actor
from coffre.journal import EventKind
from coffre.records.controls import _look
from coffre.records.vault import Vault
from coffre.store import UnitOfWork


@dataclass(frozen=True)
class Choices:
    """A patient's sharing choices as they stand: consent, the professionals excluded, the
    documents masked (ids only)."""

    consent: bool
    excluded: tuple[str, ...]
    masked: tuple[str, ...]


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
    return Choices(
        facts.consent, tuple(sorted(facts.excluded)), tuple(sorted(facts.masked_documents))
    )
