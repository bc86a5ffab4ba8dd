"""Attack scenarios against a live `coffre serve`: the world they run in and the raid that
plays them. Used by tests/e2e/api/test_scenarios.py (small) and bench/scenarios.py (at
full scale).

The world: one clinic; a physician (the account an attacker takes over: password and TOTP
secret known) with consent and an appointment for each patient "in care"; more patients of
the clinic with no relationship to anyone; a second physician with no patient at all; and a
laboratory, subcontractor of the clinic by a contract for results, with a machine client.
`coffre serve` (the watch on, its shipped rules) then runs as a real process on a free
loopback port, and the attacker drives the FHIR API over HTTP.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyotp

from coffre import identity, records, signin
from coffre.access import Category, Purpose, RelationshipKind
from coffre.bootstrap import Coffre
from coffre.identity import NewAccount, OrganisationKind, local_operator, mfa
from factories import lines_of, patient
from machineclients import KEY, assertion, jwks

HOST = "127.0.0.1"
PASSWORD = "copper lantern meadow 4471"
RESULT = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"text": "HbA1c"},
    "subject": {"reference": "Patient/x"},
    "valueString": "6.1 %",
}


@dataclass(frozen=True)
class Person:
    """An account whose credentials the attacker holds: password and TOTP secret."""

    id: str
    username: str
    password: str
    secret: str | None


@dataclass(frozen=True)
class World:
    clinic: str
    lab: str
    scraper: Person  # the physician with every patient in care
    outsider: Person  # a physician of the clinic with no relationship to anyone
    in_care: list[str]
    unrelated: list[str]
    lab_client: str  # the laboratory's machine client (key: machineclients.KEY, kid k1)


def people(
    coffre: Coffre,
    organisation_id: str,
    usernames: Sequence[str],
    *,
    role: str = "practitioner",
    profession: str | None = "physician",
    totp: bool = True,
    password: str = PASSWORD,
) -> list[Person]:
    """Accounts of the organisation, with a TOTP app set up an hour ago when `totp` (so any
    current code is of a later step than the one used to set it up)."""
    box = coffre.signin().box
    then = datetime.now(UTC) - timedelta(hours=1)
    new = [
        NewAccount(organisation_id, name, password, role, name.title(), profession)
        for name in usernames
    ]
    found = []
    with coffre.uow() as uow:
        ids = identity.create_accounts(uow, new)
        for account_id, name in zip(ids, usernames, strict=True):
            secret = mfa.new_totp_secret() if totp else None
            if secret is not None:
                code = pyotp.TOTP(secret).at(then)
                mfa.enable_totp(uow, box, account_id, secret, code, then)
            found.append(Person(account_id, name, password, secret))
        uow.commit()
    return found


def build_world(coffre: Coffre, *, in_care: int, unrelated: int, results: bool) -> World:
    """The world above; with `results`, one results Observation per patient in care."""
    with coffre.uow() as uow:
        clinic = identity.create_organisation(
            uow, "Clinique des Essais", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        lab = identity.create_organisation(
            uow, "Laboratoire du Val", OrganisationKind.SUBCONTRACTOR, "FR"
        ).id
        identity.add_contract(
            uow,
            lab,
            clinic,
            [Category.RESULTS.value],
            [],
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
        uow.commit()
    operator = local_operator(clinic)
    scraper, outsider = people(coffre, clinic, ["dr.riviere", "dr.noel"])
    resources = [patient(family=f"Famille{n}") for n in range(in_care + unrelated)]
    report = records.import_patients(
        coffre.uow(), coffre.vault, operator, lines_of(resources), clinic
    )
    ids = [patient_id for _, patient_id in sorted(report.imported)]
    assert len(ids) == in_care + unrelated, report
    with coffre.reader() as uow:
        physician = identity.actor_for(uow, scraper.username, source="seed")
    for n, patient_id in enumerate(ids):
        records.set_consent(
            coffre.uow(), coffre.vault, operator, patient_id, True, Purpose.PATIENT_REQUEST
        )
        if n >= in_care:
            continue
        records.start_relationship(
            coffre.uow(),
            coffre.vault,
            physician,
            patient_id,
            RelationshipKind.APPOINTMENT,
            Purpose.CARE,
            professional=scraper.username,
        )
        if results:
            records.add_clinical_entry(
                coffre.uow(),
                coffre.vault,
                operator,
                patient_id,
                RESULT,
                Category.RESULTS,
                Purpose.DEMO,
            )
    client = signin.add_client(
        coffre.uow(),
        local_operator(lab),
        lab,
        "Results feed",
        jwks(("k1", KEY.public_key())),
        "system/Observation.rs",
        expires_at=datetime.now(UTC) + timedelta(days=30),
        per_hour=100_000,  # the guard, not the ceiling, is what the scenario meets
        per_day=1_000_000,
    )
    return World(clinic, lab, scraper, outsider, ids[:in_care], ids[in_care:], client.id)


# the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def served(home: Path, origin: str, env: dict[str, str] | None = None) -> Iterator[None]:
    """`coffre serve --watch` over the installation in `home`, as a real process listening
    on `origin`'s port; stopped with Ctrl+C (SIGINT) on the way out."""
    port = origin.rsplit(":", 1)[1]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    environ.update(COFFRE_HOME=str(home), COFFRE_PUBLIC_ORIGIN=origin, **(env or {}))
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "coffre", "serve", "--host", HOST, "--port", port, "--watch"],
            env=environ,
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"coffre serve did not start: {log.read()[-2000:]!r}")
                try:
                    if httpx.get(f"{origin}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def login(origin: str, person: Person, source: str | None = None) -> httpx.Response:
    """POST /auth/login with the person's password and current TOTP code."""
    form = {"username": person.username, "password": person.password}
    if person.secret is not None:
        form["code"] = pyotp.TOTP(person.secret).now()
    headers = {"X-Forwarded-For": source} if source else {}
    return httpx.post(f"{origin}/auth/login", data=form, headers=headers, timeout=30)


def token_of(origin: str, person: Person) -> str:
    answer = login(origin, person)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def client_token(origin: str, client_id: str) -> str:
    """A token from /auth/token for the laboratory's client (SMART Backend Services)."""
    answer = httpx.post(
        f"{origin}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(client_id, aud=f"{origin}/auth/token"),
        },
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"/auth/token answered {answer.status_code}: {answer.text[:300]}")
    return str(answer.json()["access_token"])


# the raid -----------------------------------------------------------------------------------


@dataclass
class Raid:
    """What a raid got: the patients whose data it received, every status, and when (seconds
    after its first request) it was first refused (403) and its credential first refused as
    suspended (401)."""

    exposed: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    refused_s: float | None = None
    contained_s: float | None = None
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


def raid(
    origin: str,
    token: str,
    targets: Sequence[tuple[str, str]],
    exposes: Callable[[Any], bool],
    *,
    connections: int = 6,
    limit_s: float = 30.0,
) -> Raid:
    """GET every (patient id, path) of `targets` as fast as `connections` keep-alive
    connections allow, going round again over those not yet exposed, until the token is
    refused (401) or `limit_s` has passed. `exposes(json)` says whether a 200 answer holds
    the patient's data."""
    result = Raid()
    lock, stop = threading.Lock(), threading.Event()
    pending = itertools.cycle(targets)
    distinct = len({patient_id for patient_id, _ in targets})
    started = time.perf_counter()

    def work() -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
        with httpx.Client(base_url=origin, headers=headers, timeout=30) as client:
            while not stop.is_set() and time.perf_counter() - started < limit_s:
                with lock:
                    if len(result.exposed) >= distinct:
                        break  # nothing left to take: the scrape went unchecked
                    patient_id, path = next(pending)
                    while patient_id in result.exposed:
                        patient_id, path = next(pending)
                answer = client.get(path)
                with lock:
                    result.statuses[answer.status_code] += 1
                    if answer.status_code == 200 and exposes(answer.json()):
                        result.exposed.add(patient_id)
                    if answer.status_code == 403 and result.refused_s is None:
                        result.refused_s = time.perf_counter() - started
                    if answer.status_code == 401:
                        if result.contained_s is None:
                            result.contained_s = time.perf_counter() - started
                        stop.set()

    threads = [threading.Thread(target=work, name=f"raid-{n}") for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def patient_read(patient_id: str) -> tuple[str, str]:
    return patient_id, f"/fhir/Patient/{patient_id}"


def is_patient(body: Any) -> bool:
    return isinstance(body, dict) and body.get("resourceType") == "Patient"


def results_search(patient_id: str) -> tuple[str, str]:
    return patient_id, f"/fhir/Observation?patient={patient_id}&category=results"


def has_entries(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("entry"))
