"""Demo cases for the watch: a record flagged VIP, and a professional who shares a
patient's family name. Trying either is allowed, and raises an alert for the clinic's
security officer (`coffre watch alerts`, or at once under `coffre serve`)."""

from __future__ import annotations

from collections.abc import Mapping

from coffre import identity, records
from coffre.bootstrap import Coffre
from coffre.demo.care import case
from coffre.identity import Actor


def seed_watch_cases(
    coffre: Coffre,
    operator: Actor,
    physician: str,
    clinic_patients: list[str],
    family_of: Mapping[str, str],
) -> list[dict[str, object]]:
    """Flag the clinic's second patient `vip`, and give the clinic physician the family
    name of the first (kept as a blind-index digest only); return the two cases. Both
    patients consent and are in the physician's care (demo/care.py)."""
    vip, relative = clinic_patients[1], clinic_patients[0]
    records.flag_patient(coffre.uow(), operator, vip, "vip", True)
    with coffre.uow() as uow:
        identity.set_personal(uow, coffre.vault.blind, physician, family_of[relative])
        uow.commit()
    return [
        case(
            "a record flagged VIP: the GP reads it, and the clinic's security officer is "
            "alerted ('coffre watch alerts', rule flagged_record)",
            "allowed; alert flagged_record",
            f"care record {vip}",
            physician,
            patient_id=vip,
        ),
        case(
            "the GP shares this patient's family name (compared by blind-index digest): "
            "reading is allowed, and an alert says so (rule relative_record)",
            "allowed; alert relative_record",
            f"care record {relative}",
            physician,
            patient_id=relative,
        ),
    ]
