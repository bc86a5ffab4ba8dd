"""Who is acting: the actor every decision and journal entry names."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from coffre.identity.scopes import Scope


class ActorKind(StrEnum):
    OPERATOR = "operator"  # a person at the command line of the server
    ACCOUNT = "account"  # a signed-in person
    CLIENT = "client"  # a machine client of a subcontractor or integration
    SYSTEM = "system"  # Coffre itself (background work)


class OrganisationKind(StrEnum):
    CARE_PROVIDER = "care-provider"
    TELEMEDICINE_PROVIDER = "telemedicine-provider"
    INSURER = "insurer"
    SUBCONTRACTOR = "subcontractor"


@dataclass(frozen=True)
class Contract:
    """What a subcontractor may do for one client organisation: the categories of that
    organisation's patient data it may read and write, until `ends_at` (if set)."""

    client_organisation_id: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    ends_at: datetime | None = None


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    organisation_id: str | None = None
    role: str | None = None
    profession: str | None = None
    session_id: str | None = None
    source: str = "local"
    patient_id: str | None = None  # for a patient's own account: the patient it is
    organisation_kind: OrganisationKind | None = None
    care_team_ids: tuple[str, ...] = ()
    # The organisation's own profession × category matrix (TOML), which narrows the default.
    organisation_matrix: str | None = None
    contracts: tuple[Contract, ...] = ()  # a subcontractor's contracts in force
    # What a bearer token allows (SMART scopes); empty when acting through a session or the
    # command line, where no token narrows what the policy allows.
    scopes: tuple[Scope, ...] = ()


def local_operator(organisation_id: str | None = None) -> Actor:
    """The person running the CLI on this machine, named by OS user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    host = socket.gethostname()
    return Actor(
        kind=ActorKind.OPERATOR,
        id=f"operator:{user}@{host}"[:120],
        organisation_id=organisation_id,
        role="operator",
        source=f"cli@{host}"[:120],
    )
