"""``otpauth://`` provisioning URIs: build them exactly, parse them strictly.

The format is Google's "Key Uri Format" (the de-facto standard every authenticator app
reads): ``otpauth://TYPE/LABEL?PARAMETERS``, with TYPE ``totp`` or ``hotp``, a label
``issuer:account`` and the parameters ``secret``, ``issuer``, ``algorithm``, ``digits``,
``period`` (TOTP) and ``counter`` (HOTP). See ``docs/provisioning.md`` for the rules and
for what the apps actually honour.

Nothing here ever puts a secret, a base32 secret or a URI into an exception message or
a ``repr``: error messages name the part of the URI that is wrong, never its content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, NoReturn
from urllib.parse import quote, unquote_to_bytes, urlsplit

from totpcore._checks import COUNTER_LIMIT, MAX_DIGITS, MIN_DIGITS, check_counter
from totpcore.errors import SecretError, UriError
from totpcore.hotp import HOTP, Algorithm
from totpcore.secret import Secret
from totpcore.totp import MAX_PERIOD, TOTP

__all__ = ["MAX_URI_LENGTH", "ProvisioningUri", "build_uri", "parse_uri"]

#: The longest URI accepted, in characters, checked before any other work. A QR code
#: holds at most 2953 bytes, and a URI with the largest accepted secret (1024 bytes,
#: 1639 base32 characters) still fits with room for long names.
MAX_URI_LENGTH: Final = 4096

_SCHEME: Final = "otpauth"
_TYPES: Final = {"totp": TOTP, "hotp": HOTP}
_DEFAULT_DIGITS: Final = 6
_DEFAULT_PERIOD: Final = 30
_KNOWN: Final = frozenset({"secret", "issuer", "algorithm", "digits", "period", "counter", "image"})
# The longest decimal each number may be written with: 2**64 - 1 has 20 digits.
_COUNTER_CHARS: Final = 20
_PERIOD_CHARS: Final = 3

# C0 controls, DEL and C1 controls: never part of a name an app displays. Surrogates
# cannot be encoded in UTF-8, so they cannot be in a URI either.
_RAW_FORBIDDEN: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A "%" that does not start a two-hex-digit escape (RFC 3986 §2.1).
_BAD_ESCAPE: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
# The Key Uri Format ABNF: label = accountname / issuer (":" / "%3A") *"%20" accountname
_SEPARATOR: Final = re.compile(r":|%3[Aa]")
_LEADING_SPACES: Final = re.compile(r"\A(?:%20| )+")


@dataclass(frozen=True, slots=True, eq=False)
class ProvisioningUri:
    """What :func:`parse_uri` found in an ``otpauth://`` URI.

    Two results compare equal only if they are the same object: compare the fields, and
    the OTPs by their codes, when that is what you mean.

    Attributes:
        otp: a :class:`TOTP` (``t0`` is always 0: the format has no such parameter) or
            an :class:`HOTP`, holding the secret.
        account: the account name of the label, percent-decoded.
        issuer: the ``issuer`` parameter, else the issuer prefix of the label, or ``None``.
        counter: the HOTP counter (0 when the URI has none); ``None`` for a TOTP.
        image: the ``image`` parameter if it is an https URL (some apps show it as a
            logo), else ``None``.
        unknown_parameters: every other parameter as ``(name, value)`` pairs, decoded, in
            the order of the URI. They are kept for the caller to inspect, never acted on.
            The ``repr`` shows their names only.
    """

    otp: TOTP | HOTP
    account: str
    issuer: str | None = None
    counter: int | None = None
    image: str | None = None
    unknown_parameters: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        names = tuple(name for name, _ in self.unknown_parameters)
        return (
            f"ProvisioningUri({self.otp!r}, account={self.account!r}, issuer={self.issuer!r}, "
            f"counter={self.counter!r}, image={self.image!r}, unknown_parameters={names!r})"
        )

    def to_uri(self) -> str:
        """Return the canonical URI of this result with :func:`build_uri`.

        Unknown parameters are not carried over: :func:`build_uri` writes only what
        totpcore understands. For a result of :func:`parse_uri` this never raises, and
        ``parse_uri(result.to_uri())`` gives the same fields and secret.

        Raises:
            UriError: as :func:`build_uri`, for example for a leading space in the account
                of a result constructed directly.
        """
        return build_uri(
            self.otp, account=self.account, issuer=self.issuer, counter=self.counter, image=self.image
        )


# ---------------------------------------------------------------------------- build


def build_uri(
    otp: TOTP | HOTP,
    *,
    account: str,
    issuer: str | None = None,
    counter: int | None = None,
    image: str | None = None,
) -> str:
    """Return the ``otpauth://`` URI that provisions *otp* in an authenticator app.

    The label is ``issuer:account`` and the ``issuer`` parameter repeats the prefix, as
    the Key Uri Format recommends. An issuer that contains a colon is written in the
    ``issuer`` parameter only, with the account alone as the label: in the label its
    colon could not be told from the separator. Issuer and account are percent-encoded
    with nothing left raw but ``A-Z a-z 0-9 - . _ ~`` (RFC 3986 §2.3), so a space is
    ``%20`` (never ``+``) and none of ``/ ? # & = + @ % :`` can end the label or start a
    parameter.
    The secret is base32 without padding; ``algorithm``, ``digits`` and ``period`` are
    written only when they differ from SHA1, 6 and 30; ``counter`` always for an HOTP.

    Args:
        otp: the :class:`TOTP` or :class:`HOTP` to provision.
        account: the account name the app shows, for example the user's e-mail address.
        issuer: the service name the app shows and groups by; strongly recommended.
        counter: the next HOTP counter. Required for an HOTP, refused for a TOTP.
        image: an ``https://`` URL of a logo, for the apps that show one.

    Raises:
        TypeError: *otp* is neither a TOTP nor an HOTP, or a name or the image is not a
            ``str``.
        UriError: a name is empty or contains a control character; the account contains
            a colon (the format forbids it) or starts with a space (the format strips it);
            *counter* is missing for an HOTP or given for a TOTP; the TOTP has a ``t0``
            other than 0 (the format cannot say so); the image is not an https URL; or
            the URI would be longer than :data:`MAX_URI_LENGTH`.
        ConfigurationError: *counter* is outside ``0 .. 2**64 - 1``.
    """
    kind, settings = _describe(otp, counter)
    _check_name("account", account)
    if ":" in account:
        raise UriError("the account contains a colon, which the otpauth format forbids in names")
    if account.startswith(" "):
        raise UriError("the account starts with a space, which the format strips after the issuer")
    if issuer is not None:
        _check_name("issuer", issuer)
    if image is not None:
        _check_image(image)
    uri = _write(kind, otp.secret, account, issuer, settings, image)
    if len(uri) > MAX_URI_LENGTH:
        raise UriError(f"the URI would be {len(uri)} characters; at most {MAX_URI_LENGTH} are accepted")
    return uri


def _write(
    kind: str,
    secret: Secret,
    account: str,
    issuer: str | None,
    settings: list[tuple[str, str]],
    image: str | None,
) -> str:
    """Return the URI of checked parts (see :func:`build_uri`), whatever its length."""
    label = _encode(account)
    parameters = [("secret", secret.to_base32())]
    if issuer is not None:
        if ":" not in issuer:
            label = f"{_encode(issuer)}:{label}"
        parameters.append(("issuer", issuer))
    parameters += settings
    if image is not None:
        parameters.append(("image", image))
    query = "&".join(f"{name}={_encode(value)}" for name, value in parameters)
    return f"{_SCHEME}://{kind}/{label}?{query}"


def _describe(otp: object, counter: object) -> tuple[str, list[tuple[str, str]]]:
    """Return the type of *otp* and its parameters that differ from the defaults."""
    settings: list[tuple[str, str]] = []
    if isinstance(otp, TOTP):
        if counter is not None:
            raise UriError("counter is for an HOTP URI; a TOTP URI has none")
        if otp.t0 != 0:
            raise UriError("the otpauth format has no t0 parameter: only a TOTP with t0=0 can be provisioned")
        kind = "totp"
    elif isinstance(otp, HOTP):
        if counter is None:
            raise UriError("an HOTP URI needs counter=: the next counter the app should use")
        kind = "hotp"
    else:
        raise TypeError(f"otp must be a totpcore.TOTP or totpcore.HOTP, not {type(otp).__name__}")
    if otp.algorithm is not Algorithm.SHA1:
        settings.append(("algorithm", otp.algorithm.value))
    if otp.digits != _DEFAULT_DIGITS:
        settings.append(("digits", str(otp.digits)))
    if isinstance(otp, HOTP):
        settings.append(("counter", str(check_counter(counter))))
    elif otp.period != _DEFAULT_PERIOD:
        settings.append(("period", str(otp.period)))
    return kind, settings


def _encode(text: str) -> str:
    # safe="" leaves only RFC 3986 unreserved characters raw; non-ASCII becomes UTF-8 %XX.
    return quote(text, safe="")


def _check_name(what: str, name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise UriError(f"the {what} is empty")
    if _RAW_FORBIDDEN.search(name):
        raise UriError(f"the {what} contains a control character or a lone surrogate")


def _check_image(image: object) -> None:
    """Refuse *image* unless it is an absolute ``https://`` URL with a host."""
    if not isinstance(image, str):
        raise TypeError(f"image must be a str, not {type(image).__name__}")
    if _RAW_FORBIDDEN.search(image):
        raise UriError("the image URL contains a control character")
    if not _is_https_url(image):
        raise UriError("the image must be an absolute https:// URL")


def _is_https_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:  # for example an unclosed "[" in the host
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


# ---------------------------------------------------------------------------- parse


def parse_uri(uri: str, *, allow_short: bool = False) -> ProvisioningUri:
    """Parse an ``otpauth://`` URI as written by authenticator apps and their peers.

    Accepted: a label with or without an issuer prefix; a literal ``:`` or ``%3A``
    separator, with optional spaces before the account; lower-case base32, with or
    without ``=`` padding; parameters in any order; ``+`` for a space in a parameter
    (``application/x-www-form-urlencoded``, as cryptography writes the issuer); upper- or
    lower-case scheme, type and algorithm; an empty ``issuer=`` (treated as absent).
    What real producers write is read too, with the ``issuer`` parameter as the issuer:
    a label prefix that differs from it only in case, or in ``+`` for a space; a colon
    inside the issuer (``Text%3A%20More%20Text:alice``, as pyotp writes it) when the
    parameter names that issuer; an HOTP URI without ``counter`` (counter 0, as
    ``google-authenticator -c`` writes it). An ``image`` that is not an https URL is
    dropped. Unknown parameters are kept in :attr:`ProvisioningUri.unknown_parameters`.

    Whatever parses also builds: :meth:`ProvisioningUri.to_uri` never raises for the
    result, and parsing its output gives the same fields.

    Args:
        uri: the URI, at most :data:`MAX_URI_LENGTH` characters.
        allow_short: accept a secret of 10 to 15 bytes, to import a legacy enrollment
            (the Key Uri Format's own example has a 10-byte secret). See :class:`Secret`.

    Raises:
        TypeError: *uri* is not a ``str``.
        UriError: the URI is too long, or would be once written by :func:`build_uri`
            (raw non-ASCII text grows when percent-encoded); contains a control
            character; has another scheme or type, a fragment, a malformed ``%`` escape
            or invalid UTF-8; has no label or account, an empty issuer prefix, or more
            than one separator in the label that the issuer parameter does not explain;
            has a missing, malformed or too short secret (the :class:`SecretError` is
            chained); an issuer parameter that names another issuer than the label
            prefix; digits other than 6, 7 or 8; a period outside 1 to 120; a counter
            that is not a decimal below 2**64 (or a counter on a TOTP, a period on an
            HOTP); another algorithm than SHA1, SHA256 or SHA512; a parameter without
            ``=``, or a parameter given twice (in any case). The message never contains
            the URI, the secret or any other value from the URI.
    """
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    if len(uri) > MAX_URI_LENGTH:
        raise UriError(f"the URI is {len(uri)} characters; at most {MAX_URI_LENGTH} are accepted")
    bad = _RAW_FORBIDDEN.search(uri)
    if bad is not None:
        raise UriError(f"character {bad.start() + 1} of the URI is a control character or a lone surrogate")
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != _SCHEME:
        raise UriError("not an otpauth URI: the scheme must be otpauth://")
    if "#" in rest:
        raise UriError("an otpauth URI has no fragment ('#')")
    if not rest.startswith("//"):
        raise UriError("an otpauth URI starts with otpauth://TYPE/")
    authority, slash, rest = rest[2:].partition("/")
    kind, query_first, _ = authority.partition("?")
    otp_class = _TYPES.get(kind.lower())
    if otp_class is None:
        raise UriError("the type of an otpauth URI must be totp or hotp")
    if not slash or query_first:
        raise UriError("the URI has no label (otpauth://TYPE/LABEL?PARAMETERS)")
    label, _, query = rest.partition("?")
    parameters, unknown = _parse_query(query)
    issuer = parameters.get("issuer") or None  # an empty issuer= says nothing
    prefix, account = _parse_label(label, issuer)
    result = _assemble(otp_class, account, issuer or prefix, parameters, unknown, allow_short=allow_short)
    # What parses must build: the canonical form (non-ASCII is escaped there) must fit too.
    type_name, settings = _describe(result.otp, result.counter)
    length = len(_write(type_name, result.otp.secret, account, result.issuer, settings, result.image))
    if length > MAX_URI_LENGTH:
        raise UriError(
            f"written canonically the URI is {length} characters; at most {MAX_URI_LENGTH} are allowed"
        )
    return result


def _parse_label(label: str, issuer: str | None) -> tuple[str | None, str]:
    """Return the issuer prefix (or ``None``) and the account of a raw label.

    The account follows the last separator. A separator before that belongs to the
    issuer, which is accepted only when the issuer parameter names that issuer.
    """
    separators = list(_SEPARATOR.finditer(label))
    if not separators:
        prefix, account = None, label
    else:
        last = separators[-1]
        prefix = _decode(label[: last.start()], "the issuer prefix of the label")
        if not prefix:
            raise UriError("the issuer prefix of the label is empty")
        if not _names(prefix, issuer):
            if len(separators) > 1:
                raise UriError(
                    "the label has more than one ':' or '%3A' that the issuer parameter does not explain"
                )
            if issuer is not None:
                raise UriError("the issuer parameter differs from the issuer prefix of the label")
        account = label[last.end() :]
    account = _decode(_LEADING_SPACES.sub("", account, count=1), "the account")
    if not account:
        raise UriError("the label has no account name")
    return prefix, account


def _names(prefix: str, issuer: str | None) -> bool:
    """Whether the label prefix names *issuer*: case aside, and with ``+`` read as a space."""
    if issuer is None:
        return False
    wanted = issuer.casefold()
    return wanted in {prefix.casefold(), prefix.replace("+", " ").casefold()}


def _parse_query(query: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Return the known parameters by name and the unknown ones in order, all decoded."""
    known: dict[str, str] = {}
    unknown: list[tuple[str, str]] = []
    seen: set[str] = set()
    for field in query.split("&"):
        if not field:  # "a=1&&b=2" or a trailing "&": nothing there
            continue
        raw_name, equals, raw_value = field.partition("=")
        if not equals:
            raise UriError("a parameter has no '=' (expected name=value)")
        name = _decode(raw_name, "a parameter name", form=True)
        if not name:
            raise UriError("a parameter has an empty name")
        folded = name.lower()
        if folded in seen:
            which = f"the {folded} parameter" if folded in _KNOWN else "an unknown parameter"
            raise UriError(f"{which} appears more than once")
        seen.add(folded)
        if folded in _KNOWN:
            if name != folded:
                raise UriError(f"parameter names are lower case: write {folded}")
            known[name] = _decode(raw_value, f"the {name} parameter", form=True)
        else:
            unknown.append((name, _decode(raw_value, "an unknown parameter", form=True)))
    return known, unknown


def _decode(text: str, what: str, *, form: bool = False) -> str:
    """Percent-decode *text* as UTF-8; with *form*, ``+`` is a space first."""
    if form:
        text = text.replace("+", " ")
    if _BAD_ESCAPE.search(text):
        raise UriError(f"{what} has a '%' that does not start a %XX escape")
    try:
        decoded = unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        # Not chained: the UnicodeDecodeError holds the bytes, which may be the secret.
        raise UriError(f"{what} is not UTF-8 once percent-decoded") from None
    if _CONTROL.search(decoded):
        raise UriError(f"{what} contains a control character once percent-decoded")
    return decoded


def _assemble(
    otp_class: type[TOTP | HOTP],
    account: str,
    issuer: str | None,
    parameters: dict[str, str],
    unknown: list[tuple[str, str]],
    *,
    allow_short: bool,
) -> ProvisioningUri:
    """Check the parameters against the type and build the result."""
    secret = _secret(parameters.get("secret", ""), allow_short=allow_short)
    algorithm = _algorithm(parameters.get("algorithm"))
    digits = _number(parameters.get("digits", "6"), "digits", MIN_DIGITS, MAX_DIGITS, 1)
    image = parameters.get("image")
    if image is not None and not _is_https_url(image):
        image = None  # a logo the app must not fetch: dropped, the URI is still good
    if otp_class is TOTP:
        if "counter" in parameters:
            raise UriError("a TOTP URI has no counter parameter; is it an HOTP URI?")
        period = _number(parameters.get("period", "30"), "period", 1, MAX_PERIOD, _PERIOD_CHARS)
        otp: TOTP | HOTP = TOTP(secret, digits=digits, period=period, algorithm=algorithm)
        counter = None
    else:
        if "period" in parameters:
            raise UriError("an HOTP URI has no period parameter; is it a TOTP URI?")
        counter = _number(parameters.get("counter", "0"), "counter", 0, COUNTER_LIMIT - 1, _COUNTER_CHARS)
        otp = HOTP(secret, digits=digits, algorithm=algorithm)
    return ProvisioningUri(
        otp,
        account,
        issuer=issuer,
        counter=counter,
        image=image,
        unknown_parameters=tuple(unknown),
    )


def _secret(text: str, *, allow_short: bool) -> Secret:
    if not text:
        raise UriError("the URI has no secret parameter")
    try:
        return Secret.from_base32(text, allow_short=allow_short)
    except SecretError as exc:
        # SecretError messages name positions and lengths, never the secret; a short
        # secret's message already names allow_short=True, which parse_uri takes too.
        raise UriError(f"bad secret parameter: {exc}") from exc


def _algorithm(text: str | None) -> Algorithm:
    if text is None:
        return Algorithm.SHA1
    try:
        return Algorithm[text.upper()]
    except KeyError:
        raise UriError("the algorithm parameter must be SHA1, SHA256 or SHA512") from None


def _number(text: str, name: str, low: int, high: int, max_chars: int) -> int:
    """Return the ASCII decimal *text* if it is in ``low .. high``; never ``int()`` on junk."""
    if not (0 < len(text) <= max_chars and text.isascii() and text.isdigit()):
        _bad_number(name, low, high)
    value = int(text)
    if not low <= value <= high:
        _bad_number(name, low, high)
    return value


def _bad_number(name: str, low: int, high: int) -> NoReturn:
    raise UriError(f"the {name} parameter must be a decimal number from {low} to {high}")
