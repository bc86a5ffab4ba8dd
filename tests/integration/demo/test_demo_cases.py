"""Every case the demo writes to demo-cases.json turns out as it says it will."""

from __future__ import annotations

import io
import json
import shlex

import pytest

from clihelpers import ok, run
from coffre import identity, records, watch
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import initialise, open_coffre
from coffre.config import Environment
from coffre.demo.seed import seed
from coffre.identity import OrganisationKind
from coffre.watch import worker
from coffre.watch.profiles import Profiles


@pytest.fixture(scope="module")
def demo(tmp_path_factory):  # type: ignore[no-untyped-def]
    from coffre.config import load_settings

    home = tmp_path_factory.mktemp("demo-cases")
    settings = load_settings(home, env={}).with_overrides(environment=Environment.DEMO)
    initialise(settings)
    coffre = open_coffre(settings)
    summary = seed(coffre, patients=40)
    cases = json.loads(summary.cases_file.read_text(encoding="utf-8"))
    yield coffre, cases, home
    coffre.close()


def _attempt(coffre, case):  # type: ignore[no-untyped-def]
    words = shlex.split(case["try"])
    user = words[words.index("--as") + 1]
    with coffre.reader() as uow:
        actor = identity.actor_for(uow, user, source="test")
    purpose = (
        Purpose.CONTRACT
        if actor.organisation_kind is OrganisationKind.SUBCONTRACTOR
        else Purpose.CARE
    )
    command = words[1:3]
    if command == ["care", "record"]:
        return records.read_record(coffre.uow(), coffre.vault, actor, words[3], purpose)
    if command == ["care", "document"]:
        return records.read_document(
            coffre.uow(), coffre.vault, actor, words[3], purpose, io.BytesIO()
        )
    assert command == ["insurers", "eligibility"]
    return records.check_eligibility(coffre.uow(), coffre.vault, actor, words[3])


def test_every_case_turns_out_as_announced(demo):
    coffre, cases, _ = demo
    assert len(cases) >= 9
    alerted = set()
    for case in cases:
        if case["expect"].startswith("allowed"):
            assert _attempt(coffre, case), case["case"]
            _, _, rule = case["expect"].partition("; alert ")
            alerted |= {rule} - {""}
        else:
            rule = case["expect"].removeprefix("denied: ")
            with pytest.raises(AccessDenied) as denied:
                _attempt(coffre, case)
            assert denied.value.rule == rule, case["case"]
    # The watch, with its shipped rules, raises the alerts the cases announce.
    assert alerted == {"flagged_record", "relative_record"}
    detector = watch.Detector(watch.shipped_rules(), id_field="seq", time_field="time")
    profiles = Profiles()
    while worker.run_once(coffre, detector, profiles=profiles):
        pass
    with coffre.reader() as uow:
        raised = {alert.rule_ref for alert in watch.list_alerts(uow)}
    assert raised == alerted


def test_the_excluded_nurse_is_told_nothing_more(demo):
    _, cases, home = demo
    [excluded] = [c for c in cases if c["expect"] == "denied: patient-exclusion"]
    result = run(home, *shlex.split(excluded["try"])[1:])
    assert result.returncode == 3
    assert result.stderr.strip().splitlines()[-1] == "Error: Not allowed."


def test_a_case_runs_as_written_on_the_command_line(demo):
    _, cases, home = demo
    output = ok(run(home, *shlex.split(cases[0]["try"])[1:]))
    assert "Entries" in output
