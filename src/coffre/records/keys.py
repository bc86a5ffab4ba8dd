"""Key administration that journals: rotation of the key-encryption key."""

from __future__ import annotations

from collections.abc import Callable

from coffre.access import Action, Purpose
from coffre.crypto import RotationReport
from coffre.identity import Actor
from coffre.journal import EventKind, Outcome
from coffre.records.gate import decide_or_refuse, record
from coffre.records.vault import Vault
from coffre.store import UnitOfWork


def rotate_keys(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    *,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> RotationReport:
    """Re-wrap every data and system key under a new KEK (resuming an interrupted rotation).

    The decision and the start are journaled before any key moves, the end after the last."""
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.ADMINISTER_KEYS, Purpose.KEY_MANAGEMENT, EventKind.KEY_ROTATE
        )
        pending = vault.keyring.pending_rotation()
        record(
            uow,
            actor,
            decision,
            EventKind.KEY_ROTATE,
            Outcome.SUCCESS,
            Purpose.KEY_MANAGEMENT,
            (),
            ["rotation:resume" if pending else "rotation:start"],
        )
        uow.commit()
    report = vault.keyring.rotate(batch_size=batch_size, progress=progress)
    with uow:
        record(
            uow,
            actor,
            decision,
            EventKind.KEY_ROTATE,
            Outcome.SUCCESS,
            Purpose.KEY_MANAGEMENT,
            (),
            [f"rotation:done:{report.kek_id}"],
        )
        uow.commit()
    return report
