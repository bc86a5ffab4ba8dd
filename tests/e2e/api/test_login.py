"""`POST /auth/login`: a person's tools trade the password and TOTP code for a personal
access token the API accepts; every refusal a problem, in the pages' sign-in limits."""

from __future__ import annotations

import time

import pyotp
import pytest

from apicalls import bearer
from coffre import signin
from coffre.identity import mfa
from factories import journal_records

pytestmark = pytest.mark.anyio
PASSWORD = "a long passphrase 42"  # careworld's accounts


def with_totp(coffre, username: str) -> str:  # type: ignore[no-untyped-def]
    """Give the account a TOTP app; return its secret."""
    ctx = coffre.signin()
    step = signin.sign_in(coffre.uow(), ctx, username, PASSWORD, "192.0.2.9")
    secret = mfa.new_totp_secret()
    signin.set_up_totp(coffre.uow(), ctx, step.token, secret, pyotp.TOTP(secret).now())
    return secret


async def test_a_practitioner_signs_in_for_a_token_and_reads_a_patient(client, coffre, world):
    secret = with_totp(coffre, "dr.martin")
    code = pyotp.TOTP(secret).at(time.time() + 30)  # the setup used the current step
    answer = await client.post(
        "/auth/login", data={"username": "dr.martin", "password": PASSWORD, "code": code}
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "Bearer",
        3600,
        "user/*.cruds",
    )
    read = await client.get(
        f"/fhir/Patient/{world.patient_id}", headers=bearer(body["access_token"])
    )
    assert read.status_code == 200
    actions = [r.action for r in journal_records(coffre)[-6:]]
    assert "identity:token:create" in actions and "identity:session:logout" in actions


async def test_a_wrong_code_or_password_is_a_problem_and_no_token(client, coffre, world):
    with_totp(coffre, "dr.martin")
    wrong_code = await client.post(
        "/auth/login", data={"username": "dr.martin", "password": PASSWORD, "code": "000000"}
    )
    assert wrong_code.status_code == 401
    assert wrong_code.headers["content-type"] == "application/problem+json"
    assert "access_token" not in wrong_code.text
    answers = [
        await client.post("/auth/login", data={"username": name, "password": "not the one"})
        for name in ("dr.martin", "nobody.here")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    # A wrong password and an unknown username get the same answer.
    assert answers[0].json() == answers[1].json()


async def test_an_account_without_its_second_factor_is_sent_to_the_pages(client, world):
    refused = await client.post(
        "/auth/login", data={"username": "dr.bernard", "password": PASSWORD}
    )
    assert refused.status_code == 403
    assert "Set up a second factor" in refused.json()["detail"]


async def test_a_patient_without_second_factor_reads_their_own_history(client, world):
    answer = await client.post("/auth/login", data={"username": "patient.hl", "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    history = await client.get(
        f"/fhir/AuditEvent?patient={world.patient_id}",
        headers=bearer(answer.json()["access_token"]),
    )
    assert history.status_code == 200
    assert history.json()["entry"]


@pytest.mark.parametrize(
    ("send", "status"),
    [
        ({"json": {"username": "x", "password": "y"}}, 415),
        ({"data": {"username": "dr.martin"}}, 400),
        (
            {
                "content": b"username=a&username=b&password=c",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
        ),
    ],
    ids=["json", "no-password", "repeated"],
)
async def test_malformed_requests_are_problems(client, world, send, status):
    answer = await client.post("/auth/login", **send)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
