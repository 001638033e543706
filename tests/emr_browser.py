"""Helpers of the browser tests of examples/emr: the app as a subprocess, Chromium, a phone, a PNG reader.

The app runs exactly as ``make example`` runs it (``python -m emr``), on a free port,
with a temporary SQLite file and key file; the tests learn the demo passwords from the
banner it prints, as a person would. Chromium is Debian's, driven through its
chromedriver by Selenium; without them the tests are skipped, except under CI, where
they fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from helpers import unavailable
from qr_support import decode, png_chunks
from totpcore import TOTP, Secret

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "Outsmart EMR is starting on"  # the banner's last line (examples/emr/__main__.py)
COOKIE = "emr_session"
WINDOW = (1100, 1000)
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]


# ---------------------------------------------------------------- the browser


def chrome_binaries() -> tuple[str, str]:
    """Chromium and chromedriver (Debian's packages ``chromium`` and ``chromium-driver``).

    Missing, they skip the test, except under CI, where a green run must have used a browser.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        missing = ", ".join(
            name for name, path in (("chromium", chromium), ("chromedriver", driver)) if not path
        )
        unavailable(f"the browser tests need {missing} (apt-get install chromium chromium-driver)")
    return chromium, driver


def start_chrome(profile: Path) -> WebDriver:
    """Headless Chromium with a fresh profile in *profile*."""
    chromium, driver = chrome_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROME_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    browser.set_page_load_timeout(30)
    return browser


def submit(browser: WebDriver, button_id: str) -> None:
    """Click *button_id* and wait until the next page has replaced this one and finished loading."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.ID, button_id).click()

    def replaced(_: WebDriver) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:  # stale, or its node already left the document
            return True
        return False

    WebDriverWait(browser, 20).until(replaced)
    WebDriverWait(browser, 20).until(lambda b: b.execute_script("return document.readyState") == "complete")


def type_into(browser: WebDriver, field_id: str, text: str) -> None:
    """Type *text* into the empty field *field_id*, key by key."""
    element = browser.find_element(By.ID, field_id)
    element.clear()
    element.send_keys(text)


def text_of(browser: WebDriver, element_id: str) -> str:
    """The visible text of *element_id*."""
    return browser.find_element(By.ID, element_id).text


def has(browser: WebDriver, element_id: str) -> bool:
    """Whether the page has an element *element_id*."""
    return bool(browser.find_elements(By.ID, element_id))


def path_of(browser: WebDriver) -> str:
    """The path of the page the browser shows (``/home``)."""
    return re.sub(r"^https?://[^/]+", "", browser.current_url)


def post_forms_without_token(browser: WebDriver) -> list[str]:
    """The actions of the page's POST forms that carry no CSRF token."""
    forms: list[WebElement] = browser.find_elements(By.CSS_SELECTOR, "form[method=post]")
    return [
        form.get_attribute("action") or "?"
        for form in forms
        if not [field for field in form.find_elements(By.NAME, "csrf") if field.get_attribute("value")]
    ]


def lock_of(browser: WebDriver) -> tuple[str, str]:
    """The lock top right: its ``data-mfa`` ("on"/"off") and the colour it is drawn in."""
    lock = browser.find_element(By.ID, "lock")
    return lock.get_attribute("data-mfa") or "", lock.value_of_css_property("color")


def shot(browser: WebDriver, name: str) -> None:
    """With EMR_SCREENSHOTS=DIR (``make screenshots``), save the window as DIR/*name*.png."""
    folder = os.environ.get("EMR_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        Path(folder, f"{name}.png").write_bytes(browser.get_screenshot_as_png())


# ---------------------------------------------------------------- the app


@dataclass
class EmrApp:
    """One running example app. ``said`` collects every secret the test saw, to look for in the log."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    passwords: dict[str, str] = field(default_factory=dict)
    key_path: Path = Path()
    said: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        """The absolute URL of *path*."""
        return f"http://127.0.0.1:{self.port}{path}"

    def log(self) -> str:
        """Everything the app printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def served_log(self) -> str:
        """What the app logged after its start-up banner (the banner prints the demo passwords)."""
        return self.log().partition(READY_LINE)[2]

    def remember(self, *secrets: str) -> None:
        """Note secrets the browser typed or saw: none may appear in the log."""
        self.said.update(secrets)

    def request(
        self,
        path: str,
        browser: WebDriver | None = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """GET *path* (or POST form *data*) outside the browser, with its session cookie if given.

        Returns the status, the headers (lower-case names) and the body; redirects are not followed.
        """
        request = urllib.request.Request(self.url(path), data=data, headers=headers or {})  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        cookie = browser.get_cookie(COOKIE) if browser else None
        if cookie:
            request.add_header("Cookie", f"{COOKIE}={cookie['value']}")
        try:
            with _NO_REDIRECTS.open(request, timeout=20) as response:
                return response.status, _lower(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers), error.read().decode()


def _lower(headers: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Answer a redirect as it is (an HTTPError with its 303), instead of following it."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_NO_REDIRECTS = urllib.request.build_opener(_KeepRedirects)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def run_app(folder: Path, **env: str) -> Iterator[EmrApp]:
    """Start ``python -m emr`` in *folder* with *env* added; yield it once it serves; stop it.

    On the way out it checks the log: nothing the test noted with ``remember`` (codes,
    keys, URIs, recovery codes) may appear after the start-up banner.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = folder / "app.log"
    # The app's settings come from *env* alone, not from the shell the tests run in.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("EMR_", "TOTPCORE_", "PORT"))}
    environment = {
        **inherited,
        "PYTHONPATH": str(ROOT / "examples"),
        "PORT": str(port),
        "EMR_DATA_DIR": str(folder / "data"),
        "EMR_FAST_HASHING": "1",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "emr"], cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    app = EmrApp(process, port, log_path)
    try:
        _wait_until_serving(app)
        banner = app.log().partition(READY_LINE)[0]
        app.passwords = dict(re.findall(r"^  (\w+) .* password: (\S+)$", banner, re.MULTILINE))
        found = re.search(r"authenticator key is in (\S+) \(mode 0600\)", banner)
        assert found, banner
        app.key_path = folder / found[1]
        yield app
    finally:
        process.terminate()
        process.wait(timeout=20)
    served = app.served_log()
    leaked = sorted(
        secret for secret in app.said if re.search(rf"(?<![0-9A-Z]){re.escape(secret)}(?![0-9A-Z])", served)
    )
    assert not leaked, f"secrets in the server log: {leaked}"


def _wait_until_serving(app: EmrApp) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            pytest.fail(f"the app exited with {app.process.returncode}:\n{app.log()}")
        if READY_LINE in app.log():
            try:
                if app.request("/login")[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
        time.sleep(0.1)
    pytest.fail(f"the app did not start within 30 s:\n{app.log()}")


# ---------------------------------------------------------------- the phone


@dataclass
class Phone:
    """An authenticator app: the key read off the page, a clock *offset* seconds off, each code used once."""

    secret: str
    offset: float = 0.0
    last_step: int = -1

    @property
    def totp(self) -> TOTP:
        """The TOTP of the key (30 s, 6 digits, SHA-1: the policy's defaults)."""
        return TOTP(Secret.from_base32(self.secret))

    def step(self) -> int:
        """The step the phone's clock is in now."""
        return int((time.time() + self.offset) // 30)

    def code(self) -> str:
        """A code the server has not accepted yet: the phone's current one, or the next if that was used.

        Waits for the clock when even the next step was used (at most once per 30 s).
        """
        step = max(self.step(), self.last_step + 1)
        while step > self.step() + 1:
            time.sleep(0.5)
        self.last_step = step
        return self.totp.at(step * 30)

    def resync_codes(self) -> tuple[str, str]:
        """Two consecutive codes, the previous one and the one the phone shows now."""
        step = self.step()
        self.last_step = max(self.last_step, step)
        return self.totp.at((step - 1) * 30), self.totp.at(step * 30)

    def wrong_code(self) -> str:
        """A well-formed code that no step near the phone's clock gives."""
        near = {self.totp.at((self.step() + delta) * 30) for delta in range(-3, 4)}
        return next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in near)


# ---------------------------------------------------------------- QR codes in screenshots


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Decode an 8-bit, non-interlaced PNG (as Chromium writes screenshots) to 8-bit grey pixels."""
    chunks = png_chunks(data)
    compressed = b"".join(body for kind, body in chunks if kind == b"IDAT")
    width, height, depth, colour, _, _, interlace = struct.unpack(">2I5B", chunks[0][1])
    assert (depth, interlace) == (8, 0), (depth, interlace)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]  # grey, RGB, grey+alpha, RGBA
    raw = zlib.decompress(compressed)
    stride = width * channels
    previous = bytearray(stride)
    grey = bytearray()
    for y in range(height):
        start = y * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, channels)
        if channels >= 3:  # luma of R, G, B (alpha ignored: screenshots are opaque)
            grey += bytes(
                (line[i] * 299 + line[i + 1] * 587 + line[i + 2] * 114) // 1000
                for i in range(0, stride, channels)
            )
        else:
            grey += line[::channels]
        previous = line
    return width, height, bytes(grey)


def _unfilter(kind: int, line: bytearray, above: bytearray, bpp: int) -> bytearray:
    """Undo one scanline's filter (PNG specification §9.2: None, Sub, Up, Average, Paeth)."""
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = above[i]
        upper_left = above[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
            line[i] = (line[i] + predictor) & 0xFF
        else:
            assert kind == 0, kind
    return line


def decode_qr(png: bytes) -> list[str]:
    """The text of every QR code zxing-cpp finds in a PNG screenshot (any other 2-D symbology fails)."""
    return decode(*read_png(png))
