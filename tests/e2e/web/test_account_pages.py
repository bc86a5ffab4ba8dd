"""The password and passkey pages over ASGI: their refusals, each one sentence that loses
nothing, and the passkey ceremonies answered by a software authenticator."""

from __future__ import annotations

import base64
import html
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from coffre import identity, notify, signin
from coffre.identity import NewAccount, OrganisationKind, resets
from coffre.notify import Recipient
from softauthn import SoftAuthenticator
from webpages import csrf, pages_client

pytestmark = pytest.mark.anyio
PASSWORD = "violet kettle orbit 1968"
NEW_PASSWORD = "amber lantern quietly hums"
EMAIL = "helene.lefevre@example.org"
REFUSED = "This form has expired or did not come from this site."


@pytest.fixture
def people(sqlite_coffre):  # type: ignore[no-untyped-def]
    """A patient with an e-mail address (password alone), a patient without one, and a
    physician (who must set up a second factor)."""
    ctx = sqlite_coffre.signin()
    with sqlite_coffre.uow() as uow:
        org = identity.create_organisation(
            uow, "Clinique du Parc", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        patient, _, _ = identity.create_accounts(
            uow,
            [
                NewAccount(org, "helene.l", PASSWORD, "patient", "Hélène Lefèvre"),
                NewAccount(org, "no.address", PASSWORD, "patient", "Paul Sans"),
                NewAccount(org, "dr.martin", PASSWORD, "practitioner", "Anne Martin", "physician"),
            ],
        )
        resets.set_email(uow, ctx.box, patient, EMAIL)
        uow.commit()
    return {"patient": patient}


@pytest.fixture
async def client(sqlite_coffre, people):  # type: ignore[no-untyped-def]
    async with pages_client(sqlite_coffre) as client:
        yield client


def the_link(coffre, account_id: str) -> str:  # type: ignore[no-untyped-def]
    """The token of the newest reset link in the account's outbox."""
    with coffre.reader() as uow:
        newest = notify.list_notifications(uow, Recipient.ACCOUNT, account_id)[0]
    sealed = newest.params["link"].removeprefix("sealed:")
    box = coffre.signin().box
    return box.open(base64.urlsafe_b64decode(sealed), f"reset:{account_id}").decode()


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    form = await client.get("/signin")
    return await client.post(
        "/signin", data={"username": username, "password": password, "csrf": csrf(form)}
    )


async def signed_in_physician(client: httpx.AsyncClient) -> httpx.Response:
    """Sign dr.martin in, setting up TOTP through the pages; return the account page."""
    await sign_in(client, "dr.martin")
    setup = await client.get("/signin/set-up")
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', setup.text).group(1)
    sealed = re.search(r'name="sealed" value="([^"]+)"', setup.text).group(1)
    code = pyotp.TOTP(secret.replace(" ", "")).at(datetime.now(UTC))
    await client.post("/signin/set-up", data={"code": code, "sealed": sealed, "csrf": csrf(setup)})
    return await client.get("/account")


@pytest.mark.parametrize(
    "path", ["/account/password", "/account/passkeys/new", "/account/passkeys"]
)
async def test_an_account_form_without_its_token_or_from_elsewhere_is_refused(client, path):
    await sign_in(client, "helene.l")
    account = await client.get("/account")
    forged = await client.post(path, data={"csrf": "forged", "current": PASSWORD})
    assert forged.status_code == 403 and REFUSED in forged.text
    elsewhere = await client.post(
        path, data={"csrf": csrf(account)}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and REFUSED in elsewhere.text


@pytest.mark.parametrize("path", ["/signin/forgot", "/signin/reset"])
async def test_a_reset_form_without_its_token_is_refused(client, sqlite_coffre, path):
    await client.get("/signin/forgot")
    answer = await client.post(path, data={"csrf": "forged", "username": "helene.l"})
    assert answer.status_code == 403 and REFUSED in answer.text
    with sqlite_coffre.reader() as uow:
        assert notify.list_notifications(uow, Recipient.ACCOUNT) == []


async def test_a_wrong_current_password_is_refused_and_changes_nothing(client):
    await sign_in(client, "helene.l")
    form = await client.get("/account/password?lang=fr")
    data = {"current": "not it", "new": NEW_PASSWORD, "again": NEW_PASSWORD, "lang": "fr"}
    answer = await client.post("/account/password", data={**data, "csrf": csrf(form)})
    assert answer.status_code == 401
    assert "Votre mot de passe actuel n&#39;est pas le bon." in answer.text
    client.cookies.clear()
    assert (await sign_in(client, "helene.l")).status_code == 303


async def test_a_weak_or_mistyped_new_password_says_why(client):
    await sign_in(client, "helene.l")
    form = await client.get("/account/password")
    data = {"current": PASSWORD, "csrf": csrf(form)}
    mistyped = await client.post(
        "/account/password", data={**data, "new": NEW_PASSWORD, "again": NEW_PASSWORD + "s"}
    )
    assert mistyped.status_code == 400
    assert "The two new passwords are not the same." in mistyped.text
    weak = await client.post(
        "/account/password", data={**data, "new": "password1234", "again": "password1234"}
    )
    assert weak.status_code == 400
    assert "This password is one of the most common; choose another." in weak.text


async def test_a_changed_password_renews_the_session(client):
    await sign_in(client, "helene.l")
    before = client.cookies["__Host-coffre-session"]
    form = await client.get("/account/password")
    answer = await client.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD, "csrf": csrf(form)},
    )
    assert answer.status_code == 303 and "done=password" in answer.headers["location"]
    assert client.cookies["__Host-coffre-session"] != before
    account = await client.get(answer.headers["location"])
    assert "Your password was changed; your other sessions were ended." in account.text


async def test_asking_for_a_reset_answers_the_same_for_anyone(client, sqlite_coffre, people):
    answers = []
    for username in ("helene.l", "no.address", "nobody.here"):
        form = await client.get("/signin/forgot?lang=nl")
        answer = await client.post(
            "/signin/forgot", data={"username": username, "csrf": csrf(form), "lang": "nl"}
        )
        assert answer.status_code == 200
        answers.append(answer.text)
    assert answers[0] == answers[1] == answers[2]
    assert "Kijk uw e-mail na" in answers[0]
    with sqlite_coffre.reader() as uow:
        sent = notify.list_notifications(uow, Recipient.ACCOUNT)
    assert [n.recipient_id for n in sent] == [people["patient"]]


async def test_an_expired_or_used_reset_link_says_so_and_offers_a_new_one(
    client, sqlite_coffre, people
):
    ctx = sqlite_coffre.signin()
    long_ago = datetime.now(UTC) - timedelta(minutes=31)
    signin.request_password_reset(sqlite_coffre.uow(), ctx, "helene.l", "192.0.2.1", long_ago)
    expired = the_link(sqlite_coffre, people["patient"])
    form = await client.get(f"/signin/reset?token={expired}")
    assert form.status_code == 200
    answer = await client.post(
        "/signin/reset",
        data={"token": expired, "new": NEW_PASSWORD, "again": NEW_PASSWORD, "csrf": csrf(form)},
    )
    assert answer.status_code == 400
    assert "This reset link is not valid any more; ask for a new one." in answer.text
    assert 'href="/signin/forgot?lang=en"' in answer.text
    assert (await client.get("/signin/reset")).headers["location"].startswith("/signin/forgot")


async def test_a_refused_new_password_keeps_the_reset_link(client, sqlite_coffre, people):
    form = await client.get("/signin/forgot")
    await client.post("/signin/forgot", data={"username": "helene.l", "csrf": csrf(form)})
    token = the_link(sqlite_coffre, people["patient"])
    page = await client.get(f"/signin/reset?token={token}")
    data = {"token": token, "csrf": csrf(page)}
    weak = await client.post("/signin/reset", data={**data, "new": "short", "again": "short"})
    assert weak.status_code == 400
    assert "The password must be at least 8 characters long." in weak.text
    assert f'name="token" value="{token}"' in weak.text
    done = await client.post(
        "/signin/reset", data={**data, "new": NEW_PASSWORD, "again": NEW_PASSWORD}
    )
    assert done.status_code == 200 and "Your password was changed" in done.text
    client.cookies.clear()
    assert (await sign_in(client, "helene.l", NEW_PASSWORD)).status_code == 303


def passkey_options(page: httpx.Response) -> str:
    found = re.search(r'data-options="([^"]+)"', page.text)
    assert found is not None
    return html.unescape(found.group(1))


async def test_a_passkey_is_added_and_used_through_the_pages(client, sqlite_coffre):
    party = sqlite_coffre.relying_party()
    account = await signed_in_physician(client)
    assert "No passkey yet." in account.text
    ceremony = await client.post("/account/passkeys/new", data={"csrf": csrf(account)})
    assert ceremony.status_code == 200
    assert re.search(r"<form [^>]*data-passkey=\"create\"[^>]* hidden>", ceremony.text)
    assert "Adding a passkey needs JavaScript in your browser." in ceremony.text
    without = await client.post(
        "/account/passkeys", data={"csrf": csrf(ceremony), "name": "Phone", "credential": ""}
    )
    assert without.status_code == 400
    assert 'value="Phone"' in without.text  # the name typed is kept
    authenticator = SoftAuthenticator()
    credential = authenticator.create(passkey_options(without), origin=party.origin)
    added = await client.post(
        "/account/passkeys",
        data={"csrf": csrf(without), "name": "Phone", "credential": json.dumps(credential)},
    )
    assert added.status_code == 303 and "done=passkey" in added.headers["location"]
    listed = await client.get(added.headers["location"])
    assert "Your passkey was added." in listed.text and "<td>Phone</td>" in listed.text

    client.cookies.clear()
    await sign_in(client, "dr.martin")
    factor = await client.get("/signin/second-factor")
    assert '<script src="/static/passkeys.js" defer></script>' in factor.text
    assert re.search(r"<form [^>]*data-passkey=\"get\"[^>]* hidden>", factor.text)
    wrong_origin = authenticator.get(passkey_options(factor), origin="https://evil.example")
    refused = await client.post(
        "/signin/second-factor",
        data={"csrf": csrf(factor), "credential": json.dumps(wrong_origin)},
    )
    assert refused.status_code == 401
    assert "The passkey was not accepted; try again or use a code." in refused.text
    assertion = authenticator.get(passkey_options(refused), origin=party.origin)
    used = await client.post(
        "/signin/second-factor",
        data={"csrf": csrf(refused), "credential": json.dumps(assertion)},
    )
    assert used.status_code == 303 and used.headers["location"].startswith("/account")


async def test_pages_load_their_script_from_a_file_and_never_inline(client):
    script = await client.get("/static/passkeys.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "navigator.credentials.create" in script.text
    assert "script-src" not in script.headers["content-security-policy"]  # default-src 'self'
    account = await signed_in_physician(client)
    ceremony = await client.post("/account/passkeys/new", data={"csrf": csrf(account)})
    for page in (await client.get("/signin"), account, ceremony):
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []


async def test_adding_a_passkey_long_after_signing_in_asks_to_sign_in_again(client, sqlite_coffre):
    ctx = sqlite_coffre.signin()
    six_minutes_ago = datetime.now(UTC) - timedelta(minutes=6)
    step = signin.sign_in(
        sqlite_coffre.uow(), ctx, "helene.l", PASSWORD, "198.51.100.7", six_minutes_ago
    )
    client.cookies.set("__Host-coffre-session", step.token)
    account = await client.get("/account?lang=nl")
    assert account.status_code == 200
    answer = await client.post("/account/passkeys/new", data={"csrf": csrf(account), "lang": "nl"})
    assert answer.status_code == 403
    assert "Meld u opnieuw aan om uw tweede factor te wijzigen." in answer.text
    assert 'href="/signin?lang=nl"' in answer.text and "data-passkey" not in answer.text
