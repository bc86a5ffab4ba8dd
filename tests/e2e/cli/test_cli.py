"""The `coffre` command as an operator runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from clihelpers import assert_one_sentence_error, ok, run
from coffre import store
from coffre.records import NIR_SYSTEM
from factories import ndjson, nir, patient


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ok(run(home, "init"))
    ok(run(home, "organisations", "add", "Cabinet Mercier", "--country", "FR"))
    return home


def test_import_find_export_erase_round_trip(home: Path, tmp_path: Path):
    number = nir(sex=1, year=72, month=11, serial=901)
    people = [
        patient(
            family="Lacombe", given="Yves", email="yves@example.org", national=(NIR_SYSTEM, number)
        ),
        patient(family="Ferrand", given="Odile"),
    ]
    source = ndjson(tmp_path / "in.ndjson", people)
    assert "Imported 2 patients" in ok(run(home, "patients", "import", str(source)))
    [patient_id] = ok(run(home, "patients", "find", "--nir", number)).split()
    assert ok(run(home, "patients", "find", "--email", "YVES@example.org")).split() == [patient_id]
    assert ok(
        run(home, "patients", "find", "--family", "lacombe", "--birth-date", people[0]["birthDate"])
    ).split() == [patient_id]
    target = tmp_path / "export.json"
    ok(
        run(
            home, "patients", "export", patient_id, "--purpose", "subject-access", "-o", str(target)
        )
    )
    assert json.loads(target.read_text())["entry"][0]["resource"]["name"][0]["family"] == "Lacombe"
    assert target.stat().st_mode & 0o777 == 0o600
    refused = run(home, "patients", "erase", patient_id, "--reason", "subject-request")
    assert "confirmation" in assert_one_sentence_error(refused, code=2)
    assert "Erased patient" in ok(
        run(home, "patients", "erase", patient_id, "--reason", "subject-request", "--yes")
    )
    gone = run(
        home,
        "patients",
        "export",
        patient_id,
        "--purpose",
        "subject-access",
        "-o",
        str(tmp_path / "again.json"),
    )
    assert "was erased" in assert_one_sentence_error(gone)
    assert not (tmp_path / "again.json").exists()
    assert ok(run(home, "patients", "find", "--nir", number)).strip() == ""


def test_a_bad_line_is_named_and_nothing_is_imported(home: Path, tmp_path: Path):
    source = ndjson(tmp_path / "bad.ndjson", [patient(), patient(), '{"resourceType": "Patient"'])
    result = run(home, "patients", "import", str(source))
    assert "nothing was imported" in assert_one_sentence_error(result)
    assert "line 3: not valid JSON" in result.stderr
    assert ok(run(home, "patients", "find", "--email", "person1@example.org")).strip() == ""


def test_errors_are_one_sentence_without_traceback(home: Path, tmp_path: Path):
    assert "denied" in assert_one_sentence_error(
        run(home, "patients", "export", "x", "--purpose", "care"), code=3
    )
    assert "no patient" in assert_one_sentence_error(
        run(
            home,
            "patients",
            "export",
            "nobody",
            "--purpose",
            "subject-access",
            "-o",
            str(tmp_path / "x.json"),
        )
    )
    assert "exactly one of" in assert_one_sentence_error(run(home, "patients", "find"))
    assert "There is no file" in assert_one_sentence_error(
        run(home, "patients", "import", str(tmp_path / "missing.ndjson")), code=2
    )
    assert "already initialised" in assert_one_sentence_error(run(home, "init"))
    uninitialised = assert_one_sentence_error(
        run(tmp_path / "empty", "patients", "find", "--email", "a@example.org")
    )
    assert "coffre init" in uninitialised


def test_a_key_file_readable_by_others_is_refused(home: Path):
    key_file = home / "keys" / "kek.json"
    assert key_file.stat().st_mode & 0o777 == 0o600
    before = key_file.read_bytes()
    key_file.chmod(0o644)
    result = run(home, "patients", "find", "--email", "a@example.org")
    message = assert_one_sentence_error(result)
    assert "readable by other users" in message and "chmod 600" in message
    assert key_file.read_bytes() == before  # refused, not rewritten
    for kek in json.loads(before)["keys"].values():  # and no key material printed
        assert kek not in result.stdout + result.stderr


def test_keys_rotate_rewraps_and_data_stays_readable(home: Path, tmp_path: Path):
    source = ndjson(tmp_path / "in.ndjson", [patient(family="Vidal", email="vidal@example.org")])
    ok(run(home, "patients", "import", str(source)))
    before = json.loads((home / "keys" / "kek.json").read_text())["active"]
    assert "Finished the rotation: 1 data key re-wrapped" in ok(run(home, "keys", "rotate"))
    after = json.loads((home / "keys" / "kek.json").read_text())["active"]
    assert after != before
    [patient_id] = ok(run(home, "patients", "find", "--email", "vidal@example.org")).split()
    ok(
        run(
            home,
            "patients",
            "export",
            patient_id,
            "--purpose",
            "subject-access",
            "-o",
            str(tmp_path / "e.json"),
        )
    )


def test_demo_mode_key_is_refused_outside_demo_mode(tmp_path: Path):
    home = tmp_path / "demo-home"
    ok(run(home, "init", "--environment", "demo"))
    config = home / "config.toml"
    config.write_text(config.read_text().replace('"demo"', '"production"'))
    message = assert_one_sentence_error(run(home, "patients", "find", "--email", "a@example.org"))
    assert "demo key" in message


def test_demo_refuses_too_few_patients_in_one_sentence(tmp_path: Path):
    home = tmp_path / "demo-home"
    ok(run(home, "init", "--environment", "demo"))
    message = assert_one_sentence_error(run(home, "demo", "--patients", "1"), code=2)
    assert "--patients must be from 8" in message
    assert not (home / "demo-credentials.json").exists()
    # The refusal seeded nothing, and the smallest demo its cases need still seeds.
    assert "8 patients" in ok(run(home, "demo", "--patients", "8"))


def _on_terminal(home: Path, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run coffre with a pseudo-terminal as stdin and type `answer` at its prompt."""
    import pty
    import select

    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    env["COFFRE_HOME"] = str(home)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "coffre", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            process.kill()
            raise AssertionError(f"no prompt: {seen!r}")
        try:
            chunk = os.read(leader, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(leader, answer)
            answered = True
    os.close(leader)
    return process.wait(timeout=60), seen.decode(errors="replace")


def test_erase_asks_for_confirmation_on_a_terminal(home: Path, tmp_path: Path):
    source = ndjson(tmp_path / "in.ndjson", [patient(family="Collin", email="collin@example.org")])
    ok(run(home, "patients", "import", str(source)))
    [patient_id] = ok(run(home, "patients", "find", "--email", "collin@example.org")).split()
    code, screen = _on_terminal(
        home, ["patients", "erase", patient_id, "--reason", "duplicate"], b"n\n"
    )
    assert code != 0 and "Erase patient" in screen
    assert ok(run(home, "patients", "find", "--email", "collin@example.org")).split() == [
        patient_id
    ]
    code, screen = _on_terminal(
        home, ["patients", "erase", patient_id, "--reason", "duplicate"], b"y\n"
    )
    assert code == 0 and "Erased patient" in screen
    assert ok(run(home, "patients", "find", "--email", "collin@example.org")).strip() == ""


def test_the_cli_runs_on_the_configured_database(database_url: str, tmp_path: Path):
    home = tmp_path / "pg-home"
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "coffre", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")},
            "COFFRE_HOME": str(home),
            "COFFRE_DATABASE_URL": database_url,
        },
    )
    ok(env_run("init"))
    ok(env_run("organisations", "add", "Polyclinique", "--country", "BE"))
    source = ndjson(tmp_path / "in.ndjson", [patient(family="Maes", email="maes@example.org")])
    ok(env_run("patients", "import", str(source)))
    assert len(ok(env_run("patients", "find", "--email", "maes@example.org")).split()) == 1
    assert not (home / "coffre.db").exists() or database_url.startswith("sqlite")


def test_debug_shows_the_traceback_that_errors_hide(home: Path, tmp_path: Path):
    args = [
        "patients",
        "export",
        "nobody",
        "--purpose",
        "subject-access",
        "-o",
        str(tmp_path / "x.json"),
    ]
    assert "Traceback" not in run(home, *args).stderr
    shown = run(home, "--debug", *args)
    assert shown.returncode == 1
    assert "Traceback" in shown.stderr and "PatientNotFound" in shown.stderr


def test_migrate_runs_what_is_pending_and_says_so(home: Path):
    engine = store.make_engine(f"sqlite:///{home / 'coffre.db'}")
    try:
        store.downgrade(engine, "0016")
    finally:
        engine.dispose()
    served = run(home, "journal", "verify")
    assert "revision 0016; run 'coffre migrate' first" in assert_one_sentence_error(served)
    head = store.head_revision()
    count = int(head) - 16
    said = ok(run(home, "migrate"))
    assert f"revision {head} ({count} migrations run)" in said
    assert ok(run(home, "migrate")).strip() == (
        f"The database schema is at revision {head}; nothing to migrate."
    )
    assert "The journal verifies" in ok(run(home, "journal", "verify"))
    with closing(sqlite3.connect(home / "coffre.db")) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9042'")
    for args in (("migrate",), ("journal", "verify")):
        refused = assert_one_sentence_error(run(home, *args))
        assert "revision 9042, which this version of Coffre does not know" in refused
