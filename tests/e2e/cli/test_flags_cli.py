"""`coffre patients flag` and `coffre accounts personal`: a record flagged and journaled, a
professional's own family name and address kept as digests, errors in one sentence."""

from __future__ import annotations

from clihelpers import assert_one_sentence_error, ok, run
from factories import ndjson, patient


def test_a_record_is_flagged_and_a_professionals_name_is_kept_as_digests(tmp_path):
    home = tmp_path / "home"
    ok(run(home, "init"))
    org = ok(run(home, "organisations", "add", "Cabinet du Port")).strip()
    people = ndjson(tmp_path / "p.ndjson", [patient(family="Lefèvre", birth_date="1970-01-02")])
    ok(run(home, "patients", "import", str(people), "--organisation", org))
    [patient_id] = ok(
        run(home, "patients", "find", "--family", "Lefèvre", "--birth-date", "1970-01-02")
    ).split()

    flagged = ok(run(home, "patients", "flag", patient_id, "vip"))
    assert "flagged vip" in flagged
    again = assert_one_sentence_error(run(home, "patients", "flag", patient_id, "vip"), 1)
    assert "already flagged vip" in again

    add = ("accounts", "add", org, "dr.port", "--role", "practitioner", "--name", "Dr Port")
    ok(
        run(
            home,
            *add,
            "--family",
            "Lefèvre",
            "--address",
            "12 rue des Lilas, 69003 Lyon",
            "--password-stdin",
            stdin="violet kettle orbit 1968\n",
        )
    )
    bad = run(home, "accounts", "personal", "dr.port", "--family", "Lefèvre", "--address", "Lyon")
    assert "POSTCODE" in assert_one_sentence_error(bad, 1)
    assert "Kept the digests" in ok(run(home, "accounts", "personal", "dr.port", "--family", "Roy"))

    history = ok(run(home, "journal", "export", "--format", "csv"))
    assert "records:flag:update" in history
    # The account added and its digests kept are journaled, by ids only.
    assert "identity:account:create" in history and history.count("identity:account:update") == 1
    assert "Roy" not in history and "Dr Port" not in history
    assert "Lefèvre" not in history and "Lilas" not in history
