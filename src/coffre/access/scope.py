"""Who may do what with one patient's data: every kind of actor, as pure decisions.

`decide_data` is the entry point for reads and writes of patient data. It sends each kind
of actor to its own rules:

- the local operator: the operator rules of `policy.decide` (subject access, erasure…);
- a professional of a care or telemedicine provider: `care.decide_care` (consent, care
  relationship or break-the-glass, exclusions, matrix, masked documents);
- a subcontractor: only the categories its contract with the patient's organisation names;
- an insurer: never any patient data (`decide_insurer` answers its two questions instead);
- a patient: reads of their own record, for their right of access (`decide_own_record`);
- whoever acts through a bearer token, first: only what the token's scopes allow
  (`tokens.decide_token`);
- anyone else: denied.

`decide_break_glass` decides an emergency access. Whether an actor may search patients at
all (each result is then decided by `decide_data`) or read the directory is decided in
`lookups`, and changes to the patient's choices (consent, relationships, exclusions, masks)
in `controls`. No clock, no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from coffre.access.care import (
    NOT_ALLOWED,
    CareRequest,
    Durations,
    PatientFacts,
    Professional,
    decide_care,
)
from coffre.access.flags import marked
from coffre.access.matrix import Category, Matrix, Profession, default_matrix, parse_matrix
from coffre.access.policy import Action, Decision, Purpose, decide
from coffre.access.tokens import decide_token
from coffre.identity import Actor, ActorKind, OrganisationKind

CARE_ORGANISATIONS = frozenset(
    {OrganisationKind.CARE_PROVIDER, OrganisationKind.TELEMEDICINE_PROVIDER}
)


@dataclass(frozen=True)
class DataRequest:
    """A read or write of some categories of one patient's data."""

    action: Action
    purpose: Purpose | None
    categories: frozenset[Category] = frozenset()
    document_id: str | None = None
    # The FHIR resource types touched, and the operation on them (a letter of cruds; by
    # default r for a read, u for a write), which a bearer token's scopes must allow.
    resources: frozenset[str] = frozenset()
    operation: str = ""

    @property
    def writing(self) -> bool:
        return self.action is Action.WRITE

    @property
    def smart_operation(self) -> str:
        return self.operation or ("r" if self.action is Action.READ else "u")


@lru_cache(maxsize=64)
def organisation_matrix(text: str | None) -> Matrix:
    """The matrix that applies to an organisation's staff: the default, narrowed by the
    organisation's own when it has one."""
    if text is None:
        return default_matrix()
    return default_matrix().narrowed(parse_matrix(text, "the organisation's matrix"))


def professional_of(actor: Actor) -> Professional | None:
    """The actor as a care professional, or None if it is not one."""
    if actor.kind is not ActorKind.ACCOUNT or actor.organisation_kind not in CARE_ORGANISATIONS:
        return None
    try:
        profession = Profession(actor.profession or "")
    except ValueError:
        return None
    return Professional(actor.id, profession, frozenset(actor.care_team_ids))


def _facts_of(actor: Actor, action: Action, purpose: Purpose | None) -> dict[str, str]:
    return {
        "actor_kind": actor.kind.value,
        "organisation_kind": actor.organisation_kind.value if actor.organisation_kind else "none",
        "action": action.value,
        "purpose": purpose.value if purpose is not None else "none",
    }


def decide_data(
    actor: Actor,
    request: DataRequest,
    facts: PatientFacts,
    now: datetime,
    *,
    patient_organisation_id: str | None,
    durations: Durations | None = None,
) -> Decision:
    """Allow or deny `actor` this read or write of one patient's data; the decision carries
    the record's flags and the actor's relatives among its facts (`flags.marked`)."""
    decision = _decide_data(
        actor, request, facts, now, patient_organisation_id, durations=durations
    )
    return marked(decision, facts)


def _decide_data(
    actor: Actor,
    request: DataRequest,
    facts: PatientFacts,
    now: datetime,
    patient_organisation_id: str | None,
    *,
    durations: Durations | None,
) -> Decision:
    if actor.kind is ActorKind.OPERATOR:
        return decide(actor, request.action, request.purpose, facts.patient_id)
    refused = decide_token(actor, request.resources, request.smart_operation)
    if refused is not None:
        return refused
    if actor.organisation_kind is OrganisationKind.INSURER:
        return Decision(
            False,
            "insurer-scope",
            "an insurer sees eligibility and usage figures only, never a patient's data",
            _facts_of(actor, request.action, request.purpose),
        )
    if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR:
        return decide_contract(actor, request, facts, now, patient_organisation_id)
    if is_patient(actor):
        return decide_own_record(actor, request, facts)
    professional = professional_of(actor)
    if professional is None or request.action not in (Action.READ, Action.WRITE):
        return Decision(
            False,
            "default-deny",
            f"no rule allows this actor to {request.action.value} patient data",
            _facts_of(actor, request.action, request.purpose),
        )
    if request.purpose not in (Purpose.CARE, Purpose.BREAK_GLASS):
        return Decision(
            False,
            "care-purpose",
            "a professional reaches patient data for care only",
            _facts_of(actor, request.action, request.purpose),
        )
    return decide_care(
        CareRequest(professional, request.categories, request.writing, request.document_id),
        facts,
        now,
        durations=durations,
        matrix=organisation_matrix(actor.organisation_matrix),
    )


def is_patient(actor: Actor) -> bool:
    return actor.kind is ActorKind.ACCOUNT and actor.role == "patient"


def decide_own_record(actor: Actor, request: DataRequest, facts: PatientFacts) -> Decision:
    """A patient reads their own record (GDPR art. 15), and no one else's; they change it
    through their practice, not by writing it themselves."""
    base = _facts_of(actor, request.action, request.purpose)
    if actor.patient_id != facts.patient_id:
        return Decision(
            False, "patient-own-record", "a patient may read their own record only", base
        )
    if request.action is not Action.READ or request.purpose is not Purpose.SUBJECT_ACCESS:
        return Decision(
            False,
            "patient-own-record",
            "a patient reads their own record for their right of access; changes go "
            "through their practice",
            base,
        )
    return Decision(True, "patient-own-record", "a patient may read their own record", base)


def decide_contract(
    actor: Actor,
    request: DataRequest,
    facts: PatientFacts,
    now: datetime,
    patient_organisation_id: str | None,
) -> Decision:
    """A subcontractor reaches only the categories its contract with the patient's
    organisation names, while the contract is in force; masks and exclusions still hold."""
    base = _facts_of(actor, request.action, request.purpose)
    if actor.id in facts.excluded:
        return Decision(False, "patient-exclusion", NOT_ALLOWED, base, disclosed=False)
    if request.purpose is not Purpose.CONTRACT:
        return Decision(
            False, "contract-purpose", "a subcontractor works under its contract only", base
        )
    in_force = [c for c in actor.contracts if c.ends_at is None or now < c.ends_at]
    wanted = sorted(request.categories)
    # What no contract names is refused first, the same for every patient, so a refusal
    # does not tell whether an id is a patient of a client organisation.
    named = {n for c in in_force for n in (c.write if request.writing else c.read)}
    outside = [c for c in wanted if c not in named]
    if request.action not in (Action.READ, Action.WRITE) or not wanted or outside:
        return Decision(
            False,
            "contract-scope",
            f"no contract names {', '.join(outside) or 'what is asked'}",
            {**base, "categories": ",".join(wanted)},
        )
    # Several contracts with one client add up.
    contracts = [c for c in in_force if c.client_organisation_id == patient_organisation_id]
    scope = {n for c in contracts for n in (c.write if request.writing else c.read)}
    basis = {**base, "contract": patient_organisation_id or "none", "categories": ",".join(wanted)}
    if not set(wanted) <= scope:
        return Decision(
            False,
            "contract-scope",
            "no contract in force with the patient's organisation covers this",
            basis,
        )
    masked = facts.masked_documents
    if request.document_id in masked and masked[request.document_id] != actor.id:
        return Decision(
            False,
            "masked-document",
            "the patient masked this document from everyone but its author",
            {**basis, "document": request.document_id, "masked": "yes"},
        )
    verb = "write" if request.writing else "read"
    return Decision(
        True,
        "contract-scope",
        f"the contract with the patient's organisation allows to {verb} {', '.join(wanted)}",
        basis,
    )


def readable(
    actor: Actor,
    categories: frozenset[Category],
    writing: bool = False,
    *,
    patient_organisation_id: str | None = None,
) -> frozenset[Category]:
    """Of these categories, those the actor's profession, or contracts with the patient's
    organisation, could ever reach (the request a service then puts to `decide_data`);
    empty for anyone else."""
    professional = professional_of(actor)
    if professional is not None:
        matrix = organisation_matrix(actor.organisation_matrix)
        return frozenset(
            c for c in categories if matrix.allows(professional.profession, c, writing=writing)
        )
    if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR:
        named = {
            n
            for c in actor.contracts
            if c.client_organisation_id == patient_organisation_id
            for n in (c.write if writing else c.read)
        }
        return frozenset(c for c in categories if c.value in named)
    return categories if actor.kind is ActorKind.OPERATOR or is_patient(actor) else frozenset()


def decide_break_glass(actor: Actor, facts: PatientFacts) -> Decision:
    """A clinician of a care or telemedicine provider may open an emergency access, unless
    the patient excluded them."""
    return marked(_decide_break_glass(actor, facts), facts)


def _decide_break_glass(actor: Actor, facts: PatientFacts) -> Decision:
    base = _facts_of(actor, Action.BREAK_GLASS, Purpose.BREAK_GLASS)
    professional = professional_of(actor)
    if professional is None or professional.profession is Profession.ADMINISTRATIVE:
        return Decision(
            False,
            "break-the-glass",
            "only a clinician of a care provider may open an emergency access",
            base,
        )
    if professional.account_id in facts.excluded:
        return Decision(False, "patient-exclusion", NOT_ALLOWED, base, disclosed=False)
    return Decision(
        True,
        "break-the-glass",
        "a clinician may open a short emergency access, journaled and notified",
        {**base, "profession": professional.profession.value},
    )


def decide_insurer(actor: Actor, action: Action) -> Decision:
    """An insurer's accounts ask two questions: is this member covered, and how much was
    the service used; nothing else."""
    base = _facts_of(actor, action, Purpose.INSURANCE)
    if actor.organisation_kind is OrganisationKind.INSURER and action in (
        Action.ELIGIBILITY,
        Action.USAGE,
    ):
        what = "eligibility" if action is Action.ELIGIBILITY else "usage figures"
        return Decision(
            True, f"insurer-{action.value}", f"an insurer may ask its members' {what}", base
        )
    if actor.kind is ActorKind.OPERATOR:
        return decide(actor, action, Purpose.INSURANCE)
    return Decision(False, "insurer-scope", "only an insurer asks eligibility and usage", base)
