"""`coffre journal …` as an auditor runs it, on a real installation."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from clihelpers import assert_one_sentence_error, ok, run
from coffre.journal import Verifier, verify_consistency, verify_inclusion
from factories import ndjson, patient


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ok(run(home, "init"))
    ok(run(home, "organisations", "add", "Cabinet Roux", "--country", "FR"))
    people = [patient(family=f"Famille{i}", email=f"f{i}@example.org") for i in range(20)]
    ok(run(home, "patients", "import", str(ndjson(tmp_path / "in.ndjson", people))))
    return home


def test_every_command_leaves_a_signed_checkpoint_outside(home: Path):
    latest = (home / "checkpoints" / "latest").read_text()
    vkey = ok(run(home, "journal", "key")).strip()
    checkpoint = Verifier.from_vkey(vkey).open(latest)
    # The organisation added, 20 patients created and the import itself.
    assert checkpoint.size == 22
    printed = ok(run(home, "journal", "checkpoint"))
    assert Verifier.from_vkey(vkey).open(printed).size == 22


def test_a_proof_checks_out_with_nothing_but_the_public_key(home: Path):
    vkey = ok(run(home, "journal", "key")).strip()
    proof = json.loads(ok(run(home, "journal", "proof", "--entry", "7")))
    checkpoint = Verifier.from_vkey(vkey).open(proof["checkpoint"])
    entry = base64.b64decode(proof["entry"])
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    assert base64.b64decode(proof["leaf_hash"]) == leaf
    assert json.loads(entry)["seq"] == 7
    path = [base64.b64decode(h) for h in proof["audit_path"]]
    assert verify_inclusion(7, checkpoint.size, leaf, path, checkpoint.root)
    assert not verify_inclusion(8, checkpoint.size, leaf, path, checkpoint.root)


def test_a_consistency_proof_links_two_checkpoints(home: Path):
    old = json.loads(ok(run(home, "journal", "proof", "--entry", "0")))
    ok(run(home, "patients", "find", "--email", "f3@example.org"))
    proof = json.loads(ok(run(home, "journal", "consistency", "--from", str(old["tree_size"]))))
    assert proof["new_size"] > proof["old_size"] == old["tree_size"]
    assert proof["old_root"] == old["root_hash"]
    assert verify_consistency(
        proof["old_size"],
        proof["new_size"],
        base64.b64decode(proof["old_root"]),
        base64.b64decode(proof["new_root"]),
        [base64.b64decode(h) for h in proof["proof"]],
    )


def test_verify_passes_then_narrows_down_the_tampered_entry(home: Path):
    assert "The journal verifies: 22 entries" in ok(run(home, "journal", "verify"))
    with sqlite3.connect(home / "coffre.db") as conn:
        data = conn.execute("SELECT entry FROM journal_entries WHERE seq = 4").fetchone()[0]
        conn.execute(
            "UPDATE journal_entries SET entry = ? WHERE seq = 4",
            (data.replace(b'"success"', b'"failed"'),),
        )
    message = assert_one_sentence_error(run(home, "journal", "verify"))
    # No tile is complete yet, so no stored hash names entry 4; the checkpoints published
    # after the organisation was added (1 entry) and after the import (22) narrow it down.
    assert "does not match its signed checkpoint, though that of the first 1 does" in message
    assert message.endswith("one of entries 1 to 21 was changed, removed or reordered.")


def test_verify_catches_a_truncation_with_the_outside_checkpoint(home: Path):
    with sqlite3.connect(home / "coffre.db") as conn:
        conn.execute("DELETE FROM journal_patients WHERE seq >= 18")
        conn.execute("DELETE FROM journal_entries WHERE seq >= 18")
        conn.execute("UPDATE journal_head SET size = 18")
        conn.execute("DELETE FROM journal_checkpoints")
    message = assert_one_sentence_error(run(home, "journal", "verify"))
    assert "covers 22 entries but the journal holds 18" in message


def test_history_shows_who_read_a_patient_and_is_itself_journaled(home: Path):
    [patient_id] = ok(run(home, "patients", "find", "--email", "f5@example.org")).split()
    page = json.loads(ok(run(home, "journal", "history", "--patient", patient_id, "--json")))
    actions = [item["action"] for item in page["items"]]
    assert actions == ["records:patient:search", "records:patient:create"]  # newest first
    assert page["items"][0]["justification"]
    again = json.loads(
        ok(run(home, "journal", "history", "--patient", patient_id, "--json", "--limit", "1"))
    )
    assert again["items"][0]["action"] == "journal:history:read"
    assert again["next_before"] == again["items"][0]["seq"]
    table = ok(run(home, "journal", "history", "--patient", patient_id))
    assert "history:read" in table
    assert "4 of 4 entries" in table


def test_export_writes_valid_auditevents_and_safe_csv(home: Path, tmp_path: Path):
    from fhir.resources.R4B.auditevent import AuditEvent

    [patient_id] = ok(run(home, "patients", "find", "--email", "f9@example.org")).split()
    target = tmp_path / "audit.ndjson"
    ok(
        run(
            home,
            "journal",
            "export",
            "--format",
            "auditevent",
            "--patient",
            patient_id,
            "-o",
            str(target),
        )
    )
    events = [json.loads(line) for line in target.read_text().splitlines()]
    for event in events:
        AuditEvent.model_validate(event)
    # The export's own entry is among them (it names the patient), its query an entity
    # with no `what`.
    patients = {e.get("what", {}).get("reference") for ev in events for e in ev["entity"]}
    assert any("query" in e for e in events[-1]["entity"])
    assert f"Patient/{patient_id}" in patients
    csv_text = ok(run(home, "journal", "export", "--format", "csv", "--since", "2000-01-01"))
    assert csv_text.splitlines()[0].startswith("seq,time,actor_kind")
    assert len(csv_text.splitlines()) > 22
    message = assert_one_sentence_error(
        run(home, "journal", "export", "--format", "csv", "--since", "yesterday")
    )
    assert "--since" in message
    history = json.loads(ok(run(home, "journal", "history", "--patient", patient_id, "--json")))
    assert history["items"][0]["action"] == "journal:log:export"  # the export was journaled


def test_exporting_to_a_closed_pipe_stops_quietly(home: Path):
    import subprocess
    import sys

    env = {"COFFRE_HOME": str(home), "PATH": "/usr/bin:/bin"}
    shell = f"{sys.executable} -m coffre journal export --format csv | head -1"
    result = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.stdout.startswith("seq,")
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr


def test_the_export_bar_ends_at_the_number_of_entries_exported(home: Path):
    import os
    import re
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    # A terminal as rich sees one: the bar is drawn on standard error.
    env.update(COFFRE_HOME=str(home), FORCE_COLOR="1", TTY_INTERACTIVE="0", COLUMNS="100")
    result = subprocess.run(
        [sys.executable, "-m", "coffre", "journal", "export", "--format", "csv"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", result.stderr)
    [count] = re.findall(r"Exported (\d+) journal entries", screen)
    assert int(count) == len(result.stdout.splitlines()) - 1 > 20
    assert re.findall(r"(\d+)/(\d+)", screen)[-1] == (count, count)


def test_a_forged_outside_checkpoint_is_one_sentence(home: Path):
    latest = max((home / "checkpoints").glob("checkpoint-*"))  # the one verify reads
    lines = latest.read_text().split("\n")
    lines[2] = "A" * 43 + "="  # another root, the same signature
    latest.write_text("\n".join(lines))
    message = assert_one_sentence_error(run(home, "journal", "verify"))
    assert message.endswith("forged or damaged signature.") and ".." not in message
