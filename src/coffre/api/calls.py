"""What every endpoint shares: the installation, who calls, and the FHIR shapes of what
the records services return."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, TypeVar

import anyio
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from coffre import records, signin
from coffre.access import Category, Purpose
from coffre.api.auth import caller
from coffre.api.body import read_resource
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import CATEGORY_SYSTEM, no_total
from coffre.bootstrap import Coffre, WouldWait
from coffre.identity import Actor, OrganisationKind

T = TypeVar("T")


def purpose_of(actor: Actor) -> Purpose:
    """Why this actor reaches patient data through the API: a subcontractor under its
    contracts, a patient for their right of access, everyone else for care (the policy
    refuses those it does not fit)."""
    if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR:
        return Purpose.CONTRACT
    if actor.role == "patient":
        return Purpose.SUBJECT_ACCESS
    return Purpose.CARE


# How long a call waits for its turn at the database before it is answered 503 (as long
# as a writer waits for SQLite's lock).
TURN_WAIT_SECONDS = 10.0


class Turns:
    """The calls' turns at a database that takes one writer at a time (SQLite). A call does
    its database work at once on the event loop, where no other call runs meanwhile, so a
    turn costs nothing while the database is free. Only a call that finds the database's
    write turn taken (WouldWait) leaves the loop, to wait in a worker thread; until it is
    back the other calls wait for it, then all go on. (A semaphore would hand the turn
    over one waiter per pass of the loop, and under steady load its queue never empties:
    every call would pay for waiting, long after the one that waited is done.)"""

    def __init__(self) -> None:
        self._away: anyio.Event | None = None

    @property
    def free(self) -> bool:
        return self._away is None

    async def wait(self) -> None:
        """Until no call is away. Raises TimeoutError after TURN_WAIT_SECONDS."""
        with anyio.fail_after(TURN_WAIT_SECONDS):
            while self._away is not None:
                await self._away.wait()

    @contextlib.contextmanager
    def away(self) -> Iterator[None]:
        """Within: this call waits for the database off the loop, the others for it."""
        self._away = back = anyio.Event()
        try:
            yield
        finally:
            self._away = None
            back.set()


@dataclass(frozen=True)
class Api:
    coffre: Coffre
    ctx: signin.Context
    # On a database that takes one writer at a time (SQLite), the calls do their database
    # work one at a time: each audited call is a write transaction, so they would queue on
    # the database's write lock anyway, and threads queued there cost more CPU in
    # hand-overs than the work itself (see `run`). None: no turns (PostgreSQL).
    turns: Turns | None = None

    @property
    def base(self) -> str:
        return self.coffre.settings.public_origin + "/fhir"

    async def run(
        self, request: Request, work: Callable[[Actor, Purpose], T], *, streamed: bool = False
    ) -> T:
        """Check the caller, then do the work. Without turns (PostgreSQL), and for
        `streamed` work (it reads the request's body as it comes; its writes are short
        transactions of their own), in the thread pool: the services block on the
        database. With turns (SQLite), on the event loop itself: the calls' database work
        is done one at a time anyway, and handing each to a thread costs more CPU than most
        of them take. Should the database's write turn be taken (a background task, a
        streamed upload, another process), the work goes to the thread pool to wait there,
        and the other calls wait for it (`Turns`) while the loop goes on. Raises Problem
        503 when the turn did not come within TURN_WAIT_SECONDS."""

        def call() -> T:
            actor = caller(self.coffre, self.ctx, request)
            return work(actor, purpose_of(actor))

        turns = self.turns
        if streamed or turns is None:
            return await run_in_threadpool(call)
        if not turns.free:
            await self._wait_for_turn(turns)
        try:
            with self.coffre.at_once():
                return call()
        except WouldWait:
            with turns.away():
                return await run_in_threadpool(call)

    @staticmethod
    async def _wait_for_turn(turns: Turns) -> None:
        try:
            await turns.wait()
        except TimeoutError:
            raise Problem(
                503,
                "transient",
                "The server is busy; send the request again shortly.",
                headers={"Retry-After": "5"},
            ) from None

    async def no_total(
        self, request: Request, path: str, params: dict[str, list[str]]
    ) -> FhirResponse:
        """The answer to a search with `_count=0`: who calls is checked as for any search,
        nothing is read, and no total is given (`search.no_total`)."""
        await self.run(request, lambda actor, purpose: None)
        return FhirResponse(no_total(self.base, path, params))

    async def add_document(
        self,
        request: Request,
        patient_id: str,
        content: BinaryIO,
        content_type: str,
        *,
        title: str,
        filename: str,
        category: Category,
    ) -> records.DocumentInfo:
        """File a document for the caller, its content read from `content` in the service's
        worker thread."""
        coffre = self.coffre
        return await self.run(
            request,
            streamed=True,
            work=lambda actor, purpose: records.add_document(
                coffre.uow(),
                coffre.vault,
                actor,
                patient_id,
                content,
                content_type,
                title=title,
                filename=filename,
                purpose=purpose,
                category=category,
            ),
        )

    async def resource(
        self, request: Request, expected: Iterable[str], resource_id: str | None = None
    ) -> dict[str, Any]:
        settings = self.coffre.settings
        return await read_resource(
            request,
            expected,
            max_bytes=settings.api_max_body_bytes,
            max_depth=settings.api_max_depth,
            resource_id=resource_id,
        )


def instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def category_tag(category: str) -> dict[str, str]:
    return {"system": CATEGORY_SYSTEM, "code": category}


def entry_resource(view: records.EntryView) -> dict[str, Any]:
    """A clinical entry as stored, with its subject, Coffre category and record time."""
    resource = dict(view.resource)
    meta = dict(resource.get("meta") or {})
    meta["lastUpdated"] = instant(view.recorded_at)
    meta["tag"] = [
        *(t for t in meta.get("tag", []) if t.get("system") != CATEGORY_SYSTEM),
        category_tag(view.category),
    ]
    resource["meta"] = meta
    resource["subject"] = {"reference": f"Patient/{view.patient_id}"}
    return resource


def document_resource(info: records.DocumentInfo) -> dict[str, Any]:
    """A document's description as a DocumentReference; its content is `Binary/ID`."""
    return {
        "resourceType": "DocumentReference",
        "id": info.id,
        "meta": {"tag": [category_tag(info.category)]},
        "status": "current",
        "subject": {"reference": f"Patient/{info.patient_id}"},
        "date": instant(info.created_at),
        "description": info.title,
        "category": [{"coding": [category_tag(info.category)]}],
        "content": [
            {
                "attachment": {
                    "contentType": info.content_type,
                    "url": f"Binary/{info.id}",
                    "size": info.size,
                    "title": info.filename,
                }
            }
        ],
    }
