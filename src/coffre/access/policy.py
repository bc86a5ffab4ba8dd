"""The access policy: pure decisions over facts, with their explanation.

Deny by default. For now the policy knows one kind of actor, the local operator at the
server's command line, who may import patients, find them (ids only), read or export a
patient's data for a subject-access request, erase a patient, and administer keys.
Everything else is denied, and every decision says which rule decided and from which facts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from coffre.identity import Actor, ActorKind


class Action(StrEnum):
    IMPORT = "import"
    FIND = "find"
    READ = "read"
    EXPORT = "export"
    ERASE = "erase"
    WRITE = "write"
    ADMINISTER_KEYS = "administer-keys"
    READ_HISTORY = "read-history"
    EXPORT_JOURNAL = "export-journal"
    CONTROL = "control"  # change or list the patient's sharing choices and relationships
    BREAK_GLASS = "break-the-glass"
    ELIGIBILITY = "eligibility"
    USAGE = "usage"
    ENROL = "enrol"  # record an insurer's members
    SUSPEND = "suspend"  # suspend or resume an account, a session, a token or a client
    SIGN_UP = "sign-up"  # a patient opens their own account


class Purpose(StrEnum):
    IMPORT = "import"
    SUBJECT_ACCESS = "subject-access"
    ERASURE = "erasure"
    IDENTIFICATION = "identification"
    KEY_MANAGEMENT = "key-management"
    CARE = "care"
    DEMO = "demo"
    AUDIT = "audit"
    PATIENT_REQUEST = "patient-request"  # the patient's own choice, made or relayed
    BREAK_GLASS = "break-the-glass"
    INSURANCE = "insurance"  # an insurer's eligibility and usage questions
    CONTRACT = "contract"  # a subcontractor's work under its contract
    SECURITY = "security"  # containing a misuse: suspensions


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    explanation: str
    facts: dict[str, str] = field(default_factory=dict)
    # False when the actor may not learn why (an excluded professional): they are told only
    # "not allowed", while the journal keeps the rule.
    disclosed: bool = True


# Actions the local operator may carry out: rule name, allowed purposes, explanation.
_OPERATOR_RULES: dict[Action, tuple[str, frozenset[Purpose], str]] = {
    Action.IMPORT: (
        "operator-import",
        frozenset({Purpose.IMPORT, Purpose.DEMO}),
        "the local operator may import patients",
    ),
    Action.FIND: (
        "operator-find",
        frozenset({Purpose.IDENTIFICATION, Purpose.SUBJECT_ACCESS, Purpose.ERASURE}),
        "the local operator may find patient ids to identify a data subject",
    ),
    Action.READ: (
        "operator-subject-access-read",
        frozenset({Purpose.SUBJECT_ACCESS}),
        "the local operator may read a patient's data for a subject-access request",
    ),
    Action.READ_HISTORY: (
        "operator-subject-access-history",
        frozenset({Purpose.SUBJECT_ACCESS}),
        "the local operator may read a patient's access history for a subject-access request",
    ),
    Action.EXPORT_JOURNAL: (
        "operator-audit-export",
        frozenset({Purpose.AUDIT}),
        "the local operator may export the access journal for an audit",
    ),
    Action.EXPORT: (
        "operator-subject-access",
        frozenset({Purpose.SUBJECT_ACCESS}),
        "the local operator may export a patient's data for a subject-access request",
    ),
    Action.ERASE: (
        "operator-erase",
        frozenset({Purpose.ERASURE}),
        "the local operator may erase a patient",
    ),
    Action.ADMINISTER_KEYS: (
        "operator-keys",
        frozenset({Purpose.KEY_MANAGEMENT}),
        "the local operator may administer keys",
    ),
    Action.CONTROL: (
        "operator-patient-request",
        frozenset({Purpose.PATIENT_REQUEST, Purpose.DEMO}),
        "the local operator may record a patient's sharing choices at the patient's request",
    ),
    Action.ENROL: (
        "operator-enrol",
        frozenset({Purpose.INSURANCE, Purpose.DEMO}),
        "the local operator may record an insurer's members",
    ),
    Action.WRITE: (
        "operator-demo-write",
        frozenset({Purpose.DEMO}),
        "the local operator may write demonstration records",
    ),
}


def a_or_an(word: str) -> str:
    """The word with its indefinite article ("an account", "a physician")."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def decide(
    actor: Actor, action: Action, purpose: Purpose | None, patient_id: str | None = None
) -> Decision:
    """Allow or deny `action` by `actor` for `purpose` on `patient_id` (when one patient is
    concerned); always explained, deny by default."""
    facts = {
        "actor_kind": actor.kind.value,
        "action": action.value,
        "purpose": purpose.value if purpose is not None else "none",
    }
    if (
        actor.kind is ActorKind.ACCOUNT
        and actor.role == "patient"
        and action is Action.READ_HISTORY
    ):
        # Patients see who accessed their own record, and no one else's.
        if patient_id is not None and actor.patient_id == patient_id:
            return Decision(
                True,
                "patient-own-history",
                "a patient may read the access history of their own record",
                facts,
            )
        return Decision(
            False,
            "patient-own-history",
            "a patient may read the access history of their own record only",
            facts,
        )
    if action is Action.SIGN_UP:
        # Anyone may ask; the link goes only to the address the record holds, so only the
        # patient (or whoever reads their mailbox) can use it.
        return Decision(
            True,
            "self-sign-up",
            "a sign-up link goes only to the address the patient's record holds",
            facts,
        )
    if actor.kind is not ActorKind.OPERATOR:
        return Decision(
            False,
            "default-deny",
            f"no rule yet allows {a_or_an(actor.kind.value)} to {action.value} patient data",
            facts,
        )
    rule = _OPERATOR_RULES.get(action)
    if rule is None:
        return Decision(
            False,
            "default-deny",
            f"no rule allows the local operator to {action.value} patient data",
            facts,
        )
    name, purposes, why = rule
    if purpose is None or purpose not in purposes:
        allowed = ", ".join(sorted(p.value for p in purposes))
        return Decision(False, f"{name}-purpose", f"{why} only for the purpose {allowed}", facts)
    return Decision(True, name, why, facts)


def decide_erasure(
    actor: Actor, purpose: Purpose | None, patient_organisation_id: str | None
) -> Decision:
    """Erasing a patient (crypto-shredding): the local operator, or the data-protection
    officer of the patient's own organisation, for an erasure."""
    if actor.kind is ActorKind.OPERATOR:
        return decide(actor, Action.ERASE, purpose)
    facts = {
        "actor_kind": actor.kind.value,
        "action": Action.ERASE.value,
        "purpose": purpose.value if purpose is not None else "none",
    }
    if purpose is not Purpose.ERASURE:
        return Decision(False, "erasure-purpose", "a patient is erased for erasure only", facts)
    if (
        actor.kind is ActorKind.ACCOUNT
        and actor.role == "data-protection-officer"
        and patient_organisation_id is not None
        and actor.organisation_id == patient_organisation_id
    ):
        return Decision(
            True,
            "dpo-erasure",
            "the data-protection officer of the patient's organisation may erase the patient",
            facts,
        )
    return Decision(
        False,
        "erasure-role",
        "only the local operator or the data-protection officer of the patient's "
        "organisation may erase a patient",
        facts,
    )


def _officer_rule(
    actor: Actor,
    organisation_id: str | None,
    facts: dict[str, str],
    *,
    rule: str,
    roles: frozenset[str],
    trusted: str,
    member: str,
    refused: str,
    trusted_kinds: frozenset[ActorKind] = frozenset({ActorKind.OPERATOR}),
) -> Decision:
    """The rule "the operator, or this role of that organisation": an actor of
    `trusted_kinds` is allowed (explained by `trusted`, where `{kind}` is its kind), as is an
    account holding one of `roles` in `organisation_id` (`member`, where `{role}` is its
    role, which joins the facts); anyone else is refused with `refused`. None as
    `organisation_id` (something of no organisation) is left to the trusted kinds."""
    if actor.kind in trusted_kinds:
        return Decision(True, rule, trusted.format(kind=actor.kind.value), facts)
    if (
        actor.kind is ActorKind.ACCOUNT
        and actor.role in roles
        and organisation_id is not None
        and actor.organisation_id == organisation_id
    ):
        return Decision(
            True, rule, member.format(role=actor.role), {**facts, "role": str(actor.role)}
        )
    return Decision(False, rule, refused, facts)


# Who may suspend (or resume) accounts and sessions of an organisation, besides the local
# operator and Coffre itself (its detection engine).
SUSPENDING_ROLES = frozenset({"security-officer", "organisation-admin"})


def decide_suspension(actor: Actor, organisation_id: str | None, purpose: Purpose) -> Decision:
    """Suspending or resuming what belongs to an organisation: the local operator, Coffre's
    own detection, or that organisation's security officer or administrator, for security."""
    facts = {"actor_kind": actor.kind.value, "purpose": purpose.value}
    if purpose is not Purpose.SECURITY:
        return Decision(False, "suspension-purpose", "suspensions are made for security", facts)
    return _officer_rule(
        actor,
        organisation_id,
        facts,
        rule="security-suspension",
        roles=SUSPENDING_ROLES,
        trusted_kinds=frozenset({ActorKind.OPERATOR, ActorKind.SYSTEM}),
        trusted="the {kind} may suspend for security",
        member="the organisation's {role} may suspend within it",
        refused="only the organisation's security officer or administrator may suspend within it",
    )


# Who may register and revoke an organisation's machine clients, besides the local operator.
CLIENT_ADMIN_ROLES = frozenset({"organisation-admin"})


def decide_client_admin(actor: Actor, organisation_id: str | None) -> Decision:
    """Registering or revoking what belongs to an organisation's machine access (clients,
    their tokens): the local operator, or that organisation's administrator."""
    return _officer_rule(
        actor,
        organisation_id,
        {"actor_kind": actor.kind.value},
        rule="client-admin",
        roles=CLIENT_ADMIN_ROLES,
        trusted="the local operator may manage clients",
        member="the organisation's {role} may manage its clients",
        refused="only the organisation's administrator may manage its clients",
    )
