"""QR codes of ``otpauth://`` URIs for the enrollment screen (extra ``qr``: segno).

Install with ``pip install 'totpcore[qr]'``. ``import totpcore`` never imports this module
or segno; segno is imported on the first call.

A QR code of a provisioning URI **is the secret**: anyone who photographs it can compute
every code. Send it with ``Cache-Control: no-store``, never log or cache it, and stop
showing it once the enrollment is confirmed.

Every function takes the URI from :func:`totpcore.build_uri`, checks that it looks like
one (an ASCII ``otpauth://`` string), and renders a regular QR code (never a Micro QR
code, which authenticator apps do not read) with the 4-module quiet zone of ISO/IEC
18004 §6.3.8, at error correction level L raised as far as the symbol size allows.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Final

from totpcore._checks import check_int
from totpcore.errors import UriError

if TYPE_CHECKING:
    import segno

__all__ = ["INSTALL_HINT", "png", "svg", "terminal"]

#: The command named by the error raised when segno is missing.
INSTALL_HINT: Final = "pip install 'totpcore[qr]'"
#: ISO/IEC 18004 §6.3.8: the quiet zone around a QR code is four modules wide.
_QUIET_ZONE: Final = 4
_MAX_SCALE: Final = 100


def svg(uri: str, *, scale: int = 4) -> str:
    """Return the QR code of *uri* as an SVG document, without an XML declaration.

    Black modules on a white background (a transparent one would vanish on a dark page).
    The result embeds as-is in HTML5 and also stands alone as an ``.svg`` file.

    Args:
        uri: an ``otpauth://`` URI, as built by :func:`totpcore.build_uri`.
        scale: the size of one module in CSS pixels (the image stays vector).

    Raises:
        ImportError: segno is not installed; the message names :data:`INSTALL_HINT`.
        TypeError: *uri* is not a ``str`` or *scale* not an ``int``.
        UriError: *uri* is not an ASCII ``otpauth://`` URI, or too long for a QR code.
        ConfigurationError: *scale* is outside 1 to 100.
    """
    return _image(uri, scale, "svg", xmldecl=False, nl=False).decode("utf-8")


def png(uri: str, *, scale: int = 8) -> bytes:
    """Return the QR code of *uri* as a black-on-white PNG image.

    Args:
        uri: an ``otpauth://`` URI, as built by :func:`totpcore.build_uri`.
        scale: the size of one module in pixels.

    Raises:
        ImportError: segno is not installed; the message names :data:`INSTALL_HINT`.
        TypeError: *uri* is not a ``str`` or *scale* not an ``int``.
        UriError: *uri* is not an ASCII ``otpauth://`` URI, or too long for a QR code.
        ConfigurationError: *scale* is outside 1 to 100.
    """
    return _image(uri, scale, "png")


def terminal(uri: str) -> str:
    """Return the QR code of *uri* drawn with Unicode block characters, for a terminal.

    Each character covers two modules, one above the other (``█ ▀ ▄`` and space), so
    the code is roughly square in a usual terminal font. Light modules are drawn and
    dark ones left blank: it reads correctly on a dark background, like
    ``qrencode -t UTF8``. On a light background it shows inverted, which most phone
    scanners still read.

    Raises:
        ImportError: segno is not installed; the message names :data:`INSTALL_HINT`.
        TypeError: *uri* is not a ``str``.
        UriError: *uri* is not an ASCII ``otpauth://`` URI, or too long for a QR code.
    """
    out = io.StringIO()
    _symbol(uri).terminal(out=out, border=_QUIET_ZONE, compact=True)
    return out.getvalue()


def _image(uri: str, scale: int, kind: str, **options: object) -> bytes:
    """Render *uri* as a *kind* image: black on white, with the quiet zone, *scale* per module."""
    buffer = io.BytesIO()
    _symbol(uri).save(
        buffer,
        kind=kind,
        scale=check_int("scale", scale, 1, _MAX_SCALE),
        border=_QUIET_ZONE,
        dark="#000",
        light="#fff",
        **options,
    )
    return buffer.getvalue()


def _symbol(uri: str) -> segno.QRCode:
    """Return the QR code of *uri*, after importing segno and checking *uri*."""
    try:
        import segno  # noqa: PLC0415  # an optional extra: imported on first use only
    except ImportError as exc:
        raise ImportError(
            f"totpcore.qr needs the optional dependency segno: {INSTALL_HINT}", name="segno"
        ) from exc
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    # Not a full parse (that is totpcore.uri's job, a module beside this one): enough to
    # catch a secret or another string passed by mistake. build_uri output is ASCII.
    if not uri.isascii() or uri[:10].lower() != "otpauth://":
        raise UriError("a QR code is rendered only for an ASCII otpauth:// URI from build_uri")
    try:
        return segno.make(uri, error="l", micro=False, boost_error=True)
    except segno.DataOverflowError:
        raise UriError(f"a URI of {len(uri)} characters does not fit in a QR code") from None
