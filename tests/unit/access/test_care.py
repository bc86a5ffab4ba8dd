"""A professional's access to a patient's data, checked against answers that do not come from it.

Three independent sources of truth, all written here from the specification (issue "The
secure core, part 3") and the four conditions of `coffre.access.care`'s docstring:

* a table-driven oracle over the whole cross product: profession × category × relationship
  state × consent × exclusion × masking × break-the-glass × read/write, with the default
  matrix written out below as a grid (`EXPECTED_MATRIX`), not read from matrix.toml;
* hypothesis properties over arbitrary patient facts, matrices, durations and instants,
  with a second oracle that works on concrete facts;
* expiry at the default durations with a controlled clock: every decision takes `now`, so
  the tests choose the instant to the second.

The order in which the conditions are checked decides which rule is named when several
fail: exclusion, then "no category named", then the basis of access (a live break-the-glass,
else consent, else an active relationship), then the matrix, then masking.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coffre.access import (
    CLINICAL,
    BreakGlass,
    CareRequest,
    Category,
    Decision,
    Durations,
    EmergencyReason,
    Matrix,
    PatientFacts,
    Profession,
    Professional,
    Relationship,
    RelationshipKind,
    decide_care,
    default_matrix,
)

examples = settings(max_examples=300, deadline=None, database=None)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

ACTOR = "account:dr-actor"
OTHER = "account:dr-other"
THIRD = "account:nurse-third"
TEAM = "team:ward-3"
ELSEWHERE = "team:elsewhere"
DOC = "document:discharge-letter"
OTHER_DOC = "document:lab-report"

Kind = RelationshipKind

# ---------------------------------------------------------------------------------------
# The default matrix, as the specification of what each profession reads (R) and writes (W).
# Checked against matrix.toml only through decide_care, by the table-driven test below.
# ---------------------------------------------------------------------------------------

# Columns, in the order of the grid.
_COLUMNS = {
    "id": Category.IDENTITY,
    "contact": Category.CONTACT,
    "admin": Category.ADMINISTRATIVE,
    "appt": Category.APPOINTMENTS,
    "reason": Category.REASON,
    "notes": Category.CLINICAL_NOTES,
    "results": Category.RESULTS,
    "rx": Category.PRESCRIPTIONS,
    "mental": Category.MENTAL_HEALTH,
    "sexual": Category.SEXUAL_HEALTH,
    "docs": Category.DOCUMENTS,
}

_GRID = """
                 id  contact admin appt reason notes results rx  mental sexual docs
physician        R   R       R     RW   RW     RW    RW      RW  RW     RW     RW
specialist       R   R       R     RW   RW     RW    RW      RW  R      R      RW
nurse            R   R       -     RW   R      RW    RW      R   -      -      R
pharmacist       R   -       R     -    -      -     -       R   -      -      -
psychologist     R   R       -     RW   RW     -     -       -   RW     -      -
physiotherapist  R   R       -     RW   R      RW    R       -   -      -      R
midwife          R   R       -     RW   R      RW    RW      RW  -      RW     R
dentist          R   R       -     RW   R      RW    R       RW  -      -      RW
administrative   RW  RW      RW    RW   -      -     -       -   -      -      -
"""


def _parse_grid(text: str) -> dict[tuple[Profession, Category], str]:
    header, *rows = (line.split() for line in text.strip().splitlines())
    columns = [_COLUMNS[name] for name in header]
    grid: dict[tuple[Profession, Category], str] = {}
    for name, *cells in rows:
        for category, cell in zip(columns, cells, strict=True):
            grid[Profession(name), category] = cell.replace("-", "")
    return grid


EXPECTED_MATRIX = _parse_grid(_GRID)
assert len(EXPECTED_MATRIX) == len(Profession) * len(Category)

# ---------------------------------------------------------------------------------------
# The table-driven test over the whole cross product.
# ---------------------------------------------------------------------------------------

# The actor belongs to care team TEAM in every case: membership alone gives nothing.
RELATIONSHIP_STATES: dict[str, tuple[Relationship, ...]] = {
    "none": (),
    "active": (Relationship(Kind.APPOINTMENT, NOW - 10 * DAY, professional_id=ACTOR),),
    # Several of the actor's own relationships, each over.
    "expired": (
        Relationship(Kind.TELECONSULTATION, NOW - 8 * DAY, professional_id=ACTOR),
        Relationship(
            Kind.ADMISSION, NOW - 60 * DAY, professional_id=ACTOR, ended_at=NOW - 31 * DAY
        ),
        Relationship(
            Kind.GENERAL_PRACTITIONER, NOW - 30 * DAY, professional_id=ACTOR, ended_at=NOW - DAY
        ),
    ),
    # Someone else's active relationship, through a team the actor is not in.
    "other's": (
        Relationship(
            Kind.GENERAL_PRACTITIONER, NOW - 10 * DAY, professional_id=OTHER, care_team_id=ELSEWHERE
        ),
    ),
    # An active relationship of the actor's care team, not of the actor.
    "team's": (Relationship(Kind.ADMISSION, NOW - 2 * DAY, care_team_id=TEAM),),
}

BREAK_GLASS_STATES: dict[str, tuple[BreakGlass, ...]] = {
    # The actor has none; another professional's live grant must not help them.
    "none": (BreakGlass(OTHER, NOW - HOUR, NOW + 3 * HOUR, EmergencyReason.LIFE_THREATENING),),
    "live": (BreakGlass(ACTOR, NOW - HOUR, NOW + 3 * HOUR, EmergencyReason.PATIENT_UNCONSCIOUS),),
    "expired": (BreakGlass(ACTOR, NOW - 5 * HOUR, NOW - HOUR, EmergencyReason.URGENT_CARE),),
}

# The request always names DOC: masked or not, and by whom.
MASK_STATES: dict[str, dict[str, str | None]] = {
    "none": {OTHER_DOC: OTHER},  # another document is masked, not this one
    "by someone else": {DOC: OTHER},
    "authored by the actor": {DOC: ACTOR},
}

EXCLUSION_STATES: dict[bool, frozenset[str]] = {
    False: frozenset({OTHER}),  # the patient excluded someone, not the actor
    True: frozenset({ACTOR, OTHER}),
}


CASE_FIELDS = (
    "profession",
    "category",
    "relationship",
    "consent",
    "excluded",
    "masked",
    "break_glass",
    "writing",
)


def expected(
    profession: Profession,
    category: Category,
    relationship: str,
    consent: bool,
    excluded: bool,
    masked: str,
    glass: str,
    writing: bool,
) -> tuple[bool, str]:
    """The specification's answer: allowed, and the rule that decides."""
    # (3) An excluded professional gets nothing, not even in an emergency.
    if excluded:
        return False, "patient-exclusion"
    # (1) + (2) Consent and an active relationship of the actor or their care team; or a
    # live break-the-glass of the actor, which stands in for both.
    emergency = glass == "live"
    if not emergency:
        # Without a relationship nothing more is said (not even whether they consented).
        if relationship not in {"active", "team's"}:
            return False, "no-care-relationship"
        if not consent:
            return False, "no-consent"
    # (4) The profession × category matrix, reads and writes in their own columns.
    if ("W" if writing else "R") not in EXPECTED_MATRIX[profession, category]:
        return False, "profession-matrix"
    # (3) A masked document is hidden from everyone but its author.
    if masked == "by someone else":
        return False, "masked-document"
    return True, "break-the-glass" if emergency else "care-relationship"


def test_every_combination_of_the_table_agrees_with_the_specification():
    actors = {p: Professional(ACTOR, p, frozenset({TEAM})) for p in Profession}
    dimensions = (
        list(Profession),
        list(Category),
        list(RELATIONSHIP_STATES),
        [True, False],
        [False, True],
        list(MASK_STATES),
        list(BREAK_GLASS_STATES),
        [False, True],
    )
    patients = {
        (relationship, consent, excluded, masked, glass): PatientFacts(
            patient_id="patient:1",
            consent=consent,
            relationships=RELATIONSHIP_STATES[relationship],
            excluded=EXCLUSION_STATES[excluded],
            masked_documents=MASK_STATES[masked],
            break_glass=BREAK_GLASS_STATES[glass],
        )
        for relationship, consent, excluded, masked, glass in itertools.product(*dimensions[2:7])
    }
    mismatches: list[str] = []
    rules_seen: set[str] = set()
    cases = 0
    for case in itertools.product(*dimensions):
        profession, category, relationship, consent, excluded, masked, glass, writing = case
        cases += 1
        decision = decide_care(
            CareRequest(actors[profession], frozenset({category}), writing, DOC),
            patients[relationship, consent, excluded, masked, glass],
            NOW,
        )
        want = expected(*case)
        got = (decision.allowed, decision.rule)
        rules_seen.add(decision.rule)
        problems = []
        if got != want:
            problems.append(f"expected {want}, got {got} ({decision.explanation})")
        if decision.disclosed == excluded:
            problems.append(f"disclosed={decision.disclosed}")
        if excluded != (decision.explanation == "not allowed"):
            problems.append(f"explanation {decision.explanation!r}")
        wanted_facts = {
            "profession": profession.value,
            "action": "write" if writing else "read",
            "categories": category.value,
            "consent": "yes" if consent else "no",
        }
        if {k: decision.facts.get(k) for k in wanted_facts} != wanted_facts:
            problems.append(f"facts {decision.facts}")
        if problems:
            labels = dict(zip(CASE_FIELDS, (str(value) for value in case), strict=True))
            mismatches.append(f"{labels}: {'; '.join(problems)}")
    assert cases == 9 * 11 * 5 * 2 * 2 * 3 * 3 * 2 == 35_640
    assert not mismatches, f"{len(mismatches)} of {cases} cases disagree:\n" + "\n".join(
        mismatches[:8]
    )
    # Every rule decided somewhere, so no branch of the oracle went untried.
    assert rules_seen == {
        "patient-exclusion",
        "no-consent",
        "no-care-relationship",
        "profession-matrix",
        "masked-document",
        "break-the-glass",
        "care-relationship",
    }


# ---------------------------------------------------------------------------------------
# A second oracle, on concrete facts, for the properties.
# ---------------------------------------------------------------------------------------


def is_mine(relationship: Relationship, actor: Professional) -> bool:
    if relationship.professional_id is not None and relationship.professional_id == (
        actor.account_id
    ):
        return True
    return relationship.care_team_id is not None and relationship.care_team_id in (
        actor.care_team_ids
    )


def spec_active(relationship: Relationship, now: datetime, durations: Durations) -> bool:
    """Started, and not past its kind's duration (admissions: after discharge), nor its end."""
    if now < relationship.started_at:
        return False
    length = durations.of(relationship.kind)
    if relationship.kind is Kind.ADMISSION:
        discharge = relationship.ended_at
        return discharge is None or now < discharge + length
    expiry = relationship.started_at + length
    if relationship.ended_at is not None:
        expiry = min(expiry, relationship.ended_at)
    return now < expiry


def spec_live_glass(
    facts: PatientFacts, actor: Professional, now: datetime, durations: Durations
) -> bool:
    """A grant of this professional, started, before its expiry and before the longest
    break-the-glass the configuration allows."""
    return any(
        g.professional_id == actor.account_id
        and g.started_at <= now < g.expires_at
        and now < g.started_at + durations.break_glass
        for g in facts.break_glass
    )


def spec_cared_for(
    facts: PatientFacts, actor: Professional, now: datetime, durations: Durations
) -> bool:
    return any(is_mine(r, actor) and spec_active(r, now, durations) for r in facts.relationships)


def spec_decision(
    request: CareRequest,
    facts: PatientFacts,
    now: datetime,
    durations: Durations,
    matrix: Matrix,
) -> tuple[bool, str]:
    actor = request.professional
    if actor.account_id in facts.excluded:
        return False, "patient-exclusion"
    if not request.categories:
        return False, "default-deny"
    emergency = spec_live_glass(facts, actor, now, durations)
    if not emergency:
        if not spec_cared_for(facts, actor, now, durations):
            return False, "no-care-relationship"
        if not facts.consent:
            return False, "no-consent"
    column = matrix.write if request.writing else matrix.read
    if not request.categories <= column.get(actor.profession, frozenset()):
        return False, "profession-matrix"
    if (
        request.document_id in facts.masked_documents
        and facts.masked_documents[request.document_id] != actor.account_id
    ):
        return False, "masked-document"
    return True, "break-the-glass" if emergency else "care-relationship"


PEOPLE = [ACTOR, OTHER, THIRD]
TEAMS = [TEAM, ELSEWHERE]

# Instants within ±500 days of NOW, to the second, with the interesting ones often.
offsets = st.one_of(
    st.integers(-500 * 86_400, 500 * 86_400),
    st.sampled_from([0, -1, 1, 4 * 3600, 7 * 86_400, 30 * 86_400, 90 * 86_400, 456 * 86_400]),
)
instants = offsets.map(lambda s: NOW + timedelta(seconds=s))

relationships = st.builds(
    Relationship,
    kind=st.sampled_from(list(Kind)),
    started_at=instants,
    professional_id=st.none() | st.sampled_from(PEOPLE),
    care_team_id=st.none() | st.sampled_from(TEAMS),
    ended_at=st.none() | instants,
)


@st.composite
def grants(draw: st.DrawFn) -> BreakGlass:
    start = draw(instants)
    length = draw(st.integers(-3600, 8 * 3600))
    return BreakGlass(
        draw(st.sampled_from(PEOPLE)),
        start,
        start + timedelta(seconds=length),
        draw(st.sampled_from(list(EmergencyReason))),
    )


patient_facts = st.builds(
    PatientFacts,
    patient_id=st.just("patient:1"),
    consent=st.booleans(),
    relationships=st.lists(relationships, max_size=4).map(tuple),
    excluded=st.frozensets(st.sampled_from(PEOPLE)),
    masked_documents=st.dictionaries(
        st.sampled_from([DOC, OTHER_DOC]), st.none() | st.sampled_from(PEOPLE), max_size=2
    ),
    break_glass=st.lists(grants(), max_size=3).map(tuple),
)

professionals = st.builds(
    Professional,
    account_id=st.just(ACTOR),
    profession=st.sampled_from(list(Profession)),
    care_team_ids=st.frozensets(st.sampled_from(TEAMS)),
)

category_sets = st.frozensets(st.sampled_from(list(Category)), max_size=4)
clinical_sets = st.frozensets(st.sampled_from(list(Category)), min_size=1, max_size=4).filter(
    lambda cs: bool(cs & CLINICAL)
)

requests = st.builds(
    CareRequest,
    professional=professionals,
    categories=category_sets,
    writing=st.booleans(),
    document_id=st.none() | st.sampled_from([DOC, OTHER_DOC]),
)

durations_tables = st.none() | st.builds(
    Durations,
    by_kind=st.fixed_dictionaries(
        {kind: st.integers(0, 600).map(lambda d: timedelta(days=d)) for kind in Kind}
    ),
)

column = st.dictionaries(
    st.sampled_from(list(Profession)), st.frozensets(st.sampled_from(list(Category)))
)
matrices = st.builds(Matrix, read=column, write=column)


# ---------------------------------------------------------------------------------------
# Properties.
# ---------------------------------------------------------------------------------------


@examples
@given(
    actor=professionals,
    categories=clinical_sets,
    document=st.none() | st.sampled_from([DOC, OTHER_DOC]),
    facts=patient_facts,
    now=instants,
    durations=durations_tables,
    matrix=st.none() | matrices,
)
def test_no_clinical_read_without_consent_and_relationship_or_a_live_break_the_glass(
    actor, categories, document, facts, now, durations, matrix
):
    """Whatever the matrix (even one wider than the default) and the durations."""
    decision = decide_care(
        CareRequest(actor, categories, writing=False, document_id=document),
        facts,
        now,
        durations=durations,
        matrix=matrix,
    )
    entitled = (
        facts.consent and spec_cared_for(facts, actor, now, durations or Durations())
    ) or spec_live_glass(facts, actor, now, durations or Durations())
    if not entitled:
        assert not decision.allowed, (decision.rule, decision.explanation)
        assert decision.rule in {"patient-exclusion", "no-consent", "no-care-relationship"}


@examples
@given(
    request=requests,
    facts=patient_facts,
    now=instants,
    durations=durations_tables,
    matrix=st.none() | matrices,
)
def test_decisions_on_arbitrary_facts_agree_with_the_specification(
    request, facts, now, durations, matrix
):
    decision = decide_care(request, facts, now, durations=durations, matrix=matrix)
    effective = default_matrix() if matrix is None else default_matrix().narrowed(matrix)
    want = spec_decision(request, facts, now, durations or Durations(), effective)
    assert (decision.allowed, decision.rule) == want, decision.explanation
    assert decision.disclosed == (request.professional.account_id not in facts.excluded)


@examples
@given(
    request=requests,
    facts=patient_facts,
    now=instants,
    durations=durations_tables,
    matrix=st.none() | matrices,
)
def test_an_excluded_professional_is_never_allowed_anything_and_never_told_why(
    request, facts, now, durations, matrix
):
    everything = replace(
        facts,
        consent=True,
        excluded=facts.excluded | {ACTOR},
        relationships=(*facts.relationships, Relationship(Kind.APPOINTMENT, NOW, ACTOR)),
        break_glass=(
            *facts.break_glass,
            BreakGlass(ACTOR, NOW, NOW + 4 * HOUR, EmergencyReason.LIFE_THREATENING),
        ),
        masked_documents={},
    )
    for patient in (facts, everything):
        excluded = replace(patient, excluded=patient.excluded | {ACTOR})
        decision = decide_care(request, excluded, now, durations=durations, matrix=matrix)
        assert not decision.allowed
        assert decision.rule == "patient-exclusion"
        assert decision.explanation == "not allowed"
        assert decision.disclosed is False


@examples
@given(request=requests, facts=patient_facts, now=instants, other=matrices)
def test_narrowing_the_matrix_never_allows_more_than_the_default(request, facts, now, other):
    narrowed = default_matrix().narrowed(other)
    for profession, category, writing in itertools.product(Profession, Category, [False, True]):
        if narrowed.allows(profession, category, writing=writing):
            assert default_matrix().allows(profession, category, writing=writing)
    by_default = decide_care(request, facts, now)
    by_organisation = decide_care(request, facts, now, matrix=narrowed)
    if by_organisation.allowed:
        assert by_default.allowed
        assert by_default.rule == by_organisation.rule


@examples
@given(request=requests, facts=patient_facts, now=instants)
def test_every_decision_carries_its_facts(request, facts, now):
    decision = decide_care(request, facts, now)
    assert isinstance(decision, Decision)
    assert decision.rule and decision.explanation
    assert decision.facts["consent"] == ("yes" if facts.consent else "no")
    assert decision.facts["profession"] == request.professional.profession.value
    assert decision.facts["action"] == ("write" if request.writing else "read")
    named = decision.facts["categories"]
    assert named == (", ".join(sorted(request.categories)) or "nothing")
    if decision.allowed:
        basis = "break_glass" if decision.rule == "break-the-glass" else "relationship"
        assert basis in decision.facts


# ---------------------------------------------------------------------------------------
# Examples the specification names.
# ---------------------------------------------------------------------------------------


def someone(profession: Profession = Profession.PHYSICIAN, *teams: str) -> Professional:
    return Professional(ACTOR, profession, frozenset(teams))


def cared_for(*relationships: Relationship, **changes: object) -> PatientFacts:
    fields: dict[str, object] = {
        "patient_id": "patient:1",
        "consent": True,
        "relationships": relationships
        or (Relationship(Kind.APPOINTMENT, NOW - DAY, professional_id=ACTOR),),
    }
    fields.update(changes)
    return PatientFacts(**fields)  # type: ignore[arg-type]


def reads(
    categories: set[Category] | Category = Category.CLINICAL_NOTES,
    profession: Profession = Profession.PHYSICIAN,
    **changes: object,
) -> CareRequest:
    named = {categories} if isinstance(categories, Category) else categories
    return CareRequest(someone(profession), frozenset(named), **changes)  # type: ignore[arg-type]


def test_a_pharmacist_reads_prescriptions_not_psychiatric_notes():
    patient = cared_for()
    assert decide_care(reads(Category.PRESCRIPTIONS, Profession.PHARMACIST), patient, NOW).allowed
    decision = decide_care(reads(Category.MENTAL_HEALTH, Profession.PHARMACIST), patient, NOW)
    assert not decision.allowed
    assert decision.rule == "profession-matrix"
    assert decision.explanation == "a pharmacist may not read mental-health"


def test_one_refused_category_refuses_the_request_and_is_named():
    asked = {Category.PRESCRIPTIONS, Category.MENTAL_HEALTH, Category.RESULTS}
    request = reads(asked, Profession.PHARMACIST)
    decision = decide_care(request, cared_for(), NOW)
    assert not decision.allowed
    assert decision.rule == "profession-matrix"
    assert "mental-health, results" in decision.explanation
    assert "prescriptions" not in decision.explanation


def test_administrative_staff_see_identity_contact_appointments_never_clinical_content():
    patient = cared_for()
    for category in (Category.IDENTITY, Category.CONTACT, Category.APPOINTMENTS):
        assert decide_care(reads(category, Profession.ADMINISTRATIVE), patient, NOW).allowed
    for category in CLINICAL:
        for writing in (False, True):
            request = reads(category, Profession.ADMINISTRATIVE, writing=writing)
            assert not decide_care(request, patient, NOW).allowed


def test_naming_no_category_is_denied_by_default():
    patient = cared_for(
        break_glass=(BreakGlass(ACTOR, NOW, NOW + HOUR, EmergencyReason.URGENT_CARE),)
    )
    decision = decide_care(reads(set()), patient, NOW)
    assert (decision.allowed, decision.rule) == (False, "default-deny")
    assert decision.facts["categories"] == "nothing"


def test_break_the_glass_opens_a_record_without_consent_or_relationship_and_says_so():
    grant = BreakGlass(ACTOR, NOW - HOUR, NOW + 3 * HOUR, EmergencyReason.PATIENT_UNCONSCIOUS)
    patient = PatientFacts("patient:1", consent=False, break_glass=(grant,))
    decision = decide_care(reads(Category.RESULTS), patient, NOW)
    assert decision.allowed
    assert decision.rule == "break-the-glass"
    assert "patient-unconscious" in decision.explanation
    assert decision.facts["break_glass"] == "patient-unconscious until 2025-03-01T15:00Z"


def test_an_excluded_professional_cannot_break_the_glass():
    grant = BreakGlass(ACTOR, NOW - HOUR, NOW + 3 * HOUR, EmergencyReason.LIFE_THREATENING)
    patient = cared_for(excluded=frozenset({ACTOR}), break_glass=(grant,))
    decision = decide_care(reads(Category.IDENTITY), patient, NOW)
    assert (decision.allowed, decision.rule, decision.disclosed) == (
        False,
        "patient-exclusion",
        False,
    )
    assert decision.explanation == "not allowed"
    assert "break_glass" not in decision.facts and "relationship" not in decision.facts


def test_a_care_teams_relationship_serves_its_members_only():
    patient = cared_for(Relationship(Kind.ADMISSION, NOW - DAY, care_team_id=TEAM))
    member = CareRequest(someone(Profession.NURSE, TEAM), frozenset({Category.RESULTS}))
    outsider = CareRequest(someone(Profession.NURSE, ELSEWHERE), frozenset({Category.RESULTS}))
    assert decide_care(member, patient, NOW).allowed
    decision = decide_care(outsider, patient, NOW)
    assert (decision.allowed, decision.rule) == (False, "no-care-relationship")


def test_a_masked_document_is_hidden_from_everyone_but_its_author_even_in_an_emergency():
    grant = BreakGlass(ACTOR, NOW - HOUR, NOW + HOUR, EmergencyReason.LIFE_THREATENING)
    for author in (OTHER, None):
        patient = cared_for(masked_documents={DOC: author}, break_glass=(grant,))
        decision = decide_care(reads(Category.DOCUMENTS, document_id=DOC), patient, NOW)
        assert (decision.allowed, decision.rule) == (False, "masked-document")
    patient = cared_for(masked_documents={DOC: ACTOR})
    assert decide_care(reads(Category.DOCUMENTS, document_id=DOC), patient, NOW).allowed


# ---------------------------------------------------------------------------------------
# Expiry, with a controlled clock: each decision is taken at an instant chosen to the second.
# ---------------------------------------------------------------------------------------

T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)

DEFAULT_DURATIONS = {
    Kind.GENERAL_PRACTITIONER: timedelta(days=456),  # about 15 months
    Kind.APPOINTMENT: timedelta(days=90),
    Kind.ADMISSION: timedelta(days=30),  # after discharge
    Kind.TELECONSULTATION: timedelta(days=7),
    Kind.REFERRAL: timedelta(days=183),
    Kind.DECLARATION: timedelta(days=456),
}
NOT_ADMISSIONS = [kind for kind in Kind if kind is not Kind.ADMISSION]


class Clock:
    """A clock the test sets: `decide_care` never reads the time itself."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def set(self, instant: datetime) -> Clock:
        self.now = instant
        return self


def allowed_at(clock: Clock, patient: PatientFacts, durations: Durations | None = None) -> bool:
    decision = decide_care(reads(), patient, clock.now, durations=durations)
    if not decision.allowed:
        assert decision.rule in {"no-care-relationship", "no-consent"}, decision.rule
    return decision.allowed


def test_the_default_durations():
    assert {kind: Durations().of(kind) for kind in Kind} == DEFAULT_DURATIONS
    assert Durations().break_glass == timedelta(hours=4)


@pytest.mark.parametrize("kind", NOT_ADMISSIONS, ids=str)
def test_a_relationship_expires_at_its_default_duration(kind):
    patient = cared_for(Relationship(kind, T0, professional_id=ACTOR))
    expiry = T0 + DEFAULT_DURATIONS[kind]
    clock = Clock(T0)
    assert allowed_at(clock, patient)
    assert allowed_at(clock.set(expiry - SECOND), patient)
    assert not allowed_at(clock.set(expiry), patient)
    assert not allowed_at(clock.set(expiry + 400 * DAY), patient)


def test_an_admission_lasts_until_discharge_then_thirty_days():
    admitted = Relationship(Kind.ADMISSION, T0, professional_id=ACTOR)
    clock = Clock(T0)
    assert allowed_at(clock, cared_for(admitted))
    assert allowed_at(clock.set(T0 + 3 * 365 * DAY), cared_for(admitted))  # still in
    discharge = T0 + 12 * DAY
    patient = cared_for(replace(admitted, ended_at=discharge))
    assert allowed_at(clock.set(discharge - SECOND), patient)
    assert allowed_at(clock.set(discharge), patient)
    assert allowed_at(clock.set(discharge + 30 * DAY - SECOND), patient)
    assert not allowed_at(clock.set(discharge + 30 * DAY), patient)


def test_break_the_glass_lasts_four_hours():
    grant = BreakGlass(ACTOR, T0, T0 + Durations().break_glass, EmergencyReason.URGENT_CARE)
    patient = PatientFacts("patient:1", consent=True, break_glass=(grant,))
    clock = Clock(T0 - SECOND)
    assert not allowed_at(clock, patient)
    assert allowed_at(clock.set(T0), patient)
    assert allowed_at(clock.set(T0 + 4 * HOUR - SECOND), patient)
    assert not allowed_at(clock.set(T0 + 4 * HOUR), patient)


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_a_relationship_starting_in_the_future_is_not_active_yet(kind):
    patient = cared_for(Relationship(kind, T0, professional_id=ACTOR))
    clock = Clock(T0 - 30 * DAY)
    assert not allowed_at(clock, patient)
    assert not allowed_at(clock.set(T0 - SECOND), patient)
    assert allowed_at(clock.set(T0), patient)


@pytest.mark.parametrize("kind", NOT_ADMISSIONS, ids=str)
def test_an_explicit_end_is_honoured_and_never_extends(kind):
    ended = T0 + 2 * DAY
    patient = cared_for(Relationship(kind, T0, professional_id=ACTOR, ended_at=ended))
    clock = Clock(ended - SECOND)
    assert allowed_at(clock, patient)
    assert not allowed_at(clock.set(ended), patient)
    late = cared_for(Relationship(kind, T0, professional_id=ACTOR, ended_at=T0 + 2000 * DAY))
    assert not allowed_at(clock.set(T0 + DEFAULT_DURATIONS[kind]), late)


def test_configured_durations_replace_the_defaults():
    durations = Durations(by_kind={**DEFAULT_DURATIONS, Kind.TELECONSULTATION: DAY})
    patient = cared_for(Relationship(Kind.TELECONSULTATION, T0, professional_id=ACTOR))
    clock = Clock(T0 + DAY - SECOND)
    assert allowed_at(clock, patient, durations)
    assert not allowed_at(clock.set(T0 + DAY), patient, durations)
    assert allowed_at(clock, patient)  # the default, 7 days


# ---------------------------------------------------------------------------------------
# Gaps found in coffre.access.care, now closed.
# ---------------------------------------------------------------------------------------


def test_break_the_glass_never_outlasts_the_configured_duration():
    grant = BreakGlass(ACTOR, T0, T0 + 24 * HOUR, EmergencyReason.LIFE_THREATENING)
    patient = PatientFacts("patient:1", consent=False, break_glass=(grant,))
    assert not decide_care(reads(), patient, T0 + 5 * HOUR).allowed
    short = Durations(break_glass=HOUR)
    assert not decide_care(reads(), patient, T0 + 2 * HOUR, durations=short).allowed


def test_configuring_some_durations_keeps_the_defaults_of_the_others():
    durations = Durations(by_kind={Kind.TELECONSULTATION: 3 * DAY})
    patient = cared_for(Relationship(Kind.APPOINTMENT, NOW - 10 * DAY, professional_id=ACTOR))
    decision = decide_care(reads(), patient, NOW, durations=durations)
    assert decision.allowed  # the appointment's default, 90 days


def test_a_matrix_given_to_decide_care_cannot_widen_the_default():
    wider = Matrix(read={Profession.PHARMACIST: frozenset(Category)}, write={})
    request = reads(Category.MENTAL_HEALTH, Profession.PHARMACIST)
    decision = decide_care(request, cared_for(), NOW, matrix=wider)
    assert (decision.allowed, decision.rule) == (False, "profession-matrix")


def test_a_masked_document_decision_names_the_masking_among_its_facts():
    patient = cared_for(masked_documents={DOC: OTHER})
    decision = decide_care(reads(Category.DOCUMENTS, document_id=DOC), patient, NOW)
    assert decision.rule == "masked-document"
    assert DOC in decision.facts.values() or any("mask" in key for key in decision.facts)
