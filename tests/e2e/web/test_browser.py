"""The account pages in a real browser: headless Chromium, driven by Selenium, against the
application served by uvicorn on a loopback port. Passkeys use Chromium's virtual
authenticator; the second factor's codes come from each test's own TOTP seed.

One browser serves the whole module (per test worker); each test signs in as an account
of its own, so the tests share nothing but the browser.
"""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyotp
import pytest
import uvicorn

from coffre import identity, notify, signin
from coffre.bootstrap import Coffre
from coffre.identity import NewAccount, OrganisationKind, mfa, resets
from coffre.notify import Recipient
from coffre.web import create_app
from conftest import _installed, make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PASSWORD = "violet kettle orbit 1968"
NEW_PASSWORD = "amber lantern quietly hums"
WAIT = 10.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Chromium is not installed, so the browser tests were skipped ('make deb-deps').",
)

_names = itertools.count(1)


@dataclass
class Server:
    coffre: Coffre
    url: str


@dataclass
class Person:
    """An account of one test, with its own authenticator app."""

    username: str
    display_name: str
    id: str
    totp: pyotp.TOTP | None = None
    last_step: int = field(default=-1)

    def code(self) -> str:
        """The next code of the app: codes are accepted once and never older than the
        last one, so each call takes the next 30-second step (at most one ahead)."""
        assert self.totp is not None
        step = max(self.last_step + 1, int(time.time()) // 30)
        assert step <= int(time.time()) // 30 + 1, "more codes than the clock allows"
        self.last_step = step
        return str(self.totp.at(step * 30))


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The application on a free loopback port, named `localhost` (a passkey's relying
    party cannot be an IP address)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://localhost:{sock.getsockname()[1]}"
    home = tmp_path_factory.mktemp("browser") / "home"
    settings = make_settings(
        home,
        f"sqlite:///{home / 'coffre.db'}",
        COFFRE_PUBLIC_ORIGIN=url,
        COFFRE_WEBAUTHN_RP_ID="localhost",
    )
    installed = _installed(settings)
    coffre = next(installed)
    app = create_app(coffre, checkpoint_poll_seconds=60)
    # No access log: reset links carry their token in the query string.
    running = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not running.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield Server(coffre, url)
    finally:
        running.should_exit = True
        thread.join(WAIT)
        sock.close()
        installed.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMEDRIVER.exists():
        pytest.fail("chromedriver is not installed; run 'make deb-deps'.")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1000,900",
    ):
        options.add_argument(argument)
    # An explicit driver and browser: Selenium Manager never downloads anything.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium, server):  # type: ignore[no-untyped-def]
    """The module's browser, with no cookie left by an earlier test."""
    chromium.get(server.url + "/signin")
    chromium.delete_all_cookies()
    return chromium


def _account(server: Server, role: str = "practitioner", email: str | None = None) -> Person:
    n = next(_names)
    username = f"person.{n}.{int(time.time() * 1000) % 100000}"
    display = f"Person Number{n}"
    ctx = server.coffre.signin()
    with server.coffre.uow() as uow:
        org = identity.create_organisation(
            uow, f"Cabinet {username}", OrganisationKind.CARE_PROVIDER, "FR"
        ).id
        profession = None if role == "patient" else "physician"
        [account_id] = identity.create_accounts(
            uow, [NewAccount(org, username, PASSWORD, role, display, profession)]
        )
        if email:
            resets.set_email(uow, ctx.box, account_id, email)
        uow.commit()
    return Person(username, display, account_id)


@pytest.fixture
def practitioner(server: Server) -> Person:
    """A professional whose TOTP app is set up (through the service, as the set-up page
    would)."""
    person = _account(server)
    ctx = server.coffre.signin()
    if time.time() % 30 > 27:  # the set-up code must stay within a step of the clock
        time.sleep(30 - time.time() % 30 + 0.1)
    step = signin.sign_in(server.coffre.uow(), ctx, person.username, PASSWORD, "set-up")
    secret = mfa.new_totp_secret()
    person.totp = pyotp.TOTP(secret)
    person.last_step = int(time.time()) // 30 - 1  # the step before: two codes remain now
    code = person.totp.at(person.last_step * 30)
    signin.set_up_totp(server.coffre.uow(), ctx, step.token, secret, code)
    return person


def _wait_for(browser, path: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT
    while not browser.current_url.split("?")[0].endswith(path):
        assert time.monotonic() < deadline, f"still on {browser.current_url}: {_text(browser)}"
        time.sleep(0.05)


def _text(browser) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.TAG_NAME, "body").text)


def _fill(browser, **values: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    for name, value in values.items():
        box = browser.find_element(By.ID, name)
        box.clear()
        box.send_keys(value)


def _navigating(browser, element) -> None:  # type: ignore[no-untyped-def]
    """Click, then wait for the next page (every button and link here leads to one)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, WAIT).until(_replaced(page))


def _replaced(page):  # type: ignore[no-untyped-def]
    """Whether the page is gone. Chromium's driver sometimes reports a node of the old
    document as one that "does not belong to the document" instead of as stale."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_browser) -> bool:  # type: ignore[no-untyped-def]
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


def _press(browser, label: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    _navigating(browser, browser.find_element(By.XPATH, f'//button[normalize-space()="{label}"]'))


def _follow(browser, label: str) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    _navigating(browser, browser.find_element(By.LINK_TEXT, label))


def _sign_in(browser, server: Server, person: Person, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    browser.get(server.url + "/signin?lang=en")
    _fill(browser, username=person.username, password=password)
    _press(browser, "Sign in")
    if person.totp is not None:
        _wait_for(browser, "/signin/second-factor")
        _fill(browser, code=person.code())
        _press(browser, "Continue")
    _wait_for(browser, "/account")


def test_signing_in_with_a_password_and_a_code(browser, server, practitioner):
    browser.get(server.url + "/signin?lang=en")
    _fill(browser, username=practitioner.username, password=PASSWORD)
    _press(browser, "Sign in")
    _wait_for(browser, "/signin/second-factor")
    assert "Use a passkey" not in _text(browser)  # no passkey yet: codes only
    _fill(browser, code=practitioner.code())
    _press(browser, "Continue")
    _wait_for(browser, "/account")
    assert f"Signed in as {practitioner.display_name}" in _text(browser)


def test_changing_the_password(browser, server, practitioner):
    _sign_in(browser, server, practitioner)
    _follow(browser, "Change my password")
    _fill(browser, current=PASSWORD, new="password1234", again="password1234")
    _press(browser, "Change my password")
    assert "This password is one of the most common; choose another." in _text(browser)
    _fill(browser, current=PASSWORD, new=NEW_PASSWORD, again=NEW_PASSWORD)
    _press(browser, "Change my password")
    _wait_for(browser, "/account")
    assert "Your password was changed; your other sessions were ended." in _text(browser)
    _press(browser, "Sign out")
    _wait_for(browser, "/signin")
    _sign_in(browser, server, practitioner, NEW_PASSWORD)
    assert practitioner.display_name in _text(browser)


def test_a_forgotten_password_is_reset_with_the_link_once(browser, server):
    patient = _account(server, role="patient", email="someone@example.org")
    browser.get(server.url + "/signin?lang=en")
    _follow(browser, "Forgot your password?")
    _fill(browser, username=patient.username)
    _press(browser, "Send me a link")
    assert "a link to choose a new password has been sent" in _text(browser)
    ctx = server.coffre.signin()
    with server.coffre.reader() as uow:
        [sent] = notify.list_notifications(uow, Recipient.ACCOUNT, patient.id)
    sealed = sent.params["link"].removeprefix("sealed:")
    token = ctx.box.open(base64.urlsafe_b64decode(sealed), f"reset:{patient.id}").decode()
    link = f"{server.url}/signin/reset?token={token}&lang=en"
    browser.get(link)
    _fill(browser, new=NEW_PASSWORD, again=NEW_PASSWORD)
    _press(browser, "Change my password")
    assert "Every session of your account was ended." in _text(browser)
    _follow(browser, "Sign in")
    _sign_in(browser, server, patient, NEW_PASSWORD)
    browser.delete_all_cookies()
    browser.get(link)
    _fill(browser, new="another quiet harbour", again="another quiet harbour")
    _press(browser, "Change my password")
    assert "This reset link is not valid any more; ask for a new one." in _text(browser)
    _follow(browser, "Ask for a new link")
    _wait_for(browser, "/signin/forgot")


def test_a_passkey_is_added_then_signs_in(browser, server, practitioner):
    from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions

    options = VirtualAuthenticatorOptions(
        protocol=VirtualAuthenticatorOptions.Protocol.CTAP2,
        transport=VirtualAuthenticatorOptions.Transport.INTERNAL,
        has_resident_key=True,
        has_user_verification=True,
        is_user_verified=True,
    )
    browser.add_virtual_authenticator(options)
    try:
        _sign_in(browser, server, practitioner)
        assert "No passkey yet." in _text(browser)
        _press(browser, "Add a passkey")
        _fill(browser, name="Work laptop")
        _press(browser, "Create the passkey")
        _wait_for(browser, "/account")
        assert "Your passkey was added." in _text(browser)
        assert "Work laptop" in _text(browser)
        assert len(browser.get_credentials()) == 1
        _press(browser, "Sign out")
        _wait_for(browser, "/signin")
        browser.get(server.url + "/signin?lang=en")
        _fill(browser, username=practitioner.username, password=PASSWORD)
        _press(browser, "Sign in")
        _wait_for(browser, "/signin/second-factor")
        assert "Passkeys need JavaScript" not in _text(browser)  # the script hid the note
        _press(browser, "Use a passkey")
        _wait_for(browser, "/account")
        assert f"Signed in as {practitioner.display_name}" in _text(browser)
        assert "never" not in _text(browser)  # the passkey's last use is shown
    finally:
        browser.remove_virtual_authenticator()


@pytest.mark.parametrize(
    ("lang", "title", "link"),
    [
        ("fr", "Mot de passe oublié ?", "Se connecter"),
        ("nl", "Wachtwoord vergeten?", "Aanmelden"),
        ("en", "Forgot your password?", "Sign in"),
    ],
)
def test_the_pages_speak_french_dutch_and_english(browser, server, lang, title, link):
    browser.get(f"{server.url}/signin?lang={lang}")
    _follow(browser, title)
    assert browser.find_element("css selector", "html").get_attribute("lang") == lang
    assert title in _text(browser)
    _follow(browser, link)
    _wait_for(browser, "/signin")
