"""Attack scenarios at CI size, against `coffre serve` with the watch on, as a real process
(bench/scenarios.py plays them at full scale): a physician's stolen credentials
scraping the patients in their care are cut at the inline guard's threshold and the account
is suspended by the watch; a colleague's, aimed at patients outside their care, get nothing
and are suspended for probing; a subcontractor's client token bulk-reading results is cut at
the same threshold and suspended; a credential-stuffing run takes no account, every source it
uses is locked, and the security officer is told. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from coffre import watch
from coffre.bootstrap import Coffre
from coffre.config import Settings
from scenarioworld import (
    HOST,
    Person,
    Raid,
    World,
    build_world,
    client_token,
    free_port,
    has_entries,
    is_patient,
    login,
    patient_read,
    people,
    raid,
    results_search,
    served,
    token_of,
)

GUARD = 20  # COFFRE_GUARD_PATIENTS, the default
CLIENT_GUARD = 15  # COFFRE_GUARD_CLIENT_PATIENTS (50 by default), below the 40 in care
CONTAINED_WITHIN_S = 10.0


@pytest.fixture
def world(coffre: Coffre) -> World:
    return build_world(coffre, in_care=40, unrelated=15, results=True)


@pytest.fixture
def origin(settings: Settings, world: World) -> str:
    del world  # seeded before the server starts
    return f"http://{HOST}:{free_port()}"


def alerts_on(coffre: Coffre, rule: str, group: str) -> list[watch.Alert]:
    with coffre.reader() as uow:
        found = watch.list_alerts(uow)
    return [a for a in found if a.rule_ref == rule and a.group_key == group]


def raided(
    origin: str,
    token: str,
    targets: list[tuple[str, str]],
    exposes: Callable[[Any], bool],
    connections: int = 4,
) -> Raid:
    """A raid at CI size: a few connections, stopped after CONTAINED_WITHIN_S at most."""
    return raid(
        origin, token, targets, exposes, connections=connections, limit_s=CONTAINED_WITHIN_S
    )


def wait_for_alert(coffre: Coffre, rule: str, group: str) -> None:
    deadline = time.monotonic() + 5
    while not alerts_on(coffre, rule, group):
        assert time.monotonic() < deadline, f"no {rule} alert for {group}"
        time.sleep(0.1)


def test_stolen_credentials_are_contained(
    coffre: Coffre, settings: Settings, world: World, origin: str
):
    home = Path(settings.home)
    env = {"COFFRE_GUARD_PATIENTS": str(GUARD), "COFFRE_DATABASE_URL": settings.database_url}
    with served(home, origin, env):
        # A scrape of the 40 patients in the physician's care, 4 connections at once.
        token = token_of(origin, world.scraper)
        scrape = raided(origin, token, [patient_read(p) for p in world.in_care], is_patient)
        assert len(scrape.exposed) <= GUARD, scrape
        assert scrape.contained_s is not None, scrape  # refused as suspended, not only 403
        assert set(scrape.statuses) <= {200, 403, 401}, scrape
        again = httpx.get(
            f"{origin}/fhir/Patient/{world.in_care[0]}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert again.status_code == 401
        assert alerts_on(coffre, "guard_stop_account", world.scraper.id)

        # A colleague's credentials, aimed at patients outside their care.
        token = token_of(origin, world.outsider)
        probe = raided(
            origin, token, [patient_read(p) for p in world.unrelated], is_patient, connections=2
        )
        assert probe.exposed == set(), probe
        assert probe.statuses[200] == 0
        assert probe.contained_s is not None, probe
        wait_for_alert(coffre, "probing", world.outsider.id)


BREACHED = "Sunshine-2019!"
GUESSES = ["123456", "Password1!", "Qwerty2020"]
SOURCES = ["203.0.113.7", "198.51.100.23"]


def test_a_client_token_and_a_stuffing_run_are_contained(
    coffre: Coffre, settings: Settings, world: World, origin: str
):
    # Accounts of the clinic whose password is in the attacker's list, with and without TOTP.
    members = people(coffre, world.clinic, ["sec.a1", "sec.a2"], password=BREACHED)
    members += people(coffre, world.clinic, ["sec.b1", "sec.b2"], password=BREACHED, totp=False)
    home = Path(settings.home)
    # The stuffing comes from several addresses, as through a reverse proxy on loopback.
    env = {
        "COFFRE_GUARD_CLIENT_PATIENTS": str(CLIENT_GUARD),
        "COFFRE_TRUSTED_PROXIES": "127.0.0.1",
        "COFFRE_DATABASE_URL": settings.database_url,
    }
    with served(home, origin, env):
        # The laboratory's client token, searching the results of every patient in care.
        token = client_token(origin, world.lab_client)
        bulk = raided(origin, token, [results_search(p) for p in world.in_care], has_entries)
        assert 0 < len(bulk.exposed) <= CLIENT_GUARD, bulk
        assert bulk.contained_s is not None, bulk
        assert alerts_on(coffre, "guard_stop_client", world.lab_client)

        # 30 usernames (the 4 accounts among them) x 3 passwords, the sources in turn.
        names = [m.username for m in members] + [f"user{n:03d}" for n in range(26)]
        plan = [(name, password) for name in names for password in [*GUESSES[:2], BREACHED]]
        random.Random(2026).shuffle(plan)
        statuses, locked = [], set()
        for k, (name, password) in enumerate(plan):
            source = SOURCES[k % len(SOURCES)]
            if source in locked:
                continue
            answer = login(origin, Person("", name, password, None), source=source)
            statuses.append(answer.status_code)
            if answer.headers.get("retry-after"):
                locked.add(source)
            if len(locked) == len(SOURCES):
                break
        assert 200 not in statuses, statuses
        assert locked == set(SOURCES), statuses
        for source in SOURCES:
            wait_for_alert(coffre, "credential_stuffing", source)
