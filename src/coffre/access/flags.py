"""Records flagged VIP or staff, and relatives: who may flag a record, and what every
decision on one patient's data tells the watch about both.

A record may be flagged `vip` (a public figure) or `staff` (a member of the structure's
staff who is also its patient). A flag changes nothing about who may read the record: it is
a fact for detection, so a rule can single out accesses to flagged records. Flags are set
and cleared by the data-protection officer, the security officer or the administrator of
the patient's organisation, and by the local operator; nobody else, not even a
professional of that organisation. A token must allow updating a Patient first.

Every decision on one patient's data (`decide_data`, `decide_break_glass`,
`decide_control`) then carries, besides its own facts (`marked`):

- `flag`: the record's flags, `vip`, `staff` or `vip,staff`, when it has any;
- `same_family`, `same_address`: `true` when the acting person's own family name, or
  postal address, is one of the patient's. Both sides are blind-index digests (the account
  keeps only digests of its holder's name and address): names are never compared.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from coffre.access.care import PatientFacts
from coffre.access.policy import Decision, Purpose, _officer_rule
from coffre.access.tokens import decide_token
from coffre.crypto import IndexKind
from coffre.identity import Actor


class Flag(StrEnum):
    VIP = "vip"  # a public figure
    STAFF = "staff"  # a member of the structure's staff who is also its patient


# Who may flag the records of an organisation's patients, besides the local operator.
FLAG_ROLES = frozenset({"data-protection-officer", "security-officer", "organisation-admin"})


def decide_flag(
    actor: Actor, flag: Flag, on: bool, patient_organisation_id: str | None
) -> Decision:
    """Whether the actor may set (`on`) or clear a flag on a record of the organisation
    `patient_organisation_id` (None: no such patient, which only the operator learns)."""
    refused = decide_token(actor, ("Patient",), "u")
    if refused is not None:
        return refused
    facts = {
        "actor_kind": actor.kind.value,
        "action": "flag",
        "purpose": Purpose.SECURITY.value,
        "changed_flag": flag.value,
        "change": "set" if on else "clear",
    }
    return _officer_rule(
        actor,
        patient_organisation_id,
        facts,
        rule="flag-record",
        roles=FLAG_ROLES,
        trusted="the local operator may flag records",
        member="the organisation's {role} may flag its patients' records",
        refused="only the data-protection officer, security officer or administrator of the "
        "patient's organisation may flag a record",
    )


def marks(facts: PatientFacts) -> dict[str, str]:
    """The facts about the record's flags and the actor's relatives, as decisions carry them."""
    found: dict[str, str] = {}
    if facts.flags:
        found["flag"] = ",".join(facts.flags)
    if IndexKind.FAMILY.value in facts.shared_with_actor:
        found["same_family"] = "true"
    if IndexKind.ADDRESS.value in facts.shared_with_actor:
        found["same_address"] = "true"
    return found


def marked(decision: Decision, facts: PatientFacts) -> Decision:
    """The decision with `marks` added to its facts (itself when there are none)."""
    if not facts.flags and not facts.shared_with_actor:
        return decision
    return replace(decision, facts={**decision.facts, **marks(facts)})
