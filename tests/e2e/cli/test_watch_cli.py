"""`coffre watch`: following the journal of a demo installation with a rule file, the alert
it raises, the account it suspends, and the operator acknowledging and closing the alert
(real processes)."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import pytest

from clihelpers import assert_one_sentence_error, ok, run
from coffre import identity, records
from coffre.access import AccessDenied, Purpose
from coffre.bootstrap import open_coffre
from coffre.config import load_settings
from coffre.identity import NewAccount, OrganisationKind
from coffre.watch import follow
from watchrules import PROBING

PASSWORD = "violet kettle orbit 1968"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("watch") / "home"
    ok(run(home, "init", "--environment", "demo"))
    ok(run(home, "demo", "--patients", "20"))
    return home


def _prober_reads_three_records(home: Path) -> str:
    """A physician of the demo clinic with no relationship tries three records; return the
    account's id."""
    coffre = open_coffre(load_settings(home, env={}))
    try:
        with coffre.uow() as uow:
            clinic = next(
                o.id
                for o in identity.list_organisations(uow)
                if o.kind is OrganisationKind.CARE_PROVIDER
            )
            account = NewAccount(
                clinic, "dr.curieux", PASSWORD, "practitioner", "Dr Curieux", "physician"
            )
            identity.create_accounts(uow, [account])
            uow.commit()
        with coffre.reader() as uow:
            prober = identity.actor_for(uow, "dr.curieux", source="203.0.113.5")
        for _ in range(3):
            with contextlib.suppress(AccessDenied):
                records.read_patient(
                    coffre.uow(), coffre.vault, prober, str(uuid.uuid4()), Purpose.CARE
                )
    finally:
        coffre.close()
    return prober.id


def test_the_watch_raises_one_alert_suspends_the_prober_and_the_operator_closes_it(
    home: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "probing.yml"
    rules.write_text(PROBING)
    # The demo's ordinary work raises nothing under the shipped rules.
    assert "0 new alerts are open." in ok(run(home, "watch", "run", "--once"))
    prober = _prober_reads_three_records(home)

    said = ok(run(home, "watch", "run", str(rules), "--no-shipped", "--once"))
    assert "1 new alerts are open." in said
    [alert] = json.loads(ok(run(home, "watch", "alerts", "--json")))
    assert (alert["group"], alert["state"], len(alert["entries"])) == (prober, "open", 3)
    coffre = open_coffre(load_settings(home, env={}))
    try:
        with coffre.reader() as uow:
            assert identity.is_suspended(uow, prober)
    finally:
        coffre.close()

    # Again from the cursor: nothing new, no second alert.
    again = ok(run(home, "watch", "run", str(rules), "--no-shipped", "--once"))
    assert "0 new alerts are open." in again
    assert "is acknowledged." in ok(
        run(home, "watch", "alert", alert["id"], "--note", "asking the clinic")
    )
    # The operator lifts the suspension: once; a second time finds nothing suspended.
    assert f"Resumed: account {prober}." in ok(run(home, "watch", "resume", alert["id"]))
    assert "Nothing behind alert" in ok(run(home, "watch", "resume", alert["id"]))
    closing = "Mistyped numbers;\nthe physician was warned."
    closed = run(
        home, "watch", "alert", alert["id"], "--state", "closed", "--note", "-", stdin=closing
    )
    assert "is closed." in ok(closed)
    notes = ok(run(home, "watch", "notes", alert["id"]))
    assert "asking the clinic" in notes and closing in notes
    assert notes.index("(acknowledged)") < notes.index("(closed)")
    too_long = run(home, "watch", "alert", alert["id"], "--note", "x" * 2001)
    assert "at most 2,000 characters" in assert_one_sentence_error(too_long, too_long.returncode)
    assert json.loads(ok(run(home, "watch", "alerts", "--json", "--state", "open"))) == []
    closed_again = run(home, "watch", "alert", alert["id"], "--state", "closed")
    assert closed_again.returncode != 0
    assert "closed" in assert_one_sentence_error(closed_again, closed_again.returncode)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "title: x\nlogsource: {product: coffre}\ndetection: {s: {a|utf16: b}, condition: s}\n",
            "utf16",
        ),
        ("not: [valid", "rule"),
    ],
)
def test_a_bad_rule_file_is_refused_in_one_sentence(
    home: Path, tmp_path: Path, text: str, said: str
) -> None:
    rules = tmp_path / "bad.yml"
    rules.write_text(text)
    result = run(home, "watch", "run", str(rules), "--no-shipped", "--once")
    assert result.returncode != 0
    assert said in assert_one_sentence_error(result, result.returncode).lower()
    missing = run(home, "watch", "run", str(tmp_path / "none.yml"), "--once")
    assert missing.returncode != 0
    assert "cannot be read" in assert_one_sentence_error(missing, missing.returncode)


def test_watch_run_stops_at_once_while_another_process_follows(home: Path) -> None:
    coffre = open_coffre(load_settings(home, env={}))
    try:
        with coffre.uow() as uow:
            follow.claim(uow, "alerts", "server-host:4242")
            uow.commit()
        busy = run(home, "watch", "run", "--once")
        said = assert_one_sentence_error(busy, busy.returncode)
        assert "server-host:4242" in said and busy.returncode != 0
    finally:
        follow.release(coffre.uow(), "alerts", "server-host:4242")
        coffre.close()
    assert "new alerts are open." in ok(run(home, "watch", "run", "--once"))
