"""The FHIR API over HTTP: an authorised, audited `GET /fhir/Patient/{id}` served by uvicorn
(uvloop, httptools) against a bare FastAPI route served the same way, both loaded from a
second process on loopback with 32 keep-alive connections.

Each server runs in its own process (spawned), on a free port of 127.0.0.1; the load comes
from `bench/_load.py` in a third. Rounds alternate which server goes first; every figure is
the median of its rounds. Any answer other than 200 fails the module: no figure is reported
from a run with errors.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from _harness import Goal, Installation, Results, installation, interleaved, log
from _patients import ndjson_lines
from _patients import patient as synthetic_patient
from coffre import identity, journal, records, signin
from coffre.access import Purpose, RelationshipKind
from coffre.config import Environment
from coffre.identity import NewAccount

BENCH = Path(__file__).resolve().parent
LOAD = BENCH / "_load.py"
HOST = "127.0.0.1"
CONNECTIONS = 32
PATIENTS = 200  # read in turn; each with consent and the physician's care relationship
WARM_UP_S = 2.0  # one unrecorded load run per server before the rounds
SETTLE_S = 0.5  # at the start of every round, before its window opens
ROUND_S = 4.0
ROUNDS = 3
STARTUP_TIMEOUT_S = 60.0
PHYSICIAN = "dr.banc"
PASSWORD = "violet kettle orbit 1968"  # noqa: S105 (a synthetic account's)


def run(results: Results) -> None:
    with installation(server=True) as inst:
        token, patient_ids = seed(inst)
        paths = [f"/fhir/Patient/{patient_id}" for patient_id in patient_ids]
        with (
            server("coffre", inst.home, inst.database_url) as coffre_port,
            server("bare") as bare_port,
        ):
            check_answers(coffre_port, bare_port, paths[0], token, patient_ids[0])
            ports = {"audited": coffre_port, "bare": bare_port}
            with inst.coffre.reader() as uow:
                entries_before = journal.size(uow)
            answered = dict.fromkeys(ports, 0)
            reports: dict[str, list[dict[str, Any]]] = {name: [] for name in ports}

            def measure(name: str) -> Callable[[float], float]:
                def once(seconds: float) -> float:
                    report = load(ports[name], paths, token, SETTLE_S, seconds)
                    answered[name] += report["ok"]
                    reports[name].append(report)
                    return report["requests_per_s"]

                return once

            log(f"api: warming up both servers, {WARM_UP_S:.0f} s each")
            for name in ports:
                answered[name] += load(ports[name], paths, token, WARM_UP_S, 1.0)["ok"]
            log(f"api: {ROUNDS} rounds of {ROUND_S:.0f} s per server, {CONNECTIONS} connections")
            rate = interleaved({name: measure(name) for name in ports}, [ROUND_S] * ROUNDS)
            with inst.coffre.reader() as uow:
                journaled = journal.size(uow) - entries_before
    if journaled < answered["audited"]:
        raise RuntimeError(
            f"{answered['audited']:,} audited reads answered but only {journaled:,} journaled"
        )
    p99 = {name: median([r["p99_ms"] for r in reports[name]]) for name in reports}
    for name, rounds in reports.items():
        each = ", ".join(f"{r['requests_per_s']:,.0f}/s" for r in rounds)
        log(
            f"api: {name}: {rate[name]:,.0f} requests/s, p50 "
            f"{median([r['p50_ms'] for r in rounds]):.1f} ms, p99 {p99[name]:.1f} ms "
            f"(rounds: {each}); the load generator used at most "
            f"{max(r['cpu_share'] for r in rounds):.0%} of a core"
        )
    log(f"api: {answered['audited']:,} audited reads answered, {journaled:,} entries journaled")
    ratio = rate["audited"] / rate["bare"]
    results.add(
        "api.audited_read_ratio",
        ratio,
        "x",
        baseline=rate["bare"],
        ratio=ratio,
        baseline_unit="req/s",
        goal=Goal(">=", 0.5),
    )
    results.add(
        "api.audited_read_p99_ms",
        p99["audited"],
        "ms",
        baseline=p99["bare"],
        ratio=p99["audited"] / p99["bare"],
        goal=Goal("<=", 25),
    )


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


# the installation ---------------------------------------------------------------------------


def seed(inst: Installation) -> tuple[str, list[str]]:
    """A physician of the installation's care provider, PATIENTS imported patients who
    consent to sharing and each have an appointment with the physician, and a personal
    access token of the physician for `user/Patient.rs`; return the token and the ids."""
    start = time.perf_counter()
    coffre, org, operator = inst.coffre, inst.organisation_id, inst.operator
    with coffre.uow() as uow:
        identity.create_accounts(
            uow, [NewAccount(org, PHYSICIAN, PASSWORD, "practitioner", "Dr Banc", "physician")]
        )
        uow.commit()
    with coffre.reader() as uow:
        physician = identity.actor_for(uow, PHYSICIAN, source="bench")
    lines = ndjson_lines(PATIENTS, seed=7)
    report = records.import_patients(coffre.uow(), coffre.vault, operator, lambda: iter(lines), org)
    if len(report.imported) != PATIENTS:
        raise RuntimeError(f"{len(report.imported)} of {PATIENTS} synthetic patients imported")
    patient_ids = [patient_id for _, patient_id in sorted(report.imported)]
    for patient_id in patient_ids:
        records.set_consent(
            coffre.uow(), coffre.vault, operator, patient_id, True, Purpose.PATIENT_REQUEST
        )
        records.start_relationship(
            coffre.uow(),
            coffre.vault,
            physician,
            patient_id,
            RelationshipKind.APPOINTMENT,
            Purpose.CARE,
            professional=PHYSICIAN,
        )
    token, _ = signin.issue_personal_token(
        coffre.uow(), operator, PHYSICIAN, "user/Patient.rs", timedelta(hours=1)
    )
    log(
        f"api: {PATIENTS} patients with consent and a care relationship, and a token, "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return token, patient_ids


# the servers --------------------------------------------------------------------------------

# What the bare route answers: a Patient of the same shape as the imported ones.
_BARE_PATIENT = synthetic_patient(random.Random(7), 0)


def bare_app() -> Any:
    """A FastAPI app with one async route returning a small JSON dict, and nothing else."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/fhir/Patient/{patient_id}")
    async def read_patient(patient_id: str) -> dict[str, Any]:
        return {**_BARE_PATIENT, "id": patient_id}

    return app


def serve(kind: str, home: str | None, database_url: str, parent: Connection) -> None:
    """Serve Coffre's app (over the installation in `home` and its database) or the bare
    app with uvicorn on uvloop and httptools, on a free port of 127.0.0.1 sent through
    `parent`, until the parent says stop (or goes away); then shut down as uvicorn does on
    Ctrl+C."""
    import uvicorn

    coffre = None
    if kind == "coffre":
        from coffre.bootstrap import open_coffre
        from coffre.cli.app import settle_heap
        from coffre.config import load_settings
        from coffre.web import create_app

        assert home is not None
        # The physician reads its PATIENTS in turn, far past the inline guard's threshold:
        # this measures the audited read, not containment (bench/scenarios.py does that).
        env = {
            "COFFRE_ENVIRONMENT": Environment.DEVELOPMENT,
            "COFFRE_GUARD_PATIENTS": str(PATIENTS),
            "COFFRE_DATABASE_URL": database_url,
        }
        settings = load_settings(home, env=env)
        coffre = open_coffre(settings)
        app = create_app(coffre)
        settle_heap()  # as `coffre serve` does
    else:
        app = bare_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        backlog=256,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    def stop_when_told() -> None:
        with contextlib.suppress(EOFError, OSError):
            parent.recv()
        server.should_exit = True

    parent.send(sock.getsockname()[1])
    threading.Thread(target=stop_when_told, name="bench-stop", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        if coffre is not None:
            coffre.close()


class server:  # noqa: N801 (used as a context manager, like contextlib's)
    """A server process of `kind` ('coffre' or 'bare'): its port once it answers; stopped
    on the way out by telling it to (uvicorn's own clean shutdown)."""

    def __init__(self, kind: str, home: Path | None = None, database_url: str = "") -> None:
        self.kind, self.home, self.database_url = kind, home, database_url
        self.process: BaseProcess | None = None
        self.pipe: Connection | None = None

    def __enter__(self) -> int:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        home = None if self.home is None else str(self.home)
        self.process = context.Process(
            target=serve,
            args=(self.kind, home, self.database_url, child),
            name=f"bench-{self.kind}",
            daemon=True,
        )
        start = time.perf_counter()
        self.process.start()
        child.close()
        try:
            if not self.pipe.poll(STARTUP_TIMEOUT_S):
                raise RuntimeError(f"the {self.kind} server did not start")
            port = int(self.pipe.recv())
        except EOFError:
            raise RuntimeError(f"the {self.kind} server exited before listening") from None
        path = "/healthz" if self.kind == "coffre" else "/fhir/Patient/ping"
        while True:
            if not self.process.is_alive():
                raise RuntimeError(f"the {self.kind} server exited ({self.process.exitcode})")
            try:
                if get(port, path)[0] == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - start > STARTUP_TIMEOUT_S:
                raise RuntimeError(f"the {self.kind} server does not answer on port {port}")
            time.sleep(0.05)
        waited = time.perf_counter() - start
        log(f"api: {self.kind} server answers on port {port} after {waited:.1f} s")
        return port

    def __exit__(self, *_: object) -> None:
        process, pipe = self.process, self.pipe
        if process is None or pipe is None:
            return
        with contextlib.suppress(OSError):
            pipe.send("stop")
        process.join(15)
        pipe.close()
        if process.is_alive():
            log(f"[red]api: the {self.kind} server did not stop; ending it[/red]")
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)
        elif process.exitcode != 0:
            log(f"[red]api: the {self.kind} server exited with {process.exitcode}[/red]")


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One GET on its own connection: the status and the body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def check_answers(coffre_port: int, bare_port: int, path: str, token: str, patient_id: str) -> None:
    """One read from each server before any load: the audited one is the patient, and both
    bodies are of a similar size."""
    sizes = {}
    for name, port in (("audited", coffre_port), ("bare", bare_port)):
        status, body = get(port, path, {"Authorization": f"Bearer {token}"})
        if status != 200:
            raise RuntimeError(f"{name} read answered {status}: {body[:300]!r}")
        resource = json.loads(body)
        if (resource.get("resourceType"), resource.get("id")) != ("Patient", patient_id):
            raise RuntimeError(f"{name} read answered {body[:300]!r}")
        sizes[name] = len(body)
    log(f"api: a Patient is {sizes['audited']} bytes audited, {sizes['bare']} bytes bare")


# the load -----------------------------------------------------------------------------------


class LoadFailed(RuntimeError):
    """A load run with errors: its figures are not reported."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(report)
        self.report = report

    def __str__(self) -> str:
        r = self.report
        return (
            f"the load run had {r.get('errors')} errors (statuses {r.get('statuses')}); "
            f"first: {r.get('first_error')}"
        )


def load(
    port: int, paths: Sequence[str], token: str, warmup: float, seconds: float
) -> dict[str, Any]:
    """One run of bench/_load.py against the server on `port`: CONNECTIONS keep-alive
    connections sending GETs of `paths` in turn with the bearer token, `warmup` seconds
    then `seconds` measured. Raises LoadFailed if any answer was not a 200."""
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/fhir+json\r\n\r\n"
        for path in paths
    ]
    orders = {
        "host": HOST,
        "port": port,
        "connections": CONNECTIONS,
        "warmup": warmup,
        "duration": seconds,
        "requests": requests,
    }
    done = subprocess.run(
        [sys.executable, str(LOAD)],
        input=json.dumps(orders),
        capture_output=True,
        text=True,
        timeout=warmup + seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator exited with {done.returncode}: {done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout)
    if report["errors"] or not report["ok"]:
        raise LoadFailed(report)
    return report


if __name__ == "__main__":
    sys.exit("usage: python bench/run.py api")
