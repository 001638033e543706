"""The pages of Outsmart EMR, on totpcore's :class:`~totpcore.AsyncMfaService`.

Every screen of ``examples/emr/README.md`` is one route here. The rules a reviewer checks:

- Every POST form carries the session's CSRF token, compared in constant time; a form
  without it is refused (403) before anything else is read.
- The session id is the only thing in the cookie (HttpOnly, SameSite=Lax, Secure over
  TLS) and is replaced at every step up (password accepted, code accepted).
- Every page answers ``Cache-Control: no-store``: pages are per user, on shared ward
  computers, and the QR code and recovery-code pages must never come back from a cache
  or the back button.
- The second factor is throttled by ``AsyncMfaService`` alone (per user, in the store,
  across app servers); the app adds no counter of its own.
- No code, secret, URI or recovery code is logged: only the audit events (which carry
  none) and request lines whose URLs hold no secret (every secret travels in a POST body).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import math
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Final

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emr.accounts import Account, Directory, Role
from emr.sessions import Session, SessionStore, Stage
from totpcore import (
    AsyncMfaService,
    ConfigurationError,
    EnrollmentError,
    LoginResult,
    Method,
    MfaState,
    Outcome,
    PolicyError,
    ReplayedCode,
    Requirement,
    Status,
    StoreError,
    VerificationError,
)

HERE: Final = Path(__file__).resolve().parent
COOKIE: Final = "emr_session"
#: The largest form body read; every form here is a few short fields.
MAX_FORM_BYTES: Final = 8192
SUPPORT_PHONE: Final = "extension 4357"

log = logging.getLogger("emr")

# What the user is told. No message says which part of the input was wrong.
NOT_ACCEPTED: Final = "That code was not accepted. Check your authenticator app and try again."
REPLAYED: Final = "That code has already been used. Wait until your app shows a new code, then enter it."
BUSY: Final = "The server is busy. Try again in a few seconds."
EXPIRED: Final = "This form has expired. Go back, reload the page and try again."
BAD_SIGN_IN: Final = "The user name or password is not correct."
SETUP_EXPIRED: Final = "This setup was replaced or has expired. Start again."

HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def wait_message(seconds: float) -> str:
    """The throttled message, with the wait rounded up to whole seconds."""
    wait = max(1, math.ceil(seconds))
    return f"Too many attempts. Wait {wait} second{'s' if wait > 1 else ''}, then try again."


class _Redirect(Exception):  # control flow, not an error
    """Raised by a guard: answer with a redirect to *url* instead of the page."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class _Locked(Exception):  # control flow, not an error
    """Raised when the user's MFA is locked: their session is over; the support steps are shown."""


class SecurityHeaders:
    """ASGI middleware: the headers of :data:`HEADERS` on every response, ``no-store`` on every page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not scope["path"].startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Emr:
    """The application: the MFA service, the user directory, the sessions and the routes."""

    def __init__(
        self,
        mfa: AsyncMfaService,
        directory: Directory,
        *,
        on_start: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.mfa = mfa
        self.directory = directory
        self.sessions = SessionStore()
        self._on_start = on_start
        self._templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
        )
        self._templates.filters["date"] = date_text

    def asgi(self) -> Starlette:
        """The Starlette application."""
        return Starlette(
            routes=[
                Route("/", self.index),
                Route("/login", self.login, methods=["GET", "POST"]),
                Route("/login/code", self.code, methods=["GET", "POST"]),
                Route("/login/help", self.resync, methods=["GET", "POST"]),
                Route("/logout", self.logout, methods=["POST"]),
                Route("/home", self.home),
                Route("/mfa/enroll", self.enroll, methods=["GET", "POST"]),
                Route("/mfa/confirm", self.confirm, methods=["POST"]),
                Route("/mfa/recovery-codes", self.recovery_codes),
                Route("/mfa/recovery-codes/new", self.new_recovery_codes, methods=["GET", "POST"]),
                Route("/support", self.support),
                Route("/support/reset", self.support_reset, methods=["POST"]),
                Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            ],
            middleware=[Middleware(SecurityHeaders)],
            exception_handlers={
                _Redirect: self._on_redirect,
                _Locked: self._on_locked,
                HTTPException: self._on_http_error,
                StoreError: self._on_store_error,
            },
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        if self._on_start is not None:
            await self._on_start()
        try:
            yield
        finally:
            await self.mfa.close()

    # ------------------------------------------------------------------ plumbing

    def _render(
        self,
        request: Request,
        session: Session | None,
        template: str,
        *,
        status: int = 200,
        account: Account | None = None,
        state: MfaState | None = None,
        error: str | None = None,
        **context: object,
    ) -> HTMLResponse:
        """Render *template* for *session*'s user; the header shows their initials and lock."""
        html = self._templates.get_template(template).render(
            csrf=session.csrf if session else "",
            notices=session.take_notices() if session else [],
            stage=session.stage.value if session else Stage.ANONYMOUS.value,
            account=account,
            state=state,
            mfa_on=state is not None and state.status is Status.ENABLED,
            support=account is not None and account.role is Role.SUPPORT,
            support_phone=SUPPORT_PHONE,
            error=error or (session.take_error() if session else None),
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        if session is not None:
            self._set_cookie(request, response, session)
        return response

    @staticmethod
    def _set_cookie(request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            session.id,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )

    def _redirect(self, request: Request, url: str, session: Session | None = None) -> RedirectResponse:
        response = RedirectResponse(url, status_code=303)
        if session is not None:
            self._set_cookie(request, response, session)
        return response

    def _session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    async def _user(self, request: Request, *stages: Stage) -> tuple[Session, Account, MfaState]:
        """The session, account and MFA state of a user at one of *stages*; else redirect where they belong.

        A signed-in user whose MFA became mandatory is moved to enrolment; one whose MFA
        got locked (too many wrong codes on another page) is signed out.
        """
        session = self._session(request)
        account = self.directory.get(session.user_id) if session and session.user_id else None
        if session is None or account is None:
            raise _Redirect("/login")
        state = await self.mfa.state(account.user_id)
        if state.requirement is Requirement.SUPPORT:
            self.sessions.drop(session)
            raise _Locked
        if session.stage is Stage.SIGNED_IN and state.requirement is Requirement.ENROLL:
            session.stage = Stage.ENROLL
        if session.stage is Stage.ENROLL and state.requirement is Requirement.CODE:
            session.stage = Stage.SECOND_FACTOR  # enrolled in another tab: the code is asked now
        if session.stage not in stages:
            raise _Redirect(_place_of(session.stage))
        return session, account, state

    async def _form(self, request: Request, session: Session | None) -> dict[str, str]:
        """The posted form, after its CSRF token was checked against *session*'s.

        Raises:
            HTTPException: 403 without a session or with a wrong token; 413, 415 or 400 for
                a body that is too large, not a form, or unreadable.
        """
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                raise HTTPException(413, "The form is too large.")
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HTTPException(415, "Send the form from the page.")
        try:
            form = dict(
                urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True, max_num_fields=10)
            )
        except ValueError:  # also UnicodeDecodeError
            raise HTTPException(400, "The form could not be read.") from None
        token = form.get("csrf", "").encode("utf-8")
        if session is None or not hmac.compare_digest(token, session.csrf.encode("ascii")):
            raise HTTPException(403, EXPIRED)
        return form

    def _step_up(self, old: Session, account: Account, stage: Stage) -> Session:
        """Replace *old* by a new session of *account* at *stage* (a new id at every step up)."""
        self.sessions.drop(old)
        session = self.sessions.new(account.user_id, stage)
        session.notices = old.notices
        log.info("session step user=%s stage=%s", account.user_id, stage.value)
        return session

    async def _after_password(self, request: Request, session: Session, account: Account) -> Response:
        """Send a user whose password was right to what their MFA requirement says."""
        requirement = await self.mfa.requirement(account.user_id)
        if requirement is Requirement.SUPPORT:
            self.sessions.drop(session)
            raise _Locked
        stage = {
            Requirement.NONE: Stage.SIGNED_IN,
            Requirement.ENROLL: Stage.ENROLL,
            Requirement.CODE: Stage.SECOND_FACTOR,
        }[requirement]
        session = self._step_up(session, account, stage)
        return self._redirect(request, _place_of(stage), session)

    async def _on_redirect(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Redirect)  # noqa: S101  # registered for _Redirect only
        return self._redirect(request, exc.url)

    async def _on_locked(self, request: Request, _exc: Exception) -> Response:
        return self._render(request, None, "locked.html", status=403)

    async def _on_http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101  # registered for HTTPException only
        return self._render(request, None, "error.html", status=exc.status_code, message=exc.detail)

    async def _on_store_error(self, request: Request, exc: Exception) -> Response:
        # Fail closed: nothing is granted when the MFA store cannot answer.
        log.error("MFA store unavailable: %s", type(exc).__name__)
        message = "Sign-in is unavailable at the moment. Try again in a few minutes."
        return self._render(request, None, "error.html", status=503, message=message)

    # ------------------------------------------------------------------ sign-in

    async def index(self, request: Request) -> Response:
        """``/``: wherever the browser's session belongs."""
        session = self._session(request)
        return self._redirect(request, _place_of(session.stage if session else Stage.ANONYMOUS))

    async def login(self, request: Request) -> Response:
        """Screen 1: user name and password."""
        session = self._session(request)
        if request.method == "GET":
            if session is not None and session.stage is not Stage.ANONYMOUS:
                return self._redirect(request, _place_of(session.stage))
            return self._render(request, session or self.sessions.new(), "login.html")
        form = await self._form(request, session)
        assert session is not None  # noqa: S101  # _form refused a request without one
        account = await self.directory.authenticate(form.get("username", ""), form.get("password", ""))
        if account is None:
            log.info("password rejected")
            return self._render(request, session, "login.html", status=401, error=BAD_SIGN_IN)
        log.info("password accepted user=%s", account.user_id)
        return await self._after_password(request, session, account)

    async def code(self, request: Request) -> Response:
        """Screen 5: one field for an app code or a recovery code."""
        session, account, state = await self._user(request, Stage.SECOND_FACTOR)
        error = None
        if request.method == "POST":
            form = await self._form(request, session)
            result = await self.mfa.verify(account.user_id, form.get("code", "").strip())
            if result.ok:
                return self._signed_in(request, session, account, result)
            error = self._refusal(session, result)
        return self._render(request, session, "code.html", account=account, state=state, error=error)

    async def resync(self, request: Request) -> Response:
        """Screen 6: "Codes not working?": set the phone's clock, or give two consecutive codes."""
        session, account, state = await self._user(request, Stage.SECOND_FACTOR)
        error = None
        if request.method == "POST":
            form = await self._form(request, session)
            codes = [form.get("code1", "").strip(), form.get("code2", "").strip()]
            result = await self.mfa.resync(account.user_id, codes)
            if result.ok:
                session.notices.append("Your codes work again: the server now allows for your phone's clock.")
                return self._signed_in(request, session, account, result)
            error = self._refusal(session, result)
        return self._render(request, session, "resync.html", account=account, state=state, error=error)

    def _signed_in(
        self, request: Request, session: Session, account: Account, result: LoginResult
    ) -> Response:
        if result.method is Method.RECOVERY:
            left = result.recovery_codes_left or 0
            session.notices.append(
                f"You signed in with a recovery code. {left} of them are left; each works once. "
                "Create new ones from the menu under your initials."
            )
        session = self._step_up(session, account, Stage.SIGNED_IN)
        return self._redirect(request, "/home", session)

    def _refusal(self, session: Session, result: LoginResult | PolicyError) -> str:
        """What to tell a user whose code was refused (when locked, the session ends instead)."""
        if result.outcome is Outcome.LOCKED:
            self.sessions.drop(session)
            raise _Locked
        if result.outcome is Outcome.NOT_ENROLLED:  # reset by support meanwhile: start over
            self.sessions.drop(session)
            raise _Redirect("/login")
        if result.outcome is Outcome.THROTTLED:
            return wait_message(result.retry_after)
        if result.outcome is Outcome.BUSY:
            return BUSY
        if result.outcome is Outcome.REPLAYED:
            return REPLAYED
        return NOT_ACCEPTED  # INVALID and MALFORMED alike

    async def logout(self, request: Request) -> Response:
        """Sign out: the session ends here and in the browser."""
        session = self._session(request)
        await self._form(request, session)
        assert session is not None  # noqa: S101  # _form refused a request without one
        self.sessions.drop(session)
        fresh = self.sessions.new()
        fresh.notices.append("You are signed out.")
        return self._redirect(request, "/login", fresh)

    # ------------------------------------------------------------------ signed in

    async def home(self, request: Request) -> Response:
        """Screen 2: the ward list, with the initials and the lock top right."""
        session, account, state = await self._user(request, Stage.SIGNED_IN)
        return self._render(request, session, "home.html", account=account, state=state)

    async def enroll(self, request: Request) -> Response:
        """Screen 3 and 8: "Enable MFA": the QR code, the key for manual entry and the first code."""
        session, account, state = await self._user(request, Stage.SIGNED_IN, Stage.ENROLL)
        if state.status is Status.ENABLED:  # (LOCKED never gets here: _user ends the session)
            session.enrollment = None
            return self._redirect(request, "/home", session)
        if request.method == "POST":
            await self._form(request, session)
            session.enrollment = await self.mfa.begin_enrollment(account.user_id, account=account.email)
            return self._redirect(request, "/mfa/enroll", session)
        enrollment = session.enrollment
        return self._render(
            request,
            session,
            "enroll.html" if enrollment else "enroll_start.html",
            account=account,
            state=state,
            qr=Markup(enrollment.qr_svg()) if enrollment else None,  # noqa: S704  # segno's SVG, no user input
            secret=_groups(enrollment.secret_base32) if enrollment else None,
            mandatory=session.stage is Stage.ENROLL,
        )

    async def confirm(self, request: Request) -> Response:
        """Screen 4: the first code confirms the enrolment; the recovery codes come next.

        Every answer is a redirect, so the back button only ever meets GET pages.
        """
        session, account, _ = await self._user(request, Stage.SIGNED_IN, Stage.ENROLL)
        form = await self._form(request, session)
        if session.enrollment is None:
            session.error = SETUP_EXPIRED
            return self._redirect(request, "/mfa/enroll", session)
        try:
            codes = await self.mfa.confirm_enrollment(account.user_id, form.get("code", "").strip())
        except VerificationError:
            session.error = NOT_ACCEPTED
        except PolicyError as refused:
            if refused.outcome is Outcome.THROTTLED:
                session.error = wait_message(refused.retry_after)
            elif refused.outcome is Outcome.BUSY:
                session.error = BUSY
            else:  # LOCKED: too many wrong codes for this QR code
                session.enrollment = None
                session.error = "Too many codes were not accepted for that QR code. Start again."
        except EnrollmentError:
            session.enrollment = None
            session.error = SETUP_EXPIRED
        else:
            session.enrollment = None
            if session.stage is Stage.ENROLL:  # the code just proved the second factor
                session = self._step_up(session, account, Stage.SIGNED_IN)
            session.fresh_codes = codes
            return self._redirect(request, "/mfa/recovery-codes", session)
        return self._redirect(request, "/mfa/enroll", session)

    async def recovery_codes(self, request: Request) -> Response:
        """Screen 4: the recovery codes, once; a reload or the back button finds them gone."""
        session, account, state = await self._user(request, Stage.SIGNED_IN)
        codes, session.fresh_codes = session.fresh_codes, None
        return self._render(
            request, session, "recovery_codes.html", account=account, state=state, codes=codes
        )

    async def new_recovery_codes(self, request: Request) -> Response:
        """A new recovery set, after a code from the app (the old set stops working)."""
        session, account, state = await self._user(request, Stage.SIGNED_IN)
        error = None
        if request.method == "POST":
            form = await self._form(request, session)
            try:
                codes = await self.mfa.regenerate_recovery_codes(
                    account.user_id, form.get("code", "").strip()
                )
            except ReplayedCode:
                error = REPLAYED
            except VerificationError:
                error = NOT_ACCEPTED
            except PolicyError as refused:  # THROTTLED, LOCKED or BUSY: as for a login
                error = self._refusal(session, refused)
            except EnrollmentError:
                return self._redirect(request, "/home", session)
            else:
                session.fresh_codes = codes
                return self._redirect(request, "/mfa/recovery-codes", session)
        return self._render(request, session, "new_codes.html", account=account, state=state, error=error)

    # ------------------------------------------------------------------ support

    async def _agent(self, request: Request) -> tuple[Session, Account, MfaState]:
        session, account, state = await self._user(request, Stage.SIGNED_IN)
        if account.role is not Role.SUPPORT:
            raise HTTPException(403, "The support console is for the service desk only.")
        return session, account, state

    async def support(self, request: Request) -> Response:
        """Screen 7: find a user, see their MFA state, reset it."""
        session, agent, state = await self._agent(request)
        query = request.query_params.get("q", "")
        target = self.directory.get(request.query_params.get("user", ""))
        return self._render(
            request,
            session,
            "support.html",
            account=agent,
            state=state,
            query=query,
            matches=self.directory.search(query) if query else [],
            target=target,
            target_state=await self.mfa.state(target.user_id) if target else None,
        )

    async def support_reset(self, request: Request) -> Response:
        """Reset a user's MFA with a reason; the actor is the signed-in agent. They must enrol again."""
        session, agent, _ = await self._agent(request)
        form = await self._form(request, session)
        target = self.directory.get(form.get("user", ""))
        if target is None:
            raise HTTPException(404, "No such user.")
        back = f"/support?user={urllib.parse.quote(target.user_id)}"
        if target.user_id == agent.user_id:
            session.notices.append("You cannot reset your own MFA. Ask another member of the service desk.")
            return self._redirect(request, back, session)
        try:
            await self.mfa.reset(
                target.user_id, actor=f"support:{agent.user_id}", reason=form.get("reason", "")
            )
        except ConfigurationError:
            session.notices.append(
                "Give the reason for the reset (the ticket number, how you checked who it is)."
            )
            return self._redirect(request, back, session)
        self.sessions.drop_user(target.user_id)  # whoever holds their sessions must sign in again
        session.notices.append(
            f"MFA for {target.name} was reset. They must set it up again at their next sign-in."
        )
        return self._redirect(request, back, session)


def _place_of(stage: Stage) -> str:
    """The page a session at *stage* belongs on."""
    return {
        Stage.ANONYMOUS: "/login",
        Stage.SECOND_FACTOR: "/login/code",
        Stage.ENROLL: "/mfa/enroll",
        Stage.SIGNED_IN: "/home",
    }[stage]


def _groups(secret: str) -> str:
    """The base32 secret in groups of four, easier to type (authenticator apps ignore the spaces)."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def date_text(when: float | None) -> str:
    """A Unix time as ``2026-01-31 14:05 UTC`` (or a dash)."""
    if when is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
