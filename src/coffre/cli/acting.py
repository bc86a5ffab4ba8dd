"""Who a command acts as: the local operator, or (in demo mode only) a demo account."""

from __future__ import annotations

import socket
from datetime import date, datetime
from typing import Annotated

import typer

from coffre import identity
from coffre.access import Purpose
from coffre.cli.context import state
from coffre.cli.patients import UsageError
from coffre.config import Environment
from coffre.errors import CoffreError
from coffre.identity import Actor, ActorKind, OrganisationKind

AsAccount = Annotated[
    str | None,
    typer.Option("--as", help="Act as this demo account (demo mode only).", show_default=False),
]


class AccountSuspended(CoffreError):
    """The demo account a command would act as is suspended."""

    exit_code = 4


def acting(ctx: typer.Context, as_account: str | None, organisation: str | None = None) -> Actor:
    """The local operator, or with `--as` the actor of a demo account (demo mode only) that
    is not suspended: a suspension stops the account here as it does at sign-in."""
    if as_account is None:
        return identity.local_operator(organisation)
    current = state(ctx)
    if current.settings().environment is not Environment.DEMO:
        raise UsageError("--as works only in demo mode: a real person signs in.")
    coffre = current.coffre()
    with coffre.reader() as uow:
        actor = identity.actor_for(uow, as_account, source=f"cli-demo@{socket.gethostname()}"[:120])
        if identity.is_suspended(uow, actor.id):
            raise AccountSuspended(
                f"The account {as_account!r} is suspended; it acts again once the suspension "
                "is lifted (coffre watch resume or coffre accounts resume)."
            )
    return actor


def is_operator(actor: Actor) -> bool:
    return actor.kind is ActorKind.OPERATOR


def control_purpose(actor: Actor) -> Purpose:
    """Why a change to a patient's choices is made: at the patient's request when the
    operator relays it, for care when an account makes it."""
    if is_operator(actor) or actor.role == "patient":
        return Purpose.PATIENT_REQUEST
    return Purpose.CARE


def reading_purpose(actor: Actor) -> Purpose:
    """Why patient data is read: a subject-access request for the operator, the contract
    for a subcontractor, care otherwise."""
    if is_operator(actor):
        return Purpose.SUBJECT_ACCESS
    if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR:
        return Purpose.CONTRACT
    return Purpose.CARE


def parse_day(text: str, option: str) -> date:
    """A date written YYYY-MM-DD, or a one-sentence UsageError naming the option."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(
            f"{option} must be a date written YYYY-MM-DD, such as 2026-03-01."
        ) from None
