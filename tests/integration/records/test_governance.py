"""Setting organisations up, on SQLite and PostgreSQL: each change (an organisation, its
matrix, a care team and its members, a contract and its end) is decided and journaled with
it; a refusal changes nothing and is journaled as denied; a failure changes nothing and
journals nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from careworld import World, account, build_world
from coffre import identity, records
from coffre.access import AccessDenied, Category, InvalidMatrix, Purpose, RelationshipKind
from coffre.identity import (
    AccountNotFound,
    Actor,
    IdentityError,
    NewAccount,
    OrganisationKind,
    OrganisationNotFound,
    resets,
)
from factories import journal_records

MATRIX = 'format = "coffre-matrix/1"\n[nurse]\nread = ["identity", "contact"]\n'
RESULTS = [Category.RESULTS.value]


@pytest.fixture
def world(coffre) -> World:  # type: ignore[no-untyped-def]
    return build_world(coffre)


@pytest.fixture
def admin(coffre, world) -> Actor:  # type: ignore[no-untyped-def]
    return account(coffre, world.clinic, "admin.parc", "organisation-admin")


def count(coffre, table: str) -> int:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def matrix_of(coffre, organisation_id: str) -> str | None:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        query = sa.text("SELECT matrix FROM organisations WHERE id = :id")
        return conn.execute(query, {"id": organisation_id}).scalar_one()


def refused_actor(coffre, world: World, who: str) -> Actor:  # type: ignore[no-untyped-def]
    """The clinic's physician, or the lab's administrator ("other_admin")."""
    if who == "other_admin":
        return account(coffre, world.lab, "admin.labo", "organisation-admin")
    return world.physician


def new_entries(coffre, before: int):  # type: ignore[no-untyped-def]
    return journal_records(coffre)[before:]


def _the_new_entry(coffre, before: int, actor: Actor, action: str, decision: str, outcome: str):  # type: ignore[no-untyped-def]
    """The one entry journaled since `before`, by `actor`, with that action and result."""
    [entry] = new_entries(coffre, before)
    assert (entry.action, entry.actor_id, entry.decision, entry.outcome) == (
        action,
        actor.id,
        decision,
        outcome,
    )
    return entry


def assert_allowed(coffre, before: int, actor: Actor, action: str, *resources: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    """The one new entry: the change allowed and done, naming `resources`; its facts."""
    entry = _the_new_entry(coffre, before, actor, action, "allow", "success")
    assert entry.resource_ids == resources
    return dict(entry.facts)


def assert_denied(coffre, before: int, actor: Actor, action: str, *resources: str) -> None:  # type: ignore[no-untyped-def]
    entry = _the_new_entry(coffre, before, actor, action, "deny", "denied")
    assert entry.rule == "organisation-setup" and entry.resource_ids == resources
    assert entry.patient_ids == ()


# Organisations


def test_the_operator_adds_an_organisation_and_it_is_journaled(coffre, world):
    before = len(journal_records(coffre))
    org = records.add_organisation(
        coffre.uow(), world.operator, "Cabinet Neuf", OrganisationKind.CARE_PROVIDER, "be"
    )
    [entry] = new_entries(coffre, before)
    assert (entry.action, entry.actor_id, entry.decision, entry.outcome) == (
        "identity:organisation:create",
        world.operator.id,
        "allow",
        "success",
    )
    assert entry.resource_ids == (f"organisation:{org.id}",) and entry.patient_ids == ()
    facts = dict(entry.facts)
    assert (facts["change"], facts["kind"], facts["country"]) == (
        "create-organisation",
        "care-provider",
        "BE",
    )
    assert "Neuf" not in repr(entry)
    with coffre.reader() as uow:
        assert identity.get_organisation(uow, org.id).name == "Cabinet Neuf"


@pytest.mark.parametrize("who", ["admin", "physician"])
def test_no_account_adds_an_organisation(coffre, world, admin, who):
    actor = admin if who == "admin" else world.physician
    before, organisations = len(journal_records(coffre)), count(coffre, "organisations")
    with pytest.raises(AccessDenied):
        records.add_organisation(
            coffre.uow(), actor, "Cabinet Pirate", OrganisationKind.CARE_PROVIDER, "FR"
        )
    assert count(coffre, "organisations") == organisations
    assert_denied(coffre, before, actor, "identity:organisation:create")


def test_an_invalid_organisation_changes_and_journals_nothing(coffre, world):
    before, organisations = len(journal_records(coffre)), count(coffre, "organisations")
    with pytest.raises(IdentityError, match="two-letter code"):
        records.add_organisation(
            coffre.uow(), world.operator, "Cabinet", OrganisationKind.CARE_PROVIDER, "FRA"
        )
    assert count(coffre, "organisations") == organisations
    assert new_entries(coffre, before) == []


# Matrices


def test_the_administrator_sets_then_clears_the_matrix(coffre, world, admin):
    before = len(journal_records(coffre))
    records.set_organisation_matrix(coffre.uow(), admin, world.clinic, MATRIX)
    assert matrix_of(coffre, world.clinic) == MATRIX
    records.set_organisation_matrix(coffre.uow(), admin, world.clinic, None)
    assert matrix_of(coffre, world.clinic) is None
    set_, cleared = new_entries(coffre, before)
    digest = hashlib.sha256(MATRIX.encode()).hexdigest()
    for entry in (set_, cleared):
        assert (entry.action, entry.actor_id, entry.decision, entry.outcome) == (
            "access:matrix:update",
            admin.id,
            "allow",
            "success",
        )
        assert dict(entry.facts)["role"] == "organisation-admin"
    assert set_.resource_ids == (f"organisation:{world.clinic}", f"matrix:{digest}")
    assert dict(set_.facts)["change"] == "set-matrix"
    assert cleared.resource_ids == (f"organisation:{world.clinic}",)
    assert dict(cleared.facts)["change"] == "clear-matrix"
    assert "nurse" not in repr(set_)


@pytest.mark.parametrize("who", ["physician", "other_admin", "lab_technician"])
def test_a_refused_matrix_changes_nothing_and_is_journaled(coffre, world, who):
    if who == "other_admin":
        actor = account(coffre, world.insurer, "admin.mutuelle", "organisation-admin")
    else:
        actor = getattr(world, who)
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied):
        records.set_organisation_matrix(coffre.uow(), actor, world.clinic, MATRIX)
    assert matrix_of(coffre, world.clinic) is None
    digest = hashlib.sha256(MATRIX.encode()).hexdigest()
    resources = (f"organisation:{world.clinic}", f"matrix:{digest}")
    assert_denied(coffre, before, actor, "access:matrix:update", *resources)


def test_an_invalid_matrix_or_organisation_changes_and_journals_nothing(coffre, world):
    before = len(journal_records(coffre))
    bad = 'format = "coffre-matrix/1"\n[nurse]\nread = ["gossip"]\n'
    with pytest.raises(InvalidMatrix, match=r"^matrix\.toml: \[nurse\]\.read"):
        records.set_organisation_matrix(
            coffre.uow(), world.operator, world.clinic, bad, source="matrix.toml"
        )
    with pytest.raises(OrganisationNotFound):
        records.set_organisation_matrix(coffre.uow(), world.operator, "no-such-org", MATRIX)
    assert matrix_of(coffre, world.clinic) is None
    assert new_entries(coffre, before) == []


# Care teams


def test_the_operator_forms_a_care_team_and_it_is_journaled(coffre, world):
    before = len(journal_records(coffre))
    members = ["dr.martin", world.receptionist.id, "dr.martin"]
    team_id = records.add_care_team(coffre.uow(), world.operator, world.clinic, "Cardio", members)
    with coffre.reader() as uow:
        [team] = identity.list_care_teams(uow, team_id=team_id)
    expected = sorted([world.physician.id, world.receptionist.id])
    assert team.member_ids == tuple(expected)
    [entry] = new_entries(coffre, before)
    assert (entry.action, entry.actor_id, entry.decision, entry.outcome) == (
        "identity:team:create",
        world.operator.id,
        "allow",
        "success",
    )
    assert entry.resource_ids == (
        f"organisation:{world.clinic}",
        f"team:{team_id}",
        *(f"account:{member}" for member in expected),
    )
    assert dict(entry.facts)["members"] == "2" and "Cardio" not in repr(entry)


def test_the_administrator_forms_a_team_of_its_organisation(coffre, world, admin):
    team_id = records.add_care_team(coffre.uow(), admin, world.clinic, "Soins", ["dr.bernard"])
    entry = journal_records(coffre)[-1]
    assert entry.actor_id == admin.id and f"team:{team_id}" in entry.resource_ids


@pytest.mark.parametrize("who", ["physician", "other_admin"])
def test_a_refused_team_changes_nothing_and_is_journaled(coffre, world, who):
    actor = refused_actor(coffre, world, who)
    before, teams = len(journal_records(coffre)), count(coffre, "care_teams")
    with pytest.raises(AccessDenied):
        records.add_care_team(coffre.uow(), actor, world.clinic, "Cardio", ["dr.martin"])
    assert (count(coffre, "care_teams"), count(coffre, "care_team_members")) == (teams, 0)
    assert_denied(coffre, before, actor, "identity:team:create", f"organisation:{world.clinic}")


@pytest.mark.parametrize(
    ("members", "error"),
    [(["dr.martin", "dr.nobody"], AccountNotFound), (["agent.mutuelle"], IdentityError)],
)
def test_a_team_with_a_wrong_member_changes_and_journals_nothing(coffre, world, members, error):
    before, teams = len(journal_records(coffre)), count(coffre, "care_teams")
    with pytest.raises(error):
        records.add_care_team(coffre.uow(), world.operator, world.clinic, "Cardio", members)
    with pytest.raises(OrganisationNotFound):
        records.add_care_team(coffre.uow(), world.operator, "no-such-org", "Cardio", [])
    assert (count(coffre, "care_teams"), count(coffre, "care_team_members")) == (teams, 0)
    assert new_entries(coffre, before) == []


def _team_of(coffre, world: World, *members: str) -> str:  # type: ignore[no-untyped-def]
    return records.add_care_team(coffre.uow(), world.operator, world.clinic, "Soins", members)


def _members(coffre, team_id: str) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        [team] = identity.list_care_teams(uow, team_id=team_id)
    return team.member_ids


def test_the_administrator_changes_a_teams_members_and_it_is_journaled(coffre, world, admin):
    team_id = _team_of(coffre, world, "dr.martin")
    before = len(journal_records(coffre))
    added, removed = records.change_care_team(
        coffre.uow(), admin, team_id, add=["dr.bernard"], remove=[world.physician.id]
    )
    assert (added, removed) == ([world.colleague.id], [world.physician.id])
    assert _members(coffre, team_id) == (world.colleague.id,)
    accounts = sorted([world.colleague.id, world.physician.id])
    facts = assert_allowed(
        coffre,
        before,
        admin,
        "identity:team:update",
        f"organisation:{world.clinic}",
        f"team:{team_id}",
        *(f"account:{a}" for a in accounts),
    )
    assert (facts["change"], facts["added"], facts["removed"]) == (
        "change-team-members",
        world.colleague.id,
        world.physician.id,
    )


def test_a_member_removed_from_a_team_no_longer_reads_its_patients(coffre, world):
    """The patient is in the team's care; the colleague reads them as its member, and not
    once removed (a new actor: an actor is kept a few seconds per session or token)."""
    team_id = _team_of(coffre, world, "dr.bernard")
    records.start_relationship(
        coffre.uow(),
        coffre.vault,
        world.operator,
        world.patient_id,
        RelationshipKind.ADMISSION,
        Purpose.PATIENT_REQUEST,
        care_team=team_id,
    )

    def read() -> object:
        with coffre.reader() as uow:
            colleague = identity.actor_for(uow, "dr.bernard", source="test")
        return records.read_patient(
            coffre.uow(), coffre.vault, colleague, world.patient_id, Purpose.CARE
        )

    assert read()
    records.change_care_team(coffre.uow(), world.operator, team_id, remove=["dr.bernard"])
    with pytest.raises(AccessDenied) as refused:
        read()
    assert refused.value.rule == "no-care-relationship"


@pytest.mark.parametrize("who", ["physician", "other_admin"])
def test_a_refused_team_change_changes_nothing_and_is_journaled(coffre, world, who):
    team_id = _team_of(coffre, world, "dr.martin")
    actor = refused_actor(coffre, world, who)
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied):
        records.change_care_team(coffre.uow(), actor, team_id, add=["dr.bernard"])
    assert _members(coffre, team_id) == (world.physician.id,)
    resources = (f"organisation:{world.clinic}", f"team:{team_id}")
    assert_denied(coffre, before, actor, "identity:team:update", *resources)


@pytest.mark.parametrize(
    ("add", "remove", "error", "message"),
    [
        (["dr.nobody"], [], AccountNotFound, "dr.nobody"),
        (["agent.mutuelle"], [], IdentityError, "account of its organisation"),
        (["dr.martin"], [], IdentityError, "a member of the team already"),
        ([], ["dr.bernard"], IdentityError, "not a member"),
        (["dr.bernard"], ["dr.bernard"], IdentityError, "both added to and removed"),
    ],
)
def test_a_wrong_team_change_changes_and_journals_nothing(
    coffre, world, add, remove, error, message
):
    team_id = _team_of(coffre, world, "dr.martin")
    before = len(journal_records(coffre))
    with pytest.raises(error, match=message):
        records.change_care_team(coffre.uow(), world.operator, team_id, add=add, remove=remove)
    with pytest.raises(IdentityError, match="no care team"):
        records.change_care_team(coffre.uow(), world.operator, "no-such-team", add=["dr.bernard"])
    assert _members(coffre, team_id) == (world.physician.id,)
    assert new_entries(coffre, before) == []


# Contracts


def test_the_clients_administrator_adds_a_contract_and_it_is_journaled(coffre, world, admin):
    before, contracts = len(journal_records(coffre)), count(coffre, "contracts")
    ends = datetime(2030, 1, 1, tzinfo=UTC)
    contract_id = records.add_contract(
        coffre.uow(), admin, world.lab, world.clinic, ["results", "identity"], [], ends_at=ends
    )
    assert count(coffre, "contracts") == contracts + 1
    facts = assert_allowed(
        coffre,
        before,
        admin,
        "access:contract:create",
        f"contract:{contract_id}",
        f"organisation:{world.lab}",
        f"organisation:{world.clinic}",
    )
    assert (facts["change"], facts["read"], facts["write"], facts["ends"]) == (
        "create-contract",
        "identity,results",
        "none",
        "2030-01-01T00:00:00+00:00",
    )


@pytest.mark.parametrize("who", ["physician", "subcontractor_admin", "lab_technician"])
def test_a_refused_contract_changes_nothing_and_is_journaled(coffre, world, who):
    if who == "subcontractor_admin":  # the subcontractor does not give itself a contract
        actor = account(coffre, world.lab, "admin.labo", "organisation-admin")
    else:
        actor = getattr(world, who)
    before, contracts = len(journal_records(coffre)), count(coffre, "contracts")
    with pytest.raises(AccessDenied):
        records.add_contract(coffre.uow(), actor, world.lab, world.clinic, RESULTS, RESULTS)
    assert count(coffre, "contracts") == contracts
    resources = (f"organisation:{world.lab}", f"organisation:{world.clinic}")
    assert_denied(coffre, before, actor, "access:contract:create", *resources)


@pytest.mark.parametrize(
    ("read", "client", "message"),
    [
        (["horoscope"], "clinic", "'horoscope' is not a category"),
        ([], "clinic", "at least one category"),
        (RESULTS, "insurer", "care or telemedicine provider"),
        (RESULTS, "lab", "care or telemedicine provider"),
    ],
)
def test_an_invalid_contract_changes_and_journals_nothing(coffre, world, read, client, message):
    before, contracts = len(journal_records(coffre)), count(coffre, "contracts")
    with pytest.raises(IdentityError, match=message):
        records.add_contract(
            coffre.uow(), world.operator, world.lab, getattr(world, client), read, []
        )
    assert count(coffre, "contracts") == contracts
    assert new_entries(coffre, before) == []


def _lab_contract(coffre, world: World) -> str:  # type: ignore[no-untyped-def]
    return records.add_contract(coffre.uow(), world.operator, world.lab, world.clinic, RESULTS, [])


def _in_force(coffre, world: World) -> list[str]:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        found = identity.contracts_in_force(uow, world.lab, datetime.now(UTC))
    return [c.client_organisation_id for c in found]


def test_the_clients_administrator_ends_a_contract_and_it_is_journaled(coffre, world, admin):
    with coffre.uow() as uow:  # the world's own contract is ended first, without a word
        uow.connection.execute(sa.text("UPDATE contracts SET ended_at = started_at"))
        uow.commit()
    contract_id = _lab_contract(coffre, world)
    assert _in_force(coffre, world) == [world.clinic]
    before = len(journal_records(coffre))
    ended = records.end_contract(coffre.uow(), admin, contract_id)
    assert _in_force(coffre, world) == []
    facts = assert_allowed(
        coffre,
        before,
        admin,
        "access:contract:update",
        f"contract:{contract_id}",
        f"organisation:{world.lab}",
        f"organisation:{world.clinic}",
    )
    assert (facts["change"], facts["ends"]) == ("end-contract", ended.isoformat("T", "seconds"))
    with pytest.raises(IdentityError, match="ended already"):
        records.end_contract(coffre.uow(), admin, contract_id)
    assert len(new_entries(coffre, before)) == 1


def test_a_contract_ended_before_it_starts_is_never_in_force(coffre, world):
    starts = datetime(2031, 1, 1, tzinfo=UTC)
    contract_id = records.add_contract(
        coffre.uow(), world.operator, world.lab, world.clinic, RESULTS, [], starts_at=starts
    )
    later = datetime(2032, 1, 1, tzinfo=UTC)

    def in_force() -> int:
        with coffre.reader() as uow:
            return len(identity.contracts_in_force(uow, world.lab, later))

    assert in_force() == 2  # the world's own, and this one
    assert records.end_contract(coffre.uow(), world.operator, contract_id) == starts
    assert in_force() == 1
    assert dict(journal_records(coffre)[-1].facts)["ends"] == "2031-01-01T00:00:00+00:00"


@pytest.mark.parametrize("who", ["physician", "subcontractor_admin", "lab_technician"])
def test_a_refused_contract_end_changes_nothing_and_is_journaled(coffre, world, who):
    contract_id = _lab_contract(coffre, world)
    if who == "subcontractor_admin":  # the subcontractor does not end its own contract
        actor = account(coffre, world.lab, "admin.labo", "organisation-admin")
    else:
        actor = getattr(world, who)
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied):
        records.end_contract(coffre.uow(), actor, contract_id)
    assert _in_force(coffre, world) == [world.clinic, world.clinic]
    resources = (
        f"contract:{contract_id}",
        f"organisation:{world.lab}",
        f"organisation:{world.clinic}",
    )
    assert_denied(coffre, before, actor, "access:contract:update", *resources)


def test_ending_no_contract_changes_and_journals_nothing(coffre, world):
    before = len(journal_records(coffre))
    with pytest.raises(IdentityError, match="no contract"):
        records.end_contract(coffre.uow(), world.operator, "no-such-contract")
    assert new_entries(coffre, before) == []


# Accounts


def new_account(organisation_id: str, username: str = "inf.neuve") -> NewAccount:
    return NewAccount(
        organisation_id, username, "violet kettle orbit 1968", "practitioner", "Ines Neuve", "nurse"
    )


def test_the_administrator_adds_an_account_and_it_is_journaled(coffre, world, admin):
    before = len(journal_records(coffre))
    box = coffre.signin().box
    account_id = records.add_account(
        coffre.uow(), admin, new_account(world.clinic), email="ines@example.org", box=box
    )
    [entry] = new_entries(coffre, before)
    assert (entry.action, entry.actor_id, entry.outcome) == (
        "identity:account:create",
        admin.id,
        "success",
    )
    assert entry.resource_ids == (f"organisation:{world.clinic}", f"account:{account_id}")
    facts = dict(entry.facts)
    assert (facts["change"], facts["role"], facts["profession"]) == (
        "create-account",
        "practitioner",
        "nurse",
    )
    assert "Neuve" not in repr(entry) and "ines@" not in repr(entry)
    with coffre.reader() as uow:
        assert identity.find_account(uow, "inf.neuve").id == account_id
        assert resets.email_of(uow, box, account_id) == "ines@example.org"


@pytest.mark.parametrize("who", ["physician", "other_admin"])
def test_a_refused_account_is_not_added_and_is_journaled(coffre, world, who):
    actor = refused_actor(coffre, world, who)
    before, accounts = len(journal_records(coffre)), count(coffre, "accounts")
    with pytest.raises(AccessDenied):
        records.add_account(coffre.uow(), actor, new_account(world.clinic))
    assert count(coffre, "accounts") == accounts
    assert_denied(coffre, before, actor, "identity:account:create", f"organisation:{world.clinic}")


def test_an_account_that_cannot_be_added_changes_and_journals_nothing(coffre, world):
    before, accounts = len(journal_records(coffre)), count(coffre, "accounts")
    with pytest.raises(IdentityError):
        records.add_account(coffre.uow(), world.operator, new_account(world.clinic, "dr.martin"))
    with pytest.raises(OrganisationNotFound):
        records.add_account(coffre.uow(), world.operator, new_account("no-such-org"))
    assert count(coffre, "accounts") == accounts
    assert new_entries(coffre, before) == []


def family_digest(coffre, account_id: str) -> bytes | None:  # type: ignore[no-untyped-def]
    with coffre.engine.connect() as conn:
        query = sa.text("SELECT family_digest FROM accounts WHERE id = :id")
        found = conn.execute(query, {"id": account_id}).scalar_one()
    return None if found is None else bytes(found)


def test_personal_digests_are_kept_and_journaled_without_the_name(coffre, world, admin):
    before = len(journal_records(coffre))
    blind = coffre.vault.blind
    account_id = records.set_personal_digests(
        coffre.uow(), admin, blind, "dr.martin", "Martin", "3 rue des Lilas, 69003 Lyon"
    )
    [entry] = new_entries(coffre, before)
    assert (entry.action, entry.actor_id, entry.outcome) == (
        "identity:account:update",
        admin.id,
        "success",
    )
    assert entry.resource_ids == (f"account:{account_id}",)
    assert dict(entry.facts)["address"] == "yes" and "Lilas" not in repr(entry)
    assert family_digest(coffre, account_id) == identity.personal_digests(blind, "Martin").family


def test_refused_personal_digests_change_nothing_and_are_journaled(coffre, world):
    actor = refused_actor(coffre, world, "other_admin")
    before = len(journal_records(coffre))
    with pytest.raises(AccessDenied):
        records.set_personal_digests(coffre.uow(), actor, coffre.vault.blind, "dr.martin", "X")
    with coffre.reader() as uow:
        martin = identity.find_account(uow, "dr.martin")
    assert family_digest(coffre, martin.id) is None
    assert_denied(coffre, before, actor, "identity:account:update", f"account:{martin.id}")
