"""The inline guard at the gate: a professional with a relationship to every patient still
opens no more distinct patients within the window than the threshold; the refusal is
journaled, and nothing else is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from careworld import World, build_world, more_in_care
from coffre import records
from coffre.access import AccessDenied, Purpose, RelationshipKind
from coffre.bootstrap import Coffre
from coffre.records import Guard, GuardLimits
from factories import journal_records

LIMIT = 3


@pytest.fixture
def cared(coffre: Coffre) -> tuple[World, list[str]]:
    """The care world with four more patients, each consenting and in the physician's care."""
    world = build_world(coffre)
    ids = more_in_care(coffre, world, 4)
    coffre.vault.guard = Guard(
        GuardLimits(people=LIMIT, clients=LIMIT, window=timedelta(minutes=10))
    )
    return world, ids


def read(coffre: Coffre, world: World, patient_id: str) -> dict[str, object]:
    return records.read_patient(
        coffre.uow(), coffre.vault, world.physician, patient_id, Purpose.CARE
    )


def test_a_scrape_stops_at_the_threshold_exactly(
    coffre: Coffre, cared: tuple[World, list[str]]
) -> None:
    world, ids = cared
    for patient_id in ids[:LIMIT]:
        assert read(coffre, world, patient_id)["id"] == patient_id
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied) as refused:
        read(coffre, world, ids[LIMIT])
    assert refused.value.rule == "guard-distinct-patients"
    [stop] = journal_records(coffre)[before:]
    assert (stop.action, stop.outcome, stop.rule) == (
        "watch:guard:stop",
        "denied",
        "guard-distinct-patients",
    )
    assert stop.patient_ids == (ids[LIMIT],)
    assert stop.actor_id == world.physician.id
    # Every further new patient is refused too; a patient opened already is not.
    with pytest.raises(AccessDenied):
        read(coffre, world, ids[LIMIT + 1])
    assert read(coffre, world, ids[0])["id"] == ids[0]
    # Another professional counts alone.
    records.start_relationship(
        coffre.uow(),
        coffre.vault,
        world.colleague,
        ids[LIMIT],
        RelationshipKind.APPOINTMENT,
        Purpose.CARE,
        professional="dr.bernard",
    )
    records.read_patient(coffre.uow(), coffre.vault, world.colleague, ids[LIMIT], Purpose.CARE)


def test_a_refused_read_is_not_counted(coffre: Coffre, cared: tuple[World, list[str]]) -> None:
    """A patient the policy refuses (no relationship) does not use up the guard."""
    world, ids = cared
    for _ in range(LIMIT + 2):
        with pytest.raises(AccessDenied) as refused:
            records.read_patient(coffre.uow(), coffre.vault, world.colleague, ids[1], Purpose.CARE)
        assert refused.value.rule != "guard-distinct-patients"
    assert coffre.vault.guard.opened(world.colleague, datetime.now(UTC)) == 0


def test_search_results_count_against_the_guard(
    coffre: Coffre, cared: tuple[World, list[str]]
) -> None:
    world, ids = cared
    for patient_id in ids[: LIMIT - 1]:
        read(coffre, world, patient_id)
    # A search that would show two more patients is refused as a whole.
    with pytest.raises(AccessDenied) as refused:
        records.search_patients(
            coffre.uow(),
            coffre.vault,
            world.physician,
            records.FindCriteria(family="Lefèvre", birth_date="1985-05-12"),
            Purpose.CARE,
        )
    assert refused.value.rule == "guard-distinct-patients"
