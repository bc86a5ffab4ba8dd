"""Signing in through the web pages: `__Host-` cookies, CSRF tokens, the second factor, in
three languages, without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pyotp
import pytest

from coffre import identity
from coffre.identity import NewAccount, OrganisationKind
from webpages import csrf, pages_client

pytestmark = pytest.mark.anyio
PASSWORD = "violet kettle orbit 1968"


@pytest.fixture
async def client(sqlite_coffre):  # type: ignore[no-untyped-def]
    with sqlite_coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        identity.create_accounts(
            uow,
            [NewAccount(org, "dr.martin", PASSWORD, "practitioner", "Dr Anne Martin", "physician")],
        )
        uow.commit()
    async with pages_client(sqlite_coffre) as client:
        yield client


def field(page: httpx.Response, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def signed_in(client: httpx.AsyncClient) -> httpx.Response:
    """Sign dr.martin in and set up TOTP through the pages; return the recovery page."""
    form = await client.get("/signin")
    step = await client.post(
        "/signin", data={"username": "dr.martin", "password": PASSWORD, "csrf": csrf(form)}
    )
    assert step.status_code == 303 and step.headers["location"].startswith("/signin/set-up")
    setup = await client.get("/signin/set-up")
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', setup.text).group(1)
    code = pyotp.TOTP(secret.replace(" ", "")).at(datetime.now(UTC))
    return await client.post(
        "/signin/set-up",
        data={"code": code, "sealed": field(setup, "sealed"), "csrf": csrf(setup)},
    )


async def test_the_session_cookie_is_host_only_secure_httponly_strict(client):
    form = await client.get("/signin")
    assert form.status_code == 200
    cookie = form.headers["set-cookie"]
    assert cookie.startswith("__Host-coffre-form=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "domain" not in cookie.lower()
    step = await client.post(
        "/signin", data={"username": "dr.martin", "password": PASSWORD, "csrf": csrf(form)}
    )
    session_cookie = next(
        c for c in step.headers.get_list("set-cookie") if c.startswith("__Host-coffre-session=")
    )
    assert "secure" in session_cookie.lower() and "httponly" in session_cookie.lower()


async def test_a_form_without_its_token_or_from_elsewhere_is_refused(client):
    form = await client.get("/signin")
    data = {"username": "dr.martin", "password": PASSWORD}
    assert (await client.post("/signin", data={**data, "csrf": "forged"})).status_code == 403
    elsewhere = await client.post(
        "/signin", data={**data, "csrf": csrf(form)}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    client.cookies.clear()
    assert (await client.post("/signin", data={**data, "csrf": csrf(form)})).status_code == 403


async def test_a_wrong_password_and_an_unknown_user_read_the_same(client):
    answers = []
    for username in ("dr.martin", "nobody"):
        form = await client.get("/signin?lang=fr")
        answer = await client.post(
            "/signin",
            data={"username": username, "password": "wrong", "csrf": csrf(form), "lang": "fr"},
        )
        assert answer.status_code == 401
        answers.append(answer.text.replace(f'value="{username}"', ""))
    assert answers[0] == answers[1]
    assert "Identifiant ou mot de passe incorrect." in answers[0]


async def test_signing_in_sets_up_a_second_factor_then_shows_the_account(client):
    recovery = await signed_in(client)
    assert recovery.status_code == 200
    assert (
        len(re.findall(r"<li>[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}</li>", recovery.text))
        == 10
    )
    account = await client.get("/account?lang=nl")
    assert account.status_code == 200
    assert "Aangemeld als" in account.text and "Dr Anne Martin" in account.text
    assert "198.51.100.7" in account.text
    out = await client.post("/signout", data={"csrf": csrf(account)})
    assert out.status_code == 303
    after = await client.get("/account")
    assert after.status_code == 303 and after.headers["location"] == "/signin"


async def test_a_second_sign_in_asks_for_the_code(client):
    await signed_in(client)
    client.cookies.clear()
    form = await client.get("/signin")
    step = await client.post(
        "/signin", data={"username": "dr.martin", "password": PASSWORD, "csrf": csrf(form)}
    )
    assert step.headers["location"].startswith("/signin/second-factor")
    assert (await client.get("/account")).headers["location"] == "/signin/second-factor"
    page = await client.get("/signin/second-factor")
    wrong = await client.post("/signin/second-factor", data={"code": "000000", "csrf": csrf(page)})
    assert wrong.status_code == 401 and "accepted once" in wrong.text


async def test_the_sealed_set_up_key_is_bound_to_its_session(client):
    form = await client.get("/signin")
    await client.post(
        "/signin", data={"username": "dr.martin", "password": PASSWORD, "csrf": csrf(form)}
    )
    setup = await client.get("/signin/set-up")
    tampered = field(setup, "sealed")[:-4] + "AAAA"
    answer = await client.post(
        "/signin/set-up", data={"code": "123456", "sealed": tampered, "csrf": csrf(setup)}
    )
    assert answer.status_code == 403
