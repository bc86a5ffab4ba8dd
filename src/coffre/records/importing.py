"""Importing patients from FHIR NDJSON: validated whole, then sealed and indexed in one
transaction, every patient journaled."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from coffre import journal
from coffre.access import Action, Decision, Purpose
from coffre.crypto import IndexKind
from coffre.identity import Actor
from coffre.journal import Entry, EventKind, Outcome
from coffre.records.errors import ImportSourceChanged, InvalidImport, InvalidResource, LineError
from coffre.records.fhir import PatientData, parse_patient
from coffre.records.gate import decide_or_refuse, record
from coffre.records.tables import patient_index, patients
from coffre.records.vault import PatientBox, Vault
from coffre.store import UnitOfWork

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    batch_id: str
    imported: list[tuple[int, str]] = field(default_factory=list)  # (line, patient id)
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # (line, why)
    invalid: list[LineError] = field(default_factory=list)


def _lines(
    open_lines: Callable[[], Iterable[str | bytes]], digest: Any
) -> Iterable[tuple[int, str | bytes]]:
    """(line number, text) of the non-blank lines; every line's bytes go into `digest`."""
    for number, text in enumerate(open_lines(), start=1):
        digest.update(text.encode() if isinstance(text, str) else text)
        digest.update(b"\n")
        if text.strip():
            yield number, text


def _validate_all(
    open_lines: Callable[[], Iterable[str | bytes]],
    regions: tuple[str, ...],
    progress: Progress | None,
    digest: Any,
) -> list[LineError]:
    errors: list[LineError] = []
    for number, text in _lines(open_lines, digest):
        try:
            parse_patient(text, regions)
        except InvalidResource as exc:
            errors.append(LineError(number, exc.message))
        if progress is not None:
            progress(1)
    return errors


def patient_index_rows(vault: Vault, patient_id: str, data: PatientData) -> list[dict[str, Any]]:
    blind, regions = vault.blind, vault.settings.phone_regions
    digests: set[tuple[str, bytes]] = set()
    digests.update((IndexKind.NATIONAL_ID, blind.national_id(s, v)) for s, v in data.national_ids)
    digests.update((IndexKind.EMAIL, blind.email(e)) for e in data.emails)
    for phone in data.phones:
        digests.update((IndexKind.PHONE, d) for d in blind.phones(phone, regions))
    digests.update(
        (IndexKind.FAMILY_BIRTH, blind.family_birth(f, b)) for f, b in data.family_births
    )
    # For the relatives check (a professional opening a relative's or neighbour's record).
    families = (blind.family(f) for f in data.families)
    digests.update((IndexKind.FAMILY, d) for d in families if d is not None)
    addresses = (blind.address(street, code) for street, code in data.addresses)
    digests.update((IndexKind.ADDRESS, d) for d in addresses if d is not None)
    return [{"kind": k.value, "digest": d, "patient_id": patient_id} for k, d in digests]


def patient_row(box: PatientBox, data: PatientData, now: datetime) -> dict[str, Any]:
    pid = box.patient_id
    return {
        "id": pid,
        "organisation_id": box.organisation_id,
        "key_version": box.key_version,
        "version": 1,
        "created_at": now,
        "updated_at": now,
        "identity": box.seal_json("patients", "identity", pid, data.identity),
        "contact": box.seal_json("patients", "contact", pid, data.contact),
    }


def import_patients(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    open_lines: Callable[[], Iterable[str | bytes]],
    organisation_id: str,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    batch_size: int = 1000,
    purpose: Purpose = Purpose.IMPORT,
) -> ImportReport:
    """Import FHIR Patient NDJSON lines into one organisation, all in one transaction.

    `open_lines` is called twice: once to validate every line, once to import. Raises
    InvalidImport (nothing imported) when a line is invalid and `skip_invalid` is false.
    """
    report = ImportReport(batch_id=f"import:{uuid.uuid4()}")
    regions = vault.settings.phone_regions
    created_keys: list[str] = []
    with uow:
        decision = decide_or_refuse(
            uow, actor, Action.IMPORT, purpose, EventKind.PATIENT_IMPORT, (), [report.batch_id]
        )

        def finish(outcome: Outcome) -> None:
            kind = EventKind.PATIENT_IMPORT
            record(uow, actor, decision, kind, outcome, purpose, (), [report.batch_id])
            uow.commit()

        checked = hashlib.sha256()
        report.invalid = _validate_all(open_lines, regions, progress, checked)
        if report.invalid and not skip_invalid:
            finish(Outcome.FAILED)
            raise InvalidImport(report.invalid)
        bad_lines = {e.line for e in report.invalid}
        seen: dict[bytes, int] = {}
        batch: list[tuple[int, PatientData]] = []

        def flush() -> None:
            _import_batch(
                uow,
                vault,
                actor,
                decision,
                purpose,
                organisation_id,
                batch,
                seen,
                report,
                created_keys,
            )
            batch.clear()

        # The second pass only splits the lines the first pass validated, and proves they
        # are the same bytes by hashing them again before the commit.
        reread = hashlib.sha256()
        try:
            for number, text in _lines(open_lines, reread):
                if number not in bad_lines:
                    batch.append((number, parse_patient(text, regions, validate=False)))
                    if len(batch) >= batch_size:
                        flush()
                if progress is not None:
                    progress(1)
            if batch:
                flush()
            if reread.digest() != checked.digest():
                raise ImportSourceChanged(
                    "The file changed while it was being imported, so nothing was imported."
                )
            finish(Outcome.SUCCESS)
        except BaseException:
            # The main transaction rolls back; keys made for it must not outlive it.
            if created_keys:
                vault.keyring.destroy(created_keys)
            raise
    return report


def _import_batch(
    uow: UnitOfWork,
    vault: Vault,
    actor: Actor,
    decision: Decision,
    purpose: Purpose,
    organisation_id: str,
    batch: list[tuple[int, PatientData]],
    seen: dict[bytes, int],
    report: ImportReport,
    created_keys: list[str],
) -> None:
    """Import one batch; every data key made is listed in `created_keys` at once, so the
    caller can destroy them if the transaction does not commit."""
    blind = vault.blind
    digests = {
        number: [blind.national_id(s, v) for s, v in data.national_ids] for number, data in batch
    }
    wanted = [d for ds in digests.values() for d in ds]
    existing: dict[bytes, str] = {}
    for start in range(0, len(wanted), 500):
        rows = uow.connection.execute(
            sa.select(patient_index.c.digest, patient_index.c.patient_id).where(
                patient_index.c.kind == IndexKind.NATIONAL_ID.value,
                patient_index.c.digest.in_(wanted[start : start + 500]),
            )
        )
        existing.update((r.digest, r.patient_id) for r in rows)
    fresh: list[tuple[int, PatientData]] = []
    for number, data in batch:
        twin = next((existing[d] for d in digests[number] if d in existing), None)
        if twin is not None:
            report.duplicates.append((number, f"same national identifier as patient {twin}"))
            continue
        earlier = next((seen[d] for d in digests[number] if d in seen), None)
        if earlier is not None:
            report.duplicates.append((number, f"same national identifier as line {earlier}"))
            continue
        seen.update((d, number) for d in digests[number])
        fresh.append((number, data))
    if not fresh:
        return
    ids = [str(uuid.uuid4()) for _ in fresh]
    created_keys.extend(ids)
    boxes = vault.new_boxes(organisation_id, ids)
    now = datetime.now(UTC)
    patient_rows, index_rows, entries = [], [], []
    for box, (number, data) in zip(boxes, fresh, strict=True):
        patient_rows.append(patient_row(box, data, now))
        index_rows.extend(patient_index_rows(vault, box.patient_id, data))
        entries.append(
            Entry(
                EventKind.PATIENT_CREATE,
                actor,
                decision,
                Outcome.SUCCESS,
                purpose,
                (box.patient_id,),
                (report.batch_id,),
            )
        )
        report.imported.append((number, box.patient_id))
    uow.connection.execute(patients.insert(), patient_rows)
    if index_rows:
        uow.connection.execute(patient_index.insert(), index_rows)
    journal.append(uow, entries)
