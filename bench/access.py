"""Access decisions: one care decision with its facts already loaded, and the gate's whole
work for one patient (load their facts, decide).

Every figure is measured next to a baseline in the same run, as the median over rounds of
many calls, both sides alternating; the gate's baseline reads the same SQLite database.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    plain_engine,
    statements,
)
from coffre import access
from coffre.access import (
    Action,
    CareRequest,
    Category,
    DataRequest,
    Decision,
    FactKind,
    PatientFacts,
    Profession,
    Professional,
    Purpose,
    Relationship,
    RelationshipKind,
    decide_care,
)
from coffre.access.tables import access_facts
from coffre.identity import Actor, ActorKind, OrganisationKind

CALLS = 20_000
ROUNDS = 7
GATE_PATIENTS = 10_000
GATE_PATIENTS_PER_COMMIT = 2_500
GATE_ROUNDS = 9
GATE_BATCH = 2_000
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def run(results: Results) -> None:
    decision_median(results)
    gate(results)


# 1: one care decision with its facts loaded, against building a bare Decision -------------


def _facts(now: datetime) -> tuple[CareRequest, PatientFacts]:
    me = Professional(
        "0b7c2a4e-7d0a-4b6e-8f55-2f1a0c9d3e11", Profession.PHYSICIAN, frozenset({"team-cardio"})
    )
    relationships = (
        Relationship(RelationshipKind.APPOINTMENT, now - timedelta(days=400), "someone-else"),
        Relationship(RelationshipKind.ADMISSION, now - timedelta(days=3), care_team_id="team-x"),
        Relationship(
            RelationshipKind.GENERAL_PRACTITIONER, now - timedelta(days=30), me.account_id
        ),
    )
    facts = PatientFacts(
        "5f0c1d2e-0000-4000-8000-000000000001",
        consent=True,
        relationships=relationships,
        excluded=frozenset({"other"}),
        masked_documents={"doc-9": "author-1"},
    )
    request = CareRequest(me, frozenset({Category.CLINICAL_NOTES, Category.RESULTS}))
    return request, facts


def _per_call(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(CALLS):
        work()
    return (time.perf_counter() - start) / CALLS


def decision_median(results: Results) -> None:
    request, facts = _facts(NOW)
    assert decide_care(request, facts, NOW).allowed

    def decide() -> object:
        return decide_care(request, facts, NOW)

    def baseline() -> object:
        return Decision(True, "rule", "why", {"a": "b"})

    log(f"access: {ROUNDS} rounds of {CALLS:,} decisions")
    _per_call(decide), _per_call(baseline)  # warm-up
    decided, bare = [], []
    for _ in range(ROUNDS):
        decided.append(_per_call(decide))
        bare.append(_per_call(baseline))
    value = statistics.median(decided) * 1e6
    base = statistics.median(bare) * 1e6
    results.add(
        "access.decision_median_us",
        value,
        "µs",
        baseline=base,
        ratio=value / base,
        goal=Goal("<=", 50),
    )


# 2: load one patient's facts and decide, against an indexed select of as many rows --------

_plain = sa.MetaData()
plain_facts = sa.Table(
    "bench_plain_facts",
    _plain,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("patient_id", sa.Text, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("subject_id", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("team", sa.Boolean, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
)
CARE_READ = DataRequest(
    Action.READ, Purpose.CARE, frozenset({Category.CLINICAL_NOTES, Category.RESULTS})
)
STARTED_BY_CARE = (
    RelationshipKind.GENERAL_PRACTITIONER,
    RelationshipKind.APPOINTMENT,
    RelationshipKind.ADMISSION,
    RelationshipKind.TELECONSULTATION,
    RelationshipKind.REFERRAL,
)


@dataclass(frozen=True)
class Staff:
    """The professionals and care teams the patients' facts name; the physician measured
    is the first professional, a member of the first team."""

    professionals: tuple[str, ...]
    teams: tuple[str, ...]

    @classmethod
    def make(cls, rng: random.Random, professionals: int = 30, teams: int = 6) -> Staff:
        def ids(n: int) -> tuple[str, ...]:
            return tuple(str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n))

        return cls(ids(professionals), ids(teams))

    def physician(self, organisation_id: str) -> Actor:
        """The physician as `identity.actor_for` makes a signed-in account."""
        return Actor(
            ActorKind.ACCOUNT,
            self.professionals[0],
            organisation_id,
            role="professional",
            profession=Profession.PHYSICIAN.value,
            session_id=str(uuid.uuid4()),
            source="203.0.113.57",
            organisation_kind=OrganisationKind.CARE_PROVIDER,
            care_team_ids=(self.teams[0],),
        )


def patient_fact_rows(rng: random.Random, staff: Staff, patient_id: str) -> list[dict[str, Any]]:
    """About six access_facts rows, as the access writers record them: a consent, 3 or 4
    relationships of different professionals or teams (for half the patients one is the
    physician's own or their team's, recent), often an exclusion or a masked document."""

    def fact(
        kind: FactKind,
        days: int,
        subject: str | None = None,
        detail: str | None = None,
        team: bool = False,
    ) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "patient_id": patient_id,
            "kind": kind.value,
            "subject_id": subject,
            "detail": detail,
            "team": team,
            "started_at": NOW - timedelta(days=rng.uniform(0, days)),
            "ended_at": None,
        }

    rows = [fact(FactKind.CONSENT, 730)]
    subjects = rng.sample(
        [(p, False) for p in staff.professionals[1:]] + [(t, True) for t in staff.teams[1:]],
        rng.choice((3, 4)),
    )
    if rng.random() < 0.5:
        own = (staff.teams[0], True) if rng.random() < 0.3 else (staff.professionals[0], False)
        subjects[0] = own
    for number, (subject, team) in enumerate(subjects):
        kind = rng.choice(STARTED_BY_CARE).value
        days = 30 if number == 0 else 365
        rows.append(fact(FactKind.RELATIONSHIP, days, subject, detail=kind, team=team))
    if rng.random() < 0.7:
        rows.append(fact(FactKind.EXCLUSION, 365, rng.choice(staff.professionals)))
    if rng.random() < 0.7:
        author = rng.choice(staff.professionals)
        rows.append(fact(FactKind.MASK, 365, str(uuid.uuid4()), detail=author))
    return rows


def fill_facts(inst: Installation, rng: random.Random, staff: Staff) -> list[str]:
    """GATE_PATIENTS patients' facts inserted into access_facts, a few big units of work of
    one executemany each; return the patient ids."""
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(GATE_PATIENTS)]
    for first in range(0, len(ids), GATE_PATIENTS_PER_COMMIT):
        chunk = ids[first : first + GATE_PATIENTS_PER_COMMIT]
        rows = [row for patient_id in chunk for row in patient_fact_rows(rng, staff, patient_id)]
        with inst.coffre.uow() as uow:
            uow.connection.execute(access_facts.insert(), rows)
            uow.commit()
    return ids


def fill_plain_facts(engine: Engine) -> int:
    """The same rows, in clear, in a plain table indexed on patient_id; return how many."""
    _plain.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO bench_plain_facts SELECT * FROM access_facts")
        return int(conn.execute(sa.select(sa.func.count()).select_from(plain_facts)).scalar_one())


def check_gate(inst: Installation, engine: Engine, physician: Actor, ids: Sequence[str]) -> float:
    """One load is one statement and fetches what the plain select fetches; return the share
    of the patients the physician may read."""
    query = sa.select(plain_facts).where(plain_facts.c.patient_id == ids[0])
    with inst.coffre.reader() as uow, engine.connect() as conn:
        with statements(inst.coffre.engine, uow) as sent:
            facts = access.load_patient_facts(uow, ids[0], NOW)
        if len(sent) != 1:
            raise RuntimeError(f"load_patient_facts sent {len(sent)} statements, not one")
        loaded = 1 + len(facts.relationships) + len(facts.excluded) + len(facts.masked_documents)
        if len(conn.execute(query).all()) != loaded:
            raise RuntimeError("the plain select does not fetch the patient's facts")
        allowed = sum(
            access.decide_data(
                physician,
                CARE_READ,
                access.load_patient_facts(uow, patient_id, NOW),
                NOW,
                patient_organisation_id=None,
            ).allowed
            for patient_id in ids
        )
    return allowed / len(ids)


def gate_measures(
    inst: Installation, engine: Engine, physician: Actor
) -> dict[str, Callable[[list[str]], float]]:
    """Seconds per call of each side over a batch of patients, each side in one read unit of
    work (one connection) open for the whole batch, as a service's gate runs inside its own."""
    query = sa.select(plain_facts).where(plain_facts.c.patient_id == sa.bindparam("patient_id"))

    def gated(batch: list[str]) -> float:
        with inst.coffre.reader() as uow:
            start = time.perf_counter()
            for patient_id in batch:
                facts = access.load_patient_facts(uow, patient_id, NOW)
                access.decide_data(physician, CARE_READ, facts, NOW, patient_organisation_id=None)
            return (time.perf_counter() - start) / len(batch)

    def plain(batch: list[str]) -> float:
        with engine.connect() as conn:
            start = time.perf_counter()
            for patient_id in batch:
                conn.execute(query, {"patient_id": patient_id}).all()
            return (time.perf_counter() - start) / len(batch)

    return {"gate": gated, "plain": plain}


def gate(results: Results) -> None:
    rng = random.Random(41)
    staff = Staff.make(rng)
    with installation() as inst:
        start = time.perf_counter()
        ids = fill_facts(inst, rng, staff)
        engine = plain_engine(inst.database_path)
        try:
            rows = fill_plain_facts(engine)
            log(
                f"access: facts of {len(ids):,} patients ({rows:,} rows) stored in "
                f"{time.perf_counter() - start:.1f} s"
            )
            physician = staff.physician(inst.organisation_id)
            allowed = check_gate(inst, engine, physician, ids)
            log(f"access: gate of {GATE_ROUNDS} rounds of {GATE_BATCH:,} ({allowed:.0%} allowed)")
            measures = gate_measures(inst, engine, physician)
            interleaved(measures, [rng.choices(ids, k=GATE_BATCH)])  # warm-up
            rounds = [rng.choices(ids, k=GATE_BATCH) for _ in range(GATE_ROUNDS)]
            median = interleaved(measures, rounds)
        finally:
            engine.dispose()
    value, base = median["gate"] * 1e6, median["plain"] * 1e6
    results.add("access.gate_us", value, "µs", baseline=base, ratio=value / base, goal=None)
