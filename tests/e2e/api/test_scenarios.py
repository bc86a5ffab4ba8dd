"""Attack scenarios at CI size, against `coffre serve` with the watch on, as a real process
(bench/scenarios.py plays them at full scale): a physician's stolen credentials
scraping the patients in their care are cut at the inline guard's threshold and the account
is suspended by the watch; a colleague's, aimed at patients outside their care, get nothing
and are suspended for probing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from coffre import watch
from coffre.bootstrap import Coffre
from coffre.config import Settings
from scenarioworld import (
    HOST,
    World,
    build_world,
    free_port,
    is_patient,
    patient_read,
    raid,
    served,
    token_of,
)

GUARD = 20  # COFFRE_GUARD_PATIENTS, the default
CONTAINED_WITHIN_S = 10.0


@pytest.fixture
def world(sqlite_coffre: Coffre) -> World:
    return build_world(sqlite_coffre, in_care=40, unrelated=15, results=False)


@pytest.fixture
def origin(sqlite_settings: Settings, world: World) -> str:
    del world  # seeded before the server starts
    return f"http://{HOST}:{free_port()}"


def alerts_on(coffre: Coffre, rule: str, account_id: str) -> list[watch.Alert]:
    with coffre.reader() as uow:
        found = watch.list_alerts(uow)
    return [a for a in found if a.rule_ref == rule and a.group_key == account_id]


def test_stolen_credentials_are_contained(
    sqlite_coffre: Coffre, sqlite_settings: Settings, world: World, origin: str
):
    home = Path(sqlite_settings.home)
    with served(home, origin, {"COFFRE_GUARD_PATIENTS": str(GUARD)}):
        # A scrape of the 40 patients in the physician's care, 4 connections at once.
        token = token_of(origin, world.scraper)
        scrape = raid(
            origin,
            token,
            [patient_read(p) for p in world.in_care],
            is_patient,
            connections=4,
            limit_s=CONTAINED_WITHIN_S,
        )
        assert len(scrape.exposed) <= GUARD, scrape
        assert scrape.contained_s is not None, scrape  # refused as suspended, not only 403
        assert set(scrape.statuses) <= {200, 403, 401}, scrape
        again = httpx.get(
            f"{origin}/fhir/Patient/{world.in_care[0]}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert again.status_code == 401
        assert alerts_on(sqlite_coffre, "guard_stop_account", world.scraper.id)

        # A colleague's credentials, aimed at patients outside their care.
        token = token_of(origin, world.outsider)
        probe = raid(
            origin,
            token,
            [patient_read(p) for p in world.unrelated],
            is_patient,
            connections=2,
            limit_s=CONTAINED_WITHIN_S,
        )
        assert probe.exposed == set(), probe
        assert probe.statuses[200] == 0
        assert probe.contained_s is not None, probe
        deadline = time.monotonic() + 5
        while not alerts_on(sqlite_coffre, "probing", world.outsider.id):
            assert time.monotonic() < deadline, "no probing alert"
            time.sleep(0.1)
