"""A bearer token's scopes at the gate, checked against an oracle written here from the
SMART App Launch v2 scope syntax: `context/Resource.permissions`, where the context must be
the token's own (`system` for a client, `user` or `patient` for a person), the resource the
one touched or `*`, and the permissions must contain the operation's letter."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from coffre.access import Action, Category, DataRequest, PatientFacts, Purpose, decide_data
from coffre.access.tokens import decide_token, narrowed, token_reach
from coffre.identity import Actor, ActorKind, Contract, OrganisationKind, Scope

RESOURCES = ("Patient", "Observation", "Condition", "DocumentReference", "PatientX")
CONTEXTS = ("system", "user", "patient")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

scopes = st.builds(
    Scope,
    st.sampled_from(CONTEXTS),
    st.sampled_from(("*", *RESOURCES)),
    st.text("cruds", min_size=1, max_size=5).map(lambda p: "".join(c for c in "cruds" if c in p)),
)
kinds = st.sampled_from((ActorKind.CLIENT, ActorKind.ACCOUNT))
operations = st.sampled_from("cruds")


def actor(kind: ActorKind, granted: tuple[Scope, ...]) -> Actor:
    return Actor(kind=kind, id="a", organisation_id="o", scopes=granted)


def oracle(kind: ActorKind, granted: tuple[Scope, ...], resource: str, operation: str) -> bool:
    own = {"system"} if kind is ActorKind.CLIENT else {"user", "patient"}
    for scope in granted:
        if (
            scope.context in own
            and scope.resource in ("*", resource)
            and operation in scope.permissions
        ):
            return True
    return False


@given(
    kinds, st.lists(scopes, min_size=1, max_size=4), st.sets(st.sampled_from(RESOURCES)), operations
)
def test_the_reach_is_what_the_oracle_allows(kind, granted, wanted, operation):
    holder = actor(kind, tuple(granted))
    reach = token_reach(holder, wanted, operation)
    assert reach == {r for r in wanted if oracle(kind, tuple(granted), r, operation)}
    refusal = decide_token(holder, wanted, operation)
    if wanted and reach == wanted:
        assert refusal is None
    else:
        assert refusal is not None and not refusal.allowed and refusal.rule == "token-scope"


@given(st.sets(st.sampled_from(RESOURCES), min_size=1), operations)
def test_people_without_a_token_are_not_narrowed(wanted, operation):
    person = actor(ActorKind.ACCOUNT, ())
    assert not narrowed(person)
    assert token_reach(person, wanted, operation) == wanted
    assert decide_token(person, wanted, operation) is None


@given(st.sets(st.sampled_from(RESOURCES)), operations)
def test_a_client_without_scopes_reaches_nothing(wanted, operation):
    client = actor(ActorKind.CLIENT, ())
    assert narrowed(client)
    assert token_reach(client, wanted, operation) == frozenset()
    assert decide_token(client, wanted, operation) is not None


def test_the_refusal_names_the_missing_scope():
    client = actor(ActorKind.CLIENT, (Scope("system", "Patient", "rs"),))
    refusal = decide_token(client, {"Patient", "Observation"}, "r")
    assert refusal is not None
    assert "read Observation" in refusal.explanation
    assert "system/Observation.r" in refusal.explanation
    assert refusal.facts["resources"] == "Observation"
    person = actor(ActorKind.ACCOUNT, (Scope("user", "Patient", "r"),))
    refusal = decide_token(person, {"Patient"}, "u")
    assert refusal is not None and "user/Patient.u" in refusal.explanation


def test_a_request_that_names_no_resource_is_closed_to_tokens():
    client = actor(ActorKind.CLIENT, (Scope("system", "*", "cruds"),))
    refusal = decide_token(client, (), "r")
    assert refusal is not None and "not open to bearer tokens" in refusal.explanation


def test_a_scope_of_another_context_does_not_count():
    assert not token_reach(
        actor(ActorKind.CLIENT, (Scope("user", "*", "cruds"),)), {"Patient"}, "r"
    )
    assert not token_reach(
        actor(ActorKind.ACCOUNT, (Scope("system", "*", "cruds"),)), {"Patient"}, "r"
    )


def test_the_gate_asks_the_token_before_the_contract():
    lab = Actor(
        kind=ActorKind.CLIENT,
        id="lab-feed",
        organisation_id="lab",
        organisation_kind=OrganisationKind.SUBCONTRACTOR,
        contracts=(Contract("clinic", read=("results",), write=("results",)),),
        scopes=(Scope("system", "Observation", "rs"),),
    )
    facts = PatientFacts("p1")

    def request(action: Action, resource: str, operation: str = "") -> bool:
        wanted = DataRequest(
            action,
            Purpose.CONTRACT,
            frozenset({Category.RESULTS}),
            resources=frozenset({resource}),
            operation=operation,
        )
        return decide_data(lab, wanted, facts, NOW, patient_organisation_id="clinic").allowed

    assert request(Action.READ, "Observation")
    assert not request(Action.READ, "Condition")
    assert not request(Action.WRITE, "Observation", "c")
    assert not request(Action.WRITE, "Observation")  # an update needs u
    unnamed = DataRequest(Action.READ, Purpose.CONTRACT, frozenset({Category.RESULTS}))
    refusal = decide_data(lab, unnamed, facts, NOW, patient_organisation_id="clinic")
    assert refusal.rule == "token-scope"
