"""`coffre organisations`: every change to who may see patient data is journaled as the
local operator's, and a failure is one sentence that changes nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from clihelpers import assert_one_sentence_error, ok, run

MATRIX = 'format = "coffre-matrix/1"\n[nurse]\nread = ["identity", "contact"]\n'


def journal(home: Path) -> list[dict[str, str]]:
    """The journal's entries, but the exports that read it."""
    text = ok(run(home, "journal", "export", "--format", "csv"))
    rows = csv.DictReader(io.StringIO(text))
    return [row for row in rows if row["action"] != "journal:log:export"]


def test_each_change_is_journaled_as_the_operators(tmp_path: Path):
    home = tmp_path / "home"
    ok(run(home, "init"))
    clinic = ok(run(home, "organisations", "add", "Cabinet du Port")).strip()
    lab = ok(run(home, "organisations", "add", "Labo", "--kind", "subcontractor")).strip()
    add = ("accounts", "add", clinic, "dr.port", "--role", "practitioner", "--name", "Dr Port")
    doctor = ok(run(home, *add, "--password-stdin", stdin="violet kettle orbit 1968\n")).strip()
    matrix = tmp_path / "matrix.toml"
    matrix.write_text(MATRIX)
    assert "narrows the default" in ok(run(home, "organisations", "matrix", clinic, str(matrix)))
    assert "removed" in ok(run(home, "organisations", "matrix", clinic, "--clear"))
    team = ok(run(home, "organisations", "team", clinic, "Cardio", "--member", "dr.port"))
    contract = ok(run(home, "organisations", "contract", lab, clinic, "--read", "results")).strip()
    changed = run(home, "organisations", "members", team.strip(), "--remove", "dr.port")
    assert "0 added to the team, 1 removed from it." in ok(changed)
    assert "The contract ended at" in ok(run(home, "organisations", "end-contract", contract))

    rows = journal(home)
    assert [row["action"] for row in rows] == [
        "identity:organisation:create",
        "identity:organisation:create",
        "identity:account:create",
        "access:matrix:update",
        "access:matrix:update",
        "identity:team:create",
        "access:contract:create",
        "identity:team:update",
        "access:contract:update",
    ]
    assert {(row["actor_kind"], row["decision"], row["outcome"]) for row in rows} == {
        ("operator", "allow", "success")
    }
    text = repr(rows)
    for resource in (clinic, lab, doctor, team.strip(), contract):
        assert resource in text
    assert "Cabinet" not in text and "Cardio" not in text and "nurse" not in text
    assert "Dr Port" not in text


def test_a_failed_change_is_one_sentence_and_journals_nothing(tmp_path: Path):
    home = tmp_path / "home"
    ok(run(home, "init"))
    clinic = ok(run(home, "organisations", "add", "Cabinet du Port")).strip()
    before = journal(home)
    missing = run(home, "organisations", "team", clinic, "Cardio", "--member", "dr.nobody")
    assert assert_one_sentence_error(missing).endswith("There is no account 'dr.nobody'.")
    unknown = run(home, "organisations", "matrix", "no-such-org", "--clear")
    assert "There is no organisation with id no-such-org." in assert_one_sentence_error(unknown)
    country = run(home, "organisations", "add", "Cabinet", "--country", "FRA")
    assert "two-letter code" in assert_one_sentence_error(country)
    team = ok(run(home, "organisations", "team", clinic, "Cardio")).strip()
    before = journal(home)
    outsider = run(home, "organisations", "members", team, "--remove", "admin")
    assert "There is no account 'admin'" in assert_one_sentence_error(outsider)
    nothing = run(home, "organisations", "members", team)
    assert "--add" in assert_one_sentence_error(nothing, code=2)
    no_team = run(home, "organisations", "members", "no-such-team", "--add", "x")
    assert "There is no care team with id no-such-team." in assert_one_sentence_error(no_team)
    no_contract = run(home, "organisations", "end-contract", "no-such-contract")
    assert "There is no contract" in assert_one_sentence_error(no_contract)
    assert journal(home) == before
