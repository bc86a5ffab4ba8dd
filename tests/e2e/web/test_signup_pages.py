"""The sign-up pages over ASGI: the same page for any address, a link that opens the
account once and shows the username, refusals in one sentence that lose nothing."""

from __future__ import annotations

import base64
import re

import httpx
import pytest

from coffre import identity, notify, records
from coffre.identity import OrganisationKind, local_operator
from coffre.notify import NotificationKind, Recipient
from factories import lines_of, patient
from webpages import csrf, pages_client

pytestmark = pytest.mark.anyio
EMAIL = "helene.lefevre@example.org"
PASSWORD = "amber lantern quietly"
REFUSED = "This form has expired or did not come from this site."


@pytest.fixture
def helene(sqlite_coffre) -> str:  # type: ignore[no-untyped-def]
    with sqlite_coffre.uow() as uow:
        org = identity.create_organisation(uow, "Cabinet", OrganisationKind.CARE_PROVIDER, "FR").id
        uow.commit()
    report = records.import_patients(
        sqlite_coffre.uow(),
        sqlite_coffre.vault,
        local_operator(org),
        lines_of([patient(email=EMAIL)]),
        org,
    )
    [(_, patient_id)] = report.imported
    return patient_id


@pytest.fixture
async def client(sqlite_coffre, helene):  # type: ignore[no-untyped-def]
    async with pages_client(sqlite_coffre) as client:
        yield client


def the_link(coffre, patient_id: str) -> str:  # type: ignore[no-untyped-def]
    with coffre.reader() as uow:
        newest = notify.list_notifications(uow, Recipient.PATIENT, patient_id)[0]
    assert newest.kind is NotificationKind.SIGN_UP_LINK
    sealed = newest.params["link"].removeprefix("sealed:")
    box = coffre.sign_up_keys().box
    return box.open(base64.urlsafe_b64decode(sealed), f"sign-up:{patient_id}").decode()


async def ask(client: httpx.AsyncClient, email: str, lang: str = "en") -> httpx.Response:
    form = await client.get(f"/signup?lang={lang}")
    return await client.post("/signup", data={"email": email, "csrf": csrf(form), "lang": lang})


async def test_the_answer_is_the_same_page_for_any_address(client):
    on_file = await ask(client, EMAIL)
    unknown = await ask(client, "nobody@example.org")
    assert on_file.status_code == unknown.status_code == 200
    assert on_file.text == unknown.text
    assert "If this address is on file" in on_file.text
    signin_page = await client.get("/signin?lang=fr")
    assert 'href="/signup?lang=fr"' in signin_page.text and "Ouvrez le vôtre" in signin_page.text


async def test_the_link_opens_the_account_once_and_shows_the_username(
    client, sqlite_coffre, helene
):
    await ask(client, EMAIL)
    token = the_link(sqlite_coffre, helene)
    form = await client.get(f"/signup/complete?token={token}&lang=nl")
    assert "Kies uw wachtwoord" in form.text
    fields = {"token": token, "csrf": csrf(form), "lang": "nl"}
    mistyped = await client.post("/signup/complete", data={**fields, "new": PASSWORD, "again": "x"})
    assert mistyped.status_code == 400 and "De twee wachtwoorden zijn niet gelijk." in mistyped.text
    weak = await client.post(
        "/signup/complete", data={**fields, "new": "azerty", "again": "azerty"}
    )
    assert weak.status_code == 400 and f'value="{token}"' in weak.text  # the link still works
    done = await client.post(
        "/signup/complete", data={**fields, "new": PASSWORD, "again": PASSWORD}
    )
    assert done.status_code == 200
    username = re.search(r'<strong class="username">(p-[a-z0-9]{8})</strong>', done.text)
    assert username is not None
    with sqlite_coffre.reader() as uow:
        assert identity.find_account(uow, username.group(1)).patient_id == helene
    again = await client.post(
        "/signup/complete", data={**fields, "new": PASSWORD, "again": PASSWORD}
    )
    assert again.status_code == 400 and "Deze link is niet meer geldig" in again.text
    assert 'href="/signup?lang=nl"' in again.text


async def test_forms_without_their_token_change_nothing(client, sqlite_coffre, helene):
    refused = await client.post("/signup", data={"email": EMAIL, "csrf": "forged"})
    assert refused.status_code == 403 and REFUSED in refused.text
    with sqlite_coffre.reader() as uow:
        assert notify.list_notifications(uow, Recipient.PATIENT, helene) == []
    not_an_address = await ask(client, "not an address")
    assert not_an_address.status_code == 400
    assert "Give the e-mail address your practice has on file." in not_an_address.text
    assert (await client.get("/signup/complete")).status_code == 303
