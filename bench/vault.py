"""The patient vault: audited reads, sealing, import throughput and blind-index lookups.

Every figure is measured next to a plaintext baseline in the same run and, except the
sealing figure, in the same SQLite database. `python bench/vault.py profile` profiles the
audited read with cProfile instead.
"""

from __future__ import annotations

import cProfile
import json
import random
import secrets
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from _harness import (
    Goal,
    Installation,
    Results,
    installation,
    interleaved,
    log,
    per_call,
    plain_engine,
    print_profile,
)
from _patients import ndjson_lines
from coffre import access, journal, records
from coffre.access import Action, Purpose
from coffre.crypto.sealed import Sealer, field_aad
from coffre.journal import Entry, EventKind, Outcome
from coffre.records import FindCriteria

READ_PATIENTS = 1_000
READ_ROUNDS = 9
READ_BATCH = 150
IMPORT_PATIENTS = 20_000
IMPORT_REPEATS = 3
PLAIN_BATCH = 1_000
FIND_PATIENTS = 100_000
FIND_ROUNDS = 7
FIND_BATCH = 60  # a multiple of 3: e-mail, NIR, family name + birth date in turn

_plain = sa.MetaData()
plain_patients = sa.Table(
    "bench_plain_patients",
    _plain,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("identity", sa.Text),
    sa.Column("contact", sa.Text),
)
plain_import = sa.Table(
    "bench_plain_import",
    _plain,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("national_id", sa.Text, index=True),
    sa.Column("resource", sa.Text),
)
plain_find = sa.Table(
    "bench_plain_find",
    _plain,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, index=True),
    sa.Column("resource", sa.Text),
)


def run(results: Results) -> None:
    read_and_seal(results)
    import_throughput(results)
    find_at_100k(results)


# shared ----------------------------------------------------------------------


def import_lines(inst: Installation, lines: Sequence[str]) -> list[str]:
    """Import the lines with records.import_patients; return the patient ids in line order."""
    coffre = inst.coffre
    report = records.import_patients(
        coffre.uow(), coffre.vault, inst.operator, lambda: iter(lines), inst.organisation_id
    )
    if report.invalid or report.duplicates or len(report.imported) != len(lines):
        raise RuntimeError(
            f"the synthetic import was not clean: {len(report.invalid)} invalid, "
            f"{len(report.duplicates)} duplicates"
        )
    return [patient_id for _, patient_id in sorted(report.imported)]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# 1, 2: audited read and seal + open, against a plaintext row read -----------------


@dataclass(frozen=True)
class PatientParts:
    key: bytes
    organisation_id: str
    patient_id: str
    identity: dict[str, Any]
    contact: dict[str, Any]


def fill_plain_patients(engine: Engine, ids: Sequence[str], lines: Sequence[str]) -> None:
    """The same patients' identity and contact JSON, in clear, one row per patient."""
    rows = []
    for patient_id, text in zip(ids, lines, strict=True):
        data = records.parse_patient(text, validate=False)
        rows.append(
            {"id": patient_id, "identity": _dumps(data.identity), "contact": _dumps(data.contact)}
        )
    plain_patients.create(engine)
    with engine.begin() as conn:
        conn.execute(plain_patients.insert(), rows)


def plain_reader(engine: Engine) -> Callable[[str], tuple[Any, Any]]:
    query = sa.select(plain_patients.c.identity, plain_patients.c.contact).where(
        plain_patients.c.id == sa.bindparam("patient_id")
    )

    def read(patient_id: str) -> tuple[Any, Any]:
        with engine.connect() as conn:
            row = conn.execute(query, {"patient_id": patient_id}).one()
        return json.loads(row.identity), json.loads(row.contact)

    return read


def audited_reader(inst: Installation) -> Callable[[str], dict[str, Any]]:
    coffre = inst.coffre

    def read(patient_id: str) -> dict[str, Any]:
        return records.read_patient(
            coffre.uow(), coffre.vault, inst.operator, patient_id, Purpose.SUBJECT_ACCESS
        )

    return read


def journaled_plain_reader(inst: Installation) -> Callable[[str], tuple[Any, Any]]:
    """The same gate and journal as an audited read (decision, entry, commit), over the
    plaintext row: what the read would cost without the vault's sealing."""
    coffre = inst.coffre
    query = sa.select(plain_patients.c.identity, plain_patients.c.contact).where(
        plain_patients.c.id == sa.bindparam("patient_id")
    )

    def read(patient_id: str) -> tuple[Any, Any]:
        with coffre.uow() as uow:
            decision = access.decide(inst.operator, Action.READ, Purpose.SUBJECT_ACCESS)
            row = uow.connection.execute(query, {"patient_id": patient_id}).one()
            entry = Entry(
                EventKind.PATIENT_READ,
                inst.operator,
                decision,
                Outcome.SUCCESS,
                Purpose.SUBJECT_ACCESS,
                (patient_id,),
            )
            journal.append(uow, [entry])
            uow.commit()
        return json.loads(row.identity), json.loads(row.contact)

    return read


def seal_open(parts: PatientParts) -> tuple[Any, Any]:
    """Seal a patient's identity and contact under its own data key, then open both, as
    records.vault.PatientBox does."""
    sealer = Sealer(parts.key)
    org, pid = parts.organisation_id, parts.patient_id
    identity_aad = field_aad(org, "patients", "identity", pid, 1)
    contact_aad = field_aad(org, "patients", "contact", pid, 1)
    identity = sealer.seal(_dumps(parts.identity).encode(), identity_aad)
    contact = sealer.seal(_dumps(parts.contact).encode(), contact_aad)
    return (
        json.loads(sealer.open(identity, identity_aad)),
        json.loads(sealer.open(contact, contact_aad)),
    )


def patient_parts(
    organisation_id: str, ids: Sequence[str], lines: Sequence[str]
) -> dict[str, PatientParts]:
    """Each patient's identity and contact with a fresh 32-byte data key of its own."""
    parts = {}
    for patient_id, text in zip(ids, lines, strict=True):
        data = records.parse_patient(text, validate=False)
        key = secrets.token_bytes(32)
        parts[patient_id] = PatientParts(
            key, organisation_id, patient_id, data.identity, data.contact
        )
    return parts


@dataclass
class ReadSetup:
    inst: Installation
    ids: list[str]
    plain: Callable[[str], tuple[Any, Any]]
    audited: Callable[[str], dict[str, Any]]
    journaled_plain: Callable[[str], tuple[Any, Any]]
    parts: dict[str, PatientParts]


def _check_read(setup: ReadSetup, lines: Sequence[str]) -> None:
    resource = setup.audited(setup.ids[0])
    expected = json.loads(lines[0])["identifier"][0]["value"]
    if resource["identifier"][0]["value"] != expected:
        raise RuntimeError("the audited read returned another patient")
    if setup.plain(setup.ids[0])[0]["identifier"][0]["value"] != expected:
        raise RuntimeError("the plaintext read returned another patient")


def read_measures(setup: ReadSetup) -> dict[str, Callable[[list[str]], float]]:
    return {
        "plain": lambda batch: per_call(setup.plain, batch),
        "audited": lambda batch: per_call(setup.audited, batch),
        "journaled_plain": lambda batch: per_call(setup.journaled_plain, batch),
        "seal_open": lambda batch: per_call(seal_open, [setup.parts[i] for i in batch]),
    }


def read_and_seal(results: Results) -> None:
    lines = ndjson_lines(READ_PATIENTS, seed=11)
    rng = random.Random(12)
    with installation() as inst:
        ids = import_lines(inst, lines)
        engine = plain_engine(inst.database_path)
        try:
            fill_plain_patients(engine, ids, lines)
            parts = patient_parts(inst.organisation_id, ids, lines)
            setup = ReadSetup(
                inst,
                ids,
                plain_reader(engine),
                audited_reader(inst),
                journaled_plain_reader(inst),
                parts,
            )
            _check_read(setup, lines)
            measures = read_measures(setup)
            log(f"vault: reads of {READ_PATIENTS:,} patients, {READ_ROUNDS} rounds")
            interleaved(measures, [rng.choices(ids, k=READ_BATCH)])  # warm-up
            rounds = [rng.choices(ids, k=READ_BATCH) for _ in range(READ_ROUNDS)]
            median = interleaved(measures, rounds)
        finally:
            engine.dispose()
    plain_us, audited_us = median["plain"] * 1e6, median["audited"] * 1e6
    seal_us = median["seal_open"] * 1e6
    journaled_us = median["journaled_plain"] * 1e6
    read_ratio, seal_ratio = audited_us / plain_us, seal_us / plain_us
    results.add(
        "vault.read_ratio",
        read_ratio,
        "x",
        baseline=plain_us,
        ratio=read_ratio,
        baseline_unit="µs",
        goal=Goal("<=", 1.5),
    )
    results.add("vault.read_us", audited_us, "µs", baseline=plain_us, ratio=read_ratio)
    # What sealing adds to a read that is decided and journaled either way.
    results.add(
        "vault.read_sealing_overhead",
        audited_us / journaled_us,
        "x",
        baseline=journaled_us,
        ratio=audited_us / journaled_us,
        baseline_unit="µs",
    )
    results.add(
        "vault.seal_open_ratio",
        seal_ratio,
        "x",
        baseline=plain_us,
        ratio=seal_ratio,
        baseline_unit="µs",
    )


# 3: import throughput against a plaintext bulk insert -----------------------------


def plain_bulk_insert(engine: Engine, lines: Sequence[str]) -> float:
    """Seconds to insert the resources in clear, with their national id indexed, in batches
    of 1,000 in one transaction."""
    start = time.perf_counter()
    with engine.begin() as conn:
        for first in range(0, len(lines), PLAIN_BATCH):
            rows = []
            for text in lines[first : first + PLAIN_BATCH]:
                resource = json.loads(text)
                national_id = resource["identifier"][0]["value"]
                rows.append({"id": str(uuid.uuid4()), "national_id": national_id, "resource": text})
            conn.execute(plain_import.insert(), rows)
    return time.perf_counter() - start


def timed_import(inst: Installation, lines: Sequence[str]) -> float:
    start = time.perf_counter()
    import_lines(inst, lines)
    return time.perf_counter() - start


def import_once(lines: Sequence[str], coffre_first: bool) -> tuple[float, float]:
    """(Coffre import seconds, plaintext insert seconds) in one fresh installation."""
    with installation() as inst:
        engine = plain_engine(inst.database_path)
        try:
            plain_import.create(engine)
            if coffre_first:
                vault = timed_import(inst, lines)
                plain = plain_bulk_insert(engine, lines)
            else:
                plain = plain_bulk_insert(engine, lines)
                vault = timed_import(inst, lines)
        finally:
            engine.dispose()
    return vault, plain


def import_throughput(results: Results) -> None:
    lines = ndjson_lines(IMPORT_PATIENTS, seed=21)
    import_once(lines[:500], coffre_first=True)  # warm-up
    vault_times, plain_times = [], []
    for repeat in range(IMPORT_REPEATS):
        vault, plain = import_once(lines, coffre_first=repeat % 2 == 0)
        log(f"vault: import of {len(lines):,} patients in {vault:.1f} s (plaintext {plain:.2f} s)")
        vault_times.append(vault)
        plain_times.append(plain)
    value = len(lines) / sorted(vault_times)[len(vault_times) // 2]
    baseline = len(lines) / sorted(plain_times)[len(plain_times) // 2]
    results.add(
        "vault.import_per_s",
        value,
        "patients/s",
        baseline=baseline,
        ratio=value / baseline,
        goal=Goal(">=", 2_000),
    )


# 4: blind-index lookups at 100,000 patients against a clear indexed lookup ---------


@dataclass(frozen=True)
class Lookup:
    criteria: FindCriteria
    email: str
    patient_id: str


def lookup_for(kind: int, text: str, patient_id: str) -> Lookup:
    resource = json.loads(text)
    email = next(t["value"] for t in resource["telecom"] if t["system"] == "email")
    if kind == 0:
        criteria = FindCriteria(email=email)
    elif kind == 1:
        criteria = FindCriteria(nir=resource["identifier"][0]["value"])
    else:
        family = resource["name"][0]["family"]
        criteria = FindCriteria(family=family, birth_date=resource["birthDate"])
    return Lookup(criteria, email, patient_id)


def lookup_batches(ids: Sequence[str], lines: Sequence[str], seed: int) -> list[list[Lookup]]:
    """Random patients for the warm-up round and every measured round, each searched for by
    e-mail, NIR, and family name + birth date in turn."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(ids)), (FIND_ROUNDS + 1) * FIND_BATCH)
    lookups = [lookup_for(n % 3, lines[i], ids[i]) for n, i in enumerate(picked)]
    return [lookups[i : i + FIND_BATCH] for i in range(0, len(lookups), FIND_BATCH)]


def fill_plain_find(engine: Engine, ids: Sequence[str], lines: Sequence[str]) -> None:
    plain_find.create(engine)
    with engine.begin() as conn:
        for first in range(0, len(lines), PLAIN_BATCH):
            rows = []
            for patient_id, text in zip(
                ids[first : first + PLAIN_BATCH], lines[first : first + PLAIN_BATCH], strict=True
            ):
                telecom = json.loads(text)["telecom"]
                email = next(t["value"] for t in telecom if t["system"] == "email")
                rows.append({"id": patient_id, "email": email, "resource": text})
            conn.execute(plain_find.insert(), rows)


Finder = Callable[[Lookup], list[str]]


def finders(inst: Installation, engine: Engine) -> tuple[Finder, Finder]:
    """(audited blind-index search, plaintext indexed lookup by e-mail)."""
    coffre = inst.coffre
    query = sa.select(plain_find.c.id).where(plain_find.c.email == sa.bindparam("email"))

    def blind(lookup: Lookup) -> list[str]:
        return records.find_patients(coffre.uow(), coffre.vault, inst.operator, lookup.criteria)

    def plain(lookup: Lookup) -> list[str]:
        with engine.connect() as conn:
            return list(conn.execute(query, {"email": lookup.email}).scalars())

    return blind, plain


def check_finders(blind: Finder, plain: Finder, lookups: Sequence[Lookup]) -> None:
    for lookup in lookups:
        if lookup.patient_id not in blind(lookup) or plain(lookup) != [lookup.patient_id]:
            raise RuntimeError(f"a lookup missed its patient: {lookup.criteria}")


def find_at_100k(results: Results) -> None:
    lines = ndjson_lines(FIND_PATIENTS, seed=31)
    with installation() as inst:
        start = time.perf_counter()
        ids = import_lines(inst, lines)
        log(f"vault: {len(ids):,} patients imported in {time.perf_counter() - start:.1f} s")
        engine = plain_engine(inst.database_path)
        try:
            fill_plain_find(engine, ids, lines)
            blind, plain = finders(inst, engine)
            warm_up, *rounds = lookup_batches(ids, lines, seed=32)
            check_finders(blind, plain, warm_up)
            measures: dict[str, Callable[[list[Lookup]], float]] = {
                "plain": lambda batch: per_call(plain, batch),
                "blind": lambda batch: per_call(blind, batch),
            }
            interleaved(measures, [warm_up])
            log(f"vault: lookups at {len(ids):,} patients, {FIND_ROUNDS} rounds")
            median = interleaved(measures, rounds)
        finally:
            engine.dispose()
    value, baseline = median["blind"] * 1e3, median["plain"] * 1e3
    results.add("vault.find_ms_at_100k", value, "ms", baseline=baseline, ratio=value / baseline)


# profiling -------------------------------------------------------------------


def profile_read(reads: int = 2_000) -> None:
    """Print where an audited read spends its time (cProfile, warm key cache)."""
    lines = ndjson_lines(READ_PATIENTS, seed=11)
    rng = random.Random(13)
    with installation() as inst:
        ids = import_lines(inst, lines)
        read = audited_reader(inst)
        per_call(read, rng.choices(ids, k=200))
        batch = rng.choices(ids, k=reads)
        profiler = cProfile.Profile()
        profiler.enable()
        per_call(read, batch)
        profiler.disable()
    print_profile("audited read", profiler)


if __name__ == "__main__":
    if sys.argv[1:] != ["profile"]:
        sys.exit("usage: python bench/vault.py profile   (bench/run.py runs the benchmarks)")
    profile_read()
