"""examples/emr in a real browser: every screen of issue 16, clicked and typed through headless Chromium.

Each test starts its own app (``python -m emr``: temporary SQLite file and key file, a
throttle of 2 free attempts, 3 s waits and a lockout at 5) and drives it as a user would.
The phone reads the key off the enrolment page; the QR code is decoded from a browser
screenshot. ``make screenshots`` runs this file with EMR_SCREENSHOTS=docs/images.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from emr_browser import (
    EmrApp,
    Phone,
    decode_qr,
    has,
    lock_of,
    path_of,
    post_forms_without_token,
    run_app,
    shot,
    start_chrome,
    submit,
    text_of,
    type_into,
)
from totpcore import recovery

# 2 free failures, then DELAY seconds between attempts, locked at the 5th consecutive failure.
DELAY = 3
THROTTLE = f"free_attempts=2,base_delay={DELAY},growth=1,lockout=5"
THROTTLED = re.compile(r"Too many attempts\. Wait ([1-3]) seconds?, then try again\.")
# The lock's colours, and the Enable MFA button's (examples/emr/static/emr.css).
GREEN, RED = "rgba(26, 127, 55, 1)", "rgba(207, 34, 46, 1)"
NOT_ACCEPTED = "That code was not accepted. Check your authenticator app and try again."
REPLAYED = "That code has already been used. Wait until your app shows a new code, then enter it."


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the module, with a fresh profile."""
    chrome = start_chrome(tmp_path_factory.mktemp("chromium-profile"))
    yield chrome
    chrome.quit()


@pytest.fixture
def app(tmp_path: Path, browser: WebDriver) -> Iterator[EmrApp]:
    """The example app with MFA optional and a quick throttle; the browser starts without cookies."""
    browser.delete_all_cookies()
    with run_app(tmp_path / "app", EMR_THROTTLE=THROTTLE) as running:
        yield running


def visit(browser: WebDriver, app: EmrApp, path: str) -> None:
    """Open *path* in the browser."""
    browser.get(app.url(path))
    check_page(browser)


def check_page(browser: WebDriver) -> None:
    """What every page must satisfy: each POST form carries the CSRF token."""
    assert post_forms_without_token(browser) == []


def press(browser: WebDriver, button_id: str) -> None:
    """Click *button_id*, wait for the next page, check it."""
    submit(browser, button_id)
    check_page(browser)


def sign_in(browser: WebDriver, app: EmrApp, user: str) -> None:
    """Type *user*'s name and password on the sign-in page and submit."""
    visit(browser, app, "/login")
    type_into(browser, "username", user)
    type_into(browser, "password", app.passwords[user])
    press(browser, "sign-in")


def sign_out(browser: WebDriver) -> None:
    """Open the initials menu and sign out."""
    browser.find_element(By.ID, "account-menu").click()
    press(browser, "sign-out")


def enter_code(browser: WebDriver, app: EmrApp, code: str, button: str = "verify") -> None:
    """Type *code* into the code field and submit it."""
    app.remember(code)
    type_into(browser, "code", code)
    press(browser, button)


def enrol(browser: WebDriver, app: EmrApp, account: str) -> tuple[Phone, list[str]]:
    """On the enrolment page: check the QR code against the key, confirm; return phone and recovery codes."""
    secret = text_of(browser, "secret").replace(" ", "")
    uri = f"otpauth://totp/Outsmart%20EMR:{urllib.parse.quote(account)}?secret={secret}&issuer=Outsmart%20EMR"
    app.remember(secret, uri)
    screenshot = browser.find_element(By.CSS_SELECTOR, "#qr svg").screenshot_as_png
    assert decode_qr(screenshot) == [uri]
    phone = Phone(secret)
    enter_code(browser, app, phone.code(), "confirm")
    assert path_of(browser) == "/mfa/recovery-codes"
    codes = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
    app.remember(*codes)
    return phone, codes


class TestEnrolment:
    """Screens 1 to 4: sign in, the lock, "Enable MFA", the QR code, the recovery codes shown once."""

    def test_enrolment_from_the_menu_to_recovery_codes_shown_once(
        self, browser: WebDriver, app: EmrApp
    ) -> None:
        """The red lock turns green after scanning, confirming, and seeing five codes that never come back."""
        visit(browser, app, "/login")
        shot(browser, "01-sign-in")
        sign_in(browser, app, "alice")
        assert path_of(browser) == "/home"
        assert text_of(browser, "initials") == "AM"
        assert lock_of(browser) == ("off", RED)
        browser.find_element(By.ID, "account-menu").click()
        enable = browser.find_element(By.ID, "enable-mfa")
        assert (enable.text, enable.value_of_css_property("background-color")) == ("Enable MFA", RED)
        shot(browser, "02-menu-mfa-off")
        press(browser, "enable-mfa")

        assert path_of(browser) == "/mfa/enroll"
        assert "not your phone's camera" in text_of(browser, "camera-warning")
        status, headers, _ = app.request("/mfa/enroll", browser)
        assert (status, headers["cache-control"]) == (200, "no-store")
        shot(browser, "03-enrol")
        # A wrong first code is refused; the same QR code stays on the page.
        secret = text_of(browser, "secret")
        enter_code(browser, app, Phone(secret.replace(" ", "")).wrong_code(), "confirm")
        assert (path_of(browser), text_of(browser, "error")) == ("/mfa/enroll", NOT_ACCEPTED)
        assert text_of(browser, "secret") == secret

        _, codes = enrol(browser, app, "alice@outsmart.example")
        assert len(set(codes)) == 5
        assert all(recovery.is_well_formed(code) for code in codes)
        assert "We will not provide these again." in text_of(browser, "shown-once")
        assert lock_of(browser) == ("on", GREEN)
        shot(browser, "04-recovery-codes")

        browser.refresh()
        assert has(browser, "codes-gone")
        assert not any(code in browser.page_source for code in codes)
        browser.back()
        assert path_of(browser) == "/home"  # the enrolment page, now done, sends the user on
        assert not any(code in browser.page_source for code in codes)
        status, headers, body = app.request("/mfa/recovery-codes", browser)
        assert (status, headers["cache-control"]) == (200, "no-store")
        assert not any(code in body for code in codes)

    def test_a_recovery_code_signs_in_once_and_a_new_set_replaces_the_old(
        self, browser: WebDriver, app: EmrApp
    ) -> None:
        """The one field takes a recovery code, once; new codes from the menu void the old ones."""
        sign_in(browser, app, "alice")
        browser.find_element(By.ID, "account-menu").click()
        press(browser, "enable-mfa")
        phone, codes = enrol(browser, app, "alice@outsmart.example")
        sign_out(browser)

        sign_in(browser, app, "alice")
        assert path_of(browser) == "/login/code"
        enter_code(browser, app, codes[0])
        assert path_of(browser) == "/home"
        assert (
            "You signed in with a recovery code. 4 of them are left"
            in browser.find_element(By.CLASS_NAME, "notice").text
        )
        browser.find_element(By.ID, "account-menu").click()
        press(browser, "new-codes")
        enter_code(browser, app, phone.code(), "regenerate")
        fresh = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        app.remember(*fresh)
        assert len(set(fresh) - set(codes)) == 5
        sign_out(browser)

        sign_in(browser, app, "alice")
        for used_or_replaced in codes[:2]:
            enter_code(browser, app, used_or_replaced)
            assert (path_of(browser), text_of(browser, "error")) == ("/login/code", NOT_ACCEPTED)
        enter_code(browser, app, fresh[0])
        assert path_of(browser) == "/home"


class TestCodePrompt:
    """Screen 5: the code prompt's messages: wrong, replayed, throttled with the wait, locked with steps."""

    def test_wrong_replayed_throttled_then_locked(self, browser: WebDriver, app: EmrApp) -> None:
        """Each refusal has its message, none says what was wrong; the lock ends with the support steps."""
        phone = Phone(app.key_path.read_text().strip())
        app.remember(phone.secret)
        sign_in(browser, app, "bruno")
        assert path_of(browser) == "/login/code"
        assert lock_of(browser) == ("on", GREEN)
        shot(browser, "05-code-prompt")
        enter_code(browser, app, phone.wrong_code())
        assert text_of(browser, "error") == NOT_ACCEPTED
        enter_code(browser, app, "12-ab")  # not even shaped like a code: the same message
        assert text_of(browser, "error") == NOT_ACCEPTED
        shot(browser, "05-wrong-code")
        accepted = phone.code()
        enter_code(browser, app, accepted)
        assert (path_of(browser), lock_of(browser)) == ("/home", ("on", GREEN))

        sign_out(browser)
        sign_in(browser, app, "bruno")
        enter_code(browser, app, accepted)
        assert text_of(browser, "error") == REPLAYED
        for _ in range(2):  # failures 2 and 3: the third is past the 2 free ones
            enter_code(browser, app, phone.wrong_code())
            assert text_of(browser, "error") == NOT_ACCEPTED
        enter_code(browser, app, phone.wrong_code())
        message = text_of(browser, "error")
        assert THROTTLED.fullmatch(message), message
        shot(browser, "05-throttled")

        for _ in range(3):  # failures 4 and 5, each after the wait; the 5th locks
            time.sleep(DELAY + 0.3)
            enter_code(browser, app, phone.wrong_code())
            if has(browser, "locked"):
                break
        assert "service desk" in text_of(browser, "support-steps")
        shot(browser, "05-locked")
        sign_in(browser, app, "bruno")  # the right password leads to the same page
        assert has(browser, "locked")
        assert "login user=bruno outcome=locked" in app.served_log()


class TestResync:
    """Screen 6: "Codes not working?": the clock advice and the resync form."""

    def test_two_consecutive_codes_resynchronise_a_fast_phone(self, browser: WebDriver, app: EmrApp) -> None:
        """A phone 10 minutes fast is refused, resynchronised with two codes, then accepted as it is."""
        phone = Phone(app.key_path.read_text().strip(), offset=600)
        app.remember(phone.secret)
        sign_in(browser, app, "bruno")
        enter_code(browser, app, phone.code())
        assert text_of(browser, "error") == NOT_ACCEPTED
        press(browser, "codes-not-working")
        assert path_of(browser) == "/login/help"
        assert "clock" in text_of(browser, "clock-advice")
        shot(browser, "06-codes-not-working")
        first, second = phone.resync_codes()
        app.remember(first, second)
        type_into(browser, "code1", first)
        type_into(browser, "code2", second)
        press(browser, "resync")
        assert path_of(browser) == "/home"
        assert "Your codes work again" in browser.find_element(By.CLASS_NAME, "notice").text

        sign_out(browser)
        sign_in(browser, app, "bruno")
        enter_code(browser, app, phone.code())
        assert path_of(browser) == "/home"


class TestSupport:
    """Screen 7: no way to disable MFA; the support console resets it, and the user enrols again."""

    def test_only_the_support_role_opens_the_console(self, browser: WebDriver, app: EmrApp) -> None:
        """A clinician gets 403 from the console; the menu offers no way to turn MFA off."""
        phone = Phone(app.key_path.read_text().strip())
        sign_in(browser, app, "bruno")
        enter_code(browser, app, phone.code())
        browser.find_element(By.ID, "account-menu").click()
        menu = browser.find_element(By.CLASS_NAME, "menu").text
        assert "cannot be turned off" in menu
        assert not re.search(r"disable|turn off", menu, re.IGNORECASE)
        assert not has(browser, "support-link")
        visit(browser, app, "/support")
        assert text_of(browser, "message") == "The support console is for the service desk only."
        assert app.request("/support", browser)[0] == 403

    def test_a_reset_with_a_reason_makes_the_user_enrol_again(self, browser: WebDriver, app: EmrApp) -> None:
        """The agent finds bruno, sees his state, resets with a reason; bruno then has no MFA and enrols."""
        sign_in(browser, app, "sam")
        browser.find_element(By.ID, "account-menu").click()
        press(browser, "support-link")
        type_into(browser, "q", "bru")
        press(browser, "find")
        press(browser, "open-bruno")
        state = {name: text_of(browser, f"state-{name}") for name in ("status", "requirement", "codes-left")}
        assert state == {"status": "enabled", "requirement": "code", "codes-left": "5"}
        shot(browser, "07-support-console")

        type_into(browser, "reason", "   ")  # blank: refused
        press(browser, "reset")
        assert "Give the reason" in browser.find_element(By.CLASS_NAME, "notice").text
        assert text_of(browser, "state-status") == "enabled"
        type_into(browser, "reason", "ticket 4711, staff card checked")
        press(browser, "reset")
        assert "MFA for Bruno Costa was reset" in browser.find_element(By.CLASS_NAME, "notice").text
        assert (text_of(browser, "state-status"), text_of(browser, "state-requirement")) == ("none", "none")
        assert (
            'reset user=bruno actor=support:sam reason="ticket 4711, staff card checked"' in app.served_log()
        )

        sign_out(browser)
        sign_in(browser, app, "bruno")
        assert (path_of(browser), lock_of(browser)) == ("/home", ("off", RED))
        browser.find_element(By.ID, "account-menu").click()
        press(browser, "enable-mfa")
        enrol(browser, app, "bruno@outsmart.example")
        assert lock_of(browser) == ("on", GREEN)


class TestMandatory:
    """Screen 8: with mandatory_from in the past, enrolment comes right after the password."""

    def test_a_user_without_mfa_reaches_nothing_but_enrolment(
        self, browser: WebDriver, tmp_path: Path
    ) -> None:
        """Every page leads back to enrolment until MFA is set up; then the ward list opens."""
        browser.delete_all_cookies()
        with run_app(tmp_path / "mandatory", TOTPCORE_MFA_MANDATORY_FROM="0") as app:
            sign_in(browser, app, "alice")
            assert path_of(browser) == "/mfa/enroll"
            assert has(browser, "mfa-required")
            shot(browser, "08-mandatory-enrolment")
            for path in ("/home", "/support", "/mfa/recovery-codes", "/mfa/recovery-codes/new", "/login"):
                visit(browser, app, path)
                assert path_of(browser) == "/mfa/enroll", path
            press(browser, "start-enrollment")
            enrol(browser, app, "alice@outsmart.example")
            press(browser, "continue")
            assert (path_of(browser), lock_of(browser)) == ("/home", ("on", GREEN))


class TestWebBasics:
    """The session cookie, CSRF tokens, and the log."""

    def test_the_session_cookie_is_httponly_lax_secure_over_tls_and_renewed_at_sign_in(
        self, browser: WebDriver, app: EmrApp
    ) -> None:
        """HttpOnly, SameSite=Lax, Secure only over TLS, and a new id once the password is right."""
        visit(browser, app, "/login")
        before = browser.get_cookie("emr_session")
        assert before is not None
        assert (before["httpOnly"], before["sameSite"], before["secure"]) == (True, "Lax", False)
        sign_in(browser, app, "alice")
        after = browser.get_cookie("emr_session")
        assert after is not None
        assert after["value"] != before["value"]
        # Behind a TLS proxy on this machine (uvicorn trusts X-Forwarded-Proto from 127.0.0.1).
        _, headers, _ = app.request("/login", headers={"X-Forwarded-Proto": "https"})
        assert "; secure" in headers["set-cookie"].lower()

    def test_a_post_without_the_sessions_token_is_refused(self, browser: WebDriver, app: EmrApp) -> None:
        """No token, a wrong token, or no session: 403, and the password is not even checked."""
        visit(browser, app, "/login")
        form = urllib.parse.urlencode({"username": "alice", "password": app.passwords["alice"]})
        token = browser.find_element(By.NAME, "csrf").get_attribute("value")
        assert app.request("/login", browser=browser, data=form.encode())[0] == 403
        assert app.request("/login", browser=browser, data=f"{form}&csrf=x{token}".encode())[0] == 403
        assert app.request("/login", data=f"{form}&csrf={token}".encode())[0] == 403
        assert "password accepted" not in app.served_log()
        assert app.request("/login", browser=browser, data=f"{form}&csrf={token}".encode())[0] == 303
        assert "password accepted user=alice" in app.served_log()


class TestPostgres:
    """TOTPCORE_DB_URL=postgresql://... runs the app on PostgreSQL."""

    def test_sign_in_with_a_code_on_postgresql(self, browser: WebDriver, tmp_path: Path, pg_dsn: str) -> None:
        """Bruno, enrolled at start in PostgreSQL, signs in with his code."""
        from store_support import pg_schema, pg_url  # noqa: PLC0415  # psycopg, present with pg_dsn

        browser.delete_all_cookies()
        with pg_schema(pg_dsn) as dsn, run_app(tmp_path / "pg", TOTPCORE_DB_URL=pg_url(dsn)) as app:
            phone = Phone(app.key_path.read_text().strip())
            sign_in(browser, app, "bruno")
            enter_code(browser, app, phone.code())
            assert (path_of(browser), lock_of(browser)) == ("/home", ("on", GREEN))
