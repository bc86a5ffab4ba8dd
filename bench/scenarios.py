"""Attack scenarios against `coffre serve` (the watch on, its shipped rules) as a real process
on a free loopback port, driven through the FHIR API over HTTP; bounded in count and time.

1. scrape: a physician's stolen password and TOTP secret, a token from /auth/login, and
   every one of the 500 patients in their care read as fast as 6 connections allow;
2. unrelated: a colleague's stolen credentials aimed at 200 patients outside their care;
3. token: a subcontractor's machine client (results, by contract) bulk-reading the results
   of the 500 patients;
4. alert latency: 10 refused reads by a fresh account every 0.4 s (the probing rule) under a
   load of audited reads from bench/_load.py; journal entry to stored alert;
5. stuffing: 150 usernames × 3 passwords from 5 sources against /auth/login (bounded: each
   try that is not refused by a lock costs the server an argon2id verification).

The world is built by tests/scenarioworld.py (also used by tests/e2e/api/test_scenarios.py).
"""

from __future__ import annotations

import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from _harness import Goal, Results, installation, log
from _load import percentile
from api import load
from apicalls import personal_token
from coffre import identity, records, watch
from coffre.access import Purpose, RelationshipKind
from coffre.bootstrap import Coffre
from coffre.watch import follow
from scenarioworld import (
    HOST,
    PASSWORD,
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

IN_CARE, UNRELATED = 500, 200
CONNECTIONS = 6  # the attacker's, in scenarios 1 to 3
RAID_LIMIT_S = 30.0
READER_PATIENTS = 20  # the load's account reads these again and again (within the guard)
LOAD_WARM_UP_S, LOAD_S = 1.0, 12.0
PROBE_EVERY_S = 0.4
PROBE_READS = 10  # the probing rule's threshold
PROBERS = 26
ALERT_WAIT_S = 15.0
STUFFING_ACCOUNTS, STUFFING_TRIES, STUFFING_SOURCES = 150, 3, 5
STUFFING_MEMBERS = 40  # of the list's usernames, accounts of the clinic (half with TOTP)
STUFFING_THREADS = 8
STUFFING_LIMIT_S = 45.0
BREACHED = "Sunshine-2019!"
GUESSES = ["123456", "Password1!", "Qwerty2020", "Welcome1", "azerty123"]


def run(results: Results) -> None:
    with installation(server=True) as inst:
        coffre = inst.coffre
        start = time.perf_counter()
        world = build_world(coffre, in_care=IN_CARE, unrelated=UNRELATED, results=True)
        reader = reader_token(coffre, world)
        probers = [
            personal_token(coffre, world.clinic, p.username, "user/Patient.rs")
            for p in accounts(coffre, world, "dr.sonde", PROBERS, totp=False)
        ]
        members = accounts(coffre, world, "sec.a", STUFFING_MEMBERS // 2, password=BREACHED)
        members += accounts(
            coffre, world, "sec.b", STUFFING_MEMBERS - len(members), password=BREACHED, totp=False
        )
        log(
            f"scenarios: {IN_CARE} patients in care (with results), {UNRELATED} unrelated, "
            f"{PROBERS + STUFFING_MEMBERS + 3} accounts in {time.perf_counter() - start:.1f} s"
        )
        origin = f"http://{HOST}:{free_port()}"
        # The stuffing run comes from many addresses, as through a reverse proxy on loopback.
        env = {"COFFRE_TRUSTED_PROXIES": "127.0.0.1", "COFFRE_DATABASE_URL": inst.database_url}
        with served(inst.home, origin, env):
            log(f"scenarios: coffre serve --watch answers on {origin}")
            scrape(results, coffre, origin, world)
            unrelated(results, origin, world)
            token(results, origin, world)
            alert_latency(results, coffre, origin, world, reader, probers)
            stuffing(results, coffre, origin, members)


def accounts(
    coffre: Coffre,
    world: World,
    prefix: str,
    count: int,
    *,
    password: str | None = None,
    totp: bool = True,
) -> list[Person]:
    names = [f"{prefix}{n:03}" for n in range(count)]
    return people(coffre, world.clinic, names, totp=totp, password=password or PASSWORD)


def reader_token(coffre: Coffre, world: World) -> tuple[str, list[str]]:
    """The load's account: a physician with an appointment for READER_PATIENTS patients in
    care, and a personal token; return it with the patients."""
    [person] = accounts(coffre, world, "dr.charge", 1)
    with coffre.reader() as uow:
        physician = identity.actor_for(uow, person.username, source="seed")
    patients = world.in_care[:READER_PATIENTS]
    for patient_id in patients:
        records.start_relationship(
            coffre.uow(),
            coffre.vault,
            physician,
            patient_id,
            RelationshipKind.APPOINTMENT,
            Purpose.CARE,
            professional=person.username,
        )
    return personal_token(coffre, world.clinic, person.username, "user/Patient.rs"), patients


def all_alerts(coffre: Coffre) -> list[watch.Alert]:
    with coffre.reader() as uow:
        return watch.list_alerts(uow)


def report(name: str, outcome: Raid, targets: int) -> None:
    refused = "never" if outcome.refused_s is None else f"after {outcome.refused_s:.2f} s"
    contained = "never" if outcome.contained_s is None else f"after {outcome.contained_s:.2f} s"
    log(
        f"scenarios: {name}: {len(outcome.exposed)} of {targets} patients exposed in "
        f"{outcome.requests} requests ({dict(outcome.statuses)}); first refusal {refused}, "
        f"refused as suspended {contained}"
    )


# 1-3: raids --------------------------------------------------------------------------------


def raided(
    results: Results,
    name: str,
    origin: str,
    token: str,
    targets: list[tuple[str, str]],
    exposes: Callable[[Any], bool],
    *,
    most: int,
    containment: str | None = None,
) -> Raid:
    """Raid these (patient id, path) targets, log the outcome, and add the figure
    `scenario.<name>_exposed` (goal: at most `most`) and, if named, the containment figure
    (first request to refused as suspended, against the first refusal)."""
    outcome = raid(origin, token, targets, exposes, connections=CONNECTIONS, limit_s=RAID_LIMIT_S)
    report(name, outcome, len(targets))
    exposed = len(outcome.exposed)
    results.add(
        f"scenario.{name}_exposed",
        exposed,
        "patients",
        baseline=len(targets),
        ratio=exposed / len(targets),
        goal=Goal("<=", most),
    )
    if containment is not None:
        contained = outcome.contained_s if outcome.contained_s is not None else float("inf")
        refused = outcome.refused_s or float("nan")
        results.add(containment, contained, "s", baseline=refused, ratio=contained / refused)
    return outcome


def scrape(results: Results, coffre: Coffre, origin: str, world: World) -> None:
    token = token_of(origin, world.scraper)  # the stolen password and a current TOTP code
    targets = [patient_read(p) for p in world.in_care]
    raided(
        results, "scrape", origin, token, targets, is_patient,
        most=20, containment="scenario.containment_s",
    )  # fmt: skip
    alerts = [a.rule_ref for a in all_alerts(coffre) if a.group_key == world.scraper.id]
    log(f"scenarios: scrape: alerts on the account: {alerts}")


def unrelated(results: Results, origin: str, world: World) -> None:
    token = token_of(origin, world.outsider)
    targets = [patient_read(p) for p in world.unrelated]
    raided(
        results, "unrelated", origin, token, targets, is_patient,
        most=0, containment="scenario.unrelated_containment_s",
    )  # fmt: skip


def token(results: Results, origin: str, world: World) -> None:
    token = client_token(origin, world.lab_client)
    targets = [results_search(p) for p in world.in_care]
    raided(results, "token", origin, token, targets, has_entries, most=50)


# 4: journal entry to stored alert, under load -----------------------------------------------


def alert_latency(
    results: Results,
    coffre: Coffre,
    origin: str,
    world: World,
    reader: tuple[str, list[str]],
    probers: list[str],
) -> None:
    token, patients = reader
    port = int(origin.rsplit(":", 1)[1])
    paths = [f"/fhir/Patient/{p}" for p in patients]
    loaded: dict[str, object] = {}
    worker = threading.Thread(
        target=lambda: loaded.update(load(port, paths, token, LOAD_WARM_UP_S, LOAD_S)),
        name="scenario-load",
    )
    log(f"scenarios: {LOAD_S:.0f} s of audited reads, a probe every {PROBE_EVERY_S} s")
    worker.start()
    time.sleep(LOAD_WARM_UP_S + 0.5)
    answers: list[set[int]] = []

    def probe(secret: str) -> None:
        with httpx.Client(base_url=origin, headers={"Authorization": f"Bearer {secret}"}) as c:
            answers.append(
                {c.get(f"/fhir/Patient/{p}").status_code for p in world.unrelated[:PROBE_READS]}
            )

    probes = []  # one every PROBE_EVERY_S, each in its own thread, whatever the load's pace
    for prober in probers[: int((LOAD_S - 2.0) / PROBE_EVERY_S)]:
        probes.append(threading.Thread(target=probe, args=(prober,), name="scenario-probe"))
        probes[-1].start()
        time.sleep(PROBE_EVERY_S)
    for thread in probes:
        thread.join()
    if any(statuses != {403} for statuses in answers):
        raise RuntimeError(f"probes were answered {answers}, not only 403")
    worker.join()
    rate = float(loaded["requests_per_s"])  # type: ignore[arg-type]
    latencies = probe_latencies(coffre, len(probes))
    p99 = percentile(sorted(latencies), 0.99)
    p50 = statistics.median(latencies)
    log(
        f"scenarios: {rate:,.0f} audited reads/s (p99 {loaded['p99_ms']:.1f} ms); "
        f"{len(latencies)} probes, journal entry to stored alert p50 {p50:.0f} ms, "
        f"max {max(latencies):.0f} ms"
    )
    results.add(
        "watch.alert_p99_ms", p99, "ms", baseline=p50, ratio=p99 / p50, goal=Goal("<=", 1000)
    )
    results.add(
        "watch.alert_load_rps",
        rate,
        "req/s",
        baseline=2000,
        ratio=rate / 2000,
        goal=Goal(">=", 2000),
    )


def probe_latencies(coffre: Coffre, probes: int) -> list[float]:
    """For each probing alert: its `created_at` minus the `time` of the journal entry that
    made it fire (its last); waits until there are `probes` of them."""
    deadline = time.monotonic() + ALERT_WAIT_S
    while True:
        found = [a for a in all_alerts(coffre) if a.rule_ref == "probing"]
        if len(found) >= probes + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # One probing alert came from scenario 2 (the colleague): the probes' are the last ones.
    if len(found) < probes + 1:
        raise RuntimeError(f"{len(found) - 1} probing alerts for {probes} probes")
    latencies = []
    with coffre.reader() as uow:
        for alert in found[-probes:]:
            [entry] = follow.read(uow, max(alert.seqs), 1)
            latencies.append((alert.created_at - entry["time"]).total_seconds() * 1e3)
    return latencies


# 5: credential stuffing ---------------------------------------------------------------------


@dataclass
class Stuffing:
    made: int = 0
    locked_answers: int = 0
    right_checked: int = 0  # an existing account's breached password, not refused by a lock
    taken: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    locked: set[int] = field(default_factory=set)


def stuffing(results: Results, coffre: Coffre, origin: str, members: list[Person]) -> None:
    rng = random.Random(2026)
    existing = {m.username for m in members}
    names = sorted(existing) + [f"user{n:05d}" for n in range(STUFFING_ACCOUNTS - len(existing))]
    plan = [
        (name, password)
        for name in names
        for password in [*rng.sample(GUESSES, STUFFING_TRIES - 1), BREACHED]
    ]
    rng.shuffle(plan)
    log(
        f"scenarios: stuffing, {STUFFING_ACCOUNTS:,} usernames x {STUFFING_TRIES} passwords "
        f"({len(existing)} of them accounts whose password is in the list) from "
        f"{STUFFING_SOURCES} sources, until every source is locked"
    )
    state, lock = Stuffing(), threading.Lock()
    tries = iter(enumerate(plan))
    started = time.perf_counter()

    def work() -> None:
        while time.perf_counter() - started < STUFFING_LIMIT_S:
            with lock:
                if len(state.locked) == STUFFING_SOURCES:
                    return
                k, (name, password) = next(tries, (-1, ("", "")))
                while k >= 0 and k % STUFFING_SOURCES in state.locked:
                    k, (name, password) = next(tries, (-1, ("", "")))
                if k < 0:
                    return
                state.made += 1
            source = k % STUFFING_SOURCES
            who = Person("", name, password, None)
            answer = login(origin, who, source=f"203.0.113.{source}")
            with lock:
                state.statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    state.taken.add(name)
                if answer.headers.get("retry-after"):
                    state.locked_answers += 1
                    state.locked.add(source)
                elif name in existing and password == BREACHED:
                    state.right_checked += 1

    threads = [threading.Thread(target=work) for _ in range(STUFFING_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    sources_alerts = len([a for a in all_alerts(coffre) if a.rule_ref == "credential_stuffing"])
    log(
        f"scenarios: stuffing made {state.made:,} of {len(plan):,} tries in {seconds:.0f} s "
        f"({dict(state.statuses)}); {len(state.locked)} sources locked; "
        f"{state.right_checked} tries of a right password reached a check; "
        f"{len(state.taken)} accounts taken; {sources_alerts} stuffing alerts"
    )
    results.add(
        "scenario.stuffing_taken",
        len(state.taken),
        "accounts",
        baseline=state.right_checked,
        ratio=len(state.taken) / max(1, state.right_checked),
        baseline_unit="tries",
        goal=Goal("<=", 0),
    )


if __name__ == "__main__":
    sys.exit("usage: python bench/run.py scenarios")
