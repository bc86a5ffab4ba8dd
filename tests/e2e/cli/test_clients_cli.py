"""`coffre clients` and `coffre tokens`: a machine client registered, listed and revoked; a
personal access token printed once and revoked (journaling: tests/integration/identity)."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from clihelpers import assert_one_sentence_error, ok, run


def test_clients_and_personal_tokens_from_the_command_line(tmp_path):
    home = tmp_path / "home"
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(
        json.dumps({"keys": [{**ECAlgorithm.to_jwk(public, as_dict=True), "kid": "k1"}]})
    )
    ok(run(home, "init"))
    org = ok(run(home, "organisations", "add", "Laboratoire Sud")).strip()
    add = ("clients", "add", org, "Lab feed", "--jwks", str(jwks), "--per-hour", "100")
    options = ("--scopes", "system/Patient.rs system/Observation.r", "--per-day", "1000")
    client_id = ok(run(home, *add, *options, "--expires", "2099-12-31")).strip()
    listed = ok(run(home, "clients", "list", org))
    assert client_id in listed and "active" in listed and "2100-01-01 00:00Z" in listed
    assert "system/Observation.r system/Patient.rs" in listed
    ok(
        run(
            home,
            *("accounts", "add", org, "robot", "--role", "staff", "--name", "Robot"),
            "--password-stdin",
            stdin="violet kettle orbit 1968\n",
        )
    )
    issue = ("tokens", "issue", "--user", "robot", "--scopes", "user/Patient.r")
    issued = run(home, *issue, "--expires", "1h", "--name", "nightly export")
    secret = ok(issued).strip()
    assert len(secret) >= 43 and "will not be shown again" in issued.stderr
    reference = issued.stderr.split("reference ")[1].split(",")[0]
    assert secret not in issued.stderr
    assert ok(run(home, "tokens", "revoke", reference)).strip() == "The token is revoked."
    assert ok(run(home, "clients", "revoke", client_id)).strip() == "The client is revoked."
    again = run(home, "clients", "revoke", client_id)
    assert "already revoked" in assert_one_sentence_error(again, 1)
