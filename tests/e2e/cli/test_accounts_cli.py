"""`coffre accounts`: the password policy at the door, suspensions from the command line."""

from __future__ import annotations

from clihelpers import assert_one_sentence_error, ok, run


def test_accounts_are_added_with_a_good_password_and_suspended(tmp_path):
    home = tmp_path / "home"
    ok(run(home, "init"))
    org = ok(run(home, "organisations", "add", "Cabinet du Port")).strip()
    add = ("accounts", "add", org, "dr.port", "--role", "practitioner", "--name", "Dr Port")
    weak = run(home, *add, "--password-stdin", stdin="password1234\n")
    assert "most common" in assert_one_sentence_error(weak, 2)
    account_id = ok(
        run(
            home,
            *add,
            "--email",
            "port@cabinet.example",
            "--password-stdin",
            stdin="violet kettle orbit 1968\n",
        )
    )
    assert len(account_id.strip()) == 36
    assert "Suspended" in ok(run(home, "accounts", "suspend", "dr.port", "--reason", "alert 12"))
    assert ok(run(home, "accounts", "resume", "dr.port")).strip() == "Resumed."
    history = ok(run(home, "journal", "export", "--format", "csv"))
    assert "identity:account:suspend" in history and "identity:account:resume" in history
    assert "alert 12" not in history
    missing = run(home, "accounts", "end-session", "00112233", "--reason", "x")
    assert_one_sentence_error(missing, 1)
