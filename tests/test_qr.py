"""totpcore.qr: every rendering decodes back to the exact URI with a real QR decoder (zxing-cpp).

The PNG is read by a small PNG reader (tests/qr_support.py, standard library only), the SVG
by rasterising its path, the terminal text by mapping its block characters back to
modules; the pixels then go to zxing-cpp, which knows nothing of segno or totpcore.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings

from qr_support import TERMINAL_CELLS, decode, read_png, read_svg, read_terminal, upscale
from totpcore import HOTP, TOTP, Algorithm, ConfigurationError, Secret, UriError, build_uri, qr
from uri_strategies import Provisioning, provisionings

QUIET_ZONE = 4
URIS = [
    build_uri(TOTP(Secret(b"12345678901234567890")), account="alice@example.com", issuer="Outsmart EMR"),
    build_uri(
        HOTP(Secret(bytes(range(64))), digits=8, algorithm=Algorithm.SHA512),
        account="Zoë Ωmega 日本",
        issuer="Clinique Saint-Éloi",
        counter=2**64 - 1,
        image="https://logo.example/emr.png",
    ),
    "OTPAUTH://TOTP/a?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
]


class TestPng:
    """png(uri) is a black-on-white PNG that scans to the exact URI."""

    @pytest.mark.parametrize("uri", URIS)
    def test_decodes_to_the_uri(self, uri: str) -> None:
        """A real decoder reads exactly the URI back."""
        assert decode(*read_png(qr.png(uri))) == [uri]

    @settings(max_examples=15)
    @given(provisionings())
    def test_decodes_any_built_uri(self, p: Provisioning) -> None:
        """Any URI from build_uri, Unicode names included, survives the QR code."""
        uri = build_uri(p.otp, account=p.account, issuer=p.issuer, counter=p.counter, image=p.image)
        assert decode(*read_png(qr.png(uri))) == [uri]

    @pytest.mark.parametrize("scale", [1, 3, 8])
    def test_size_and_quiet_zone(self, scale: int) -> None:
        """A regular QR symbol (21 + 4k modules, never Micro QR) plus the 4-module quiet zone."""
        width, height, pixels = read_png(qr.png(URIS[0], scale=scale))
        modules = width // scale - 2 * QUIET_ZONE
        assert width == height == (modules + 2 * QUIET_ZONE) * scale
        assert modules >= 21
        assert (modules - 21) % 4 == 0
        border = QUIET_ZONE * scale
        assert set(pixels[: border * width]) == {255}
        assert set(pixels[-border * width :]) == {255}

    def test_default_scale(self) -> None:
        """Eight pixels per module by default."""
        width, _, _ = read_png(qr.png(URIS[0]))
        assert width == read_png(qr.png(URIS[0], scale=1))[0] * 8


class TestSvg:
    """svg(uri) is a standalone SVG document that scans to the exact URI."""

    @pytest.mark.parametrize("uri", URIS)
    def test_decodes_to_the_uri(self, uri: str) -> None:
        """Rasterised, the path reads exactly the URI back."""
        _, modules = read_svg(qr.svg(uri))
        assert decode(*upscale(modules)) == [uri]

    def test_same_modules_as_the_png(self) -> None:
        """SVG and PNG draw the same symbol."""
        _, modules = read_svg(qr.svg(URIS[0]))
        assert upscale(modules, 1) == read_png(qr.png(URIS[0], scale=1))

    @pytest.mark.parametrize(("scale", "expected"), [(None, 4), (1, 1), (10, 10)])
    def test_document(self, scale: int | None, expected: int) -> None:
        """Namespace present, no XML declaration, a white background, four pixels a module by default."""
        document = qr.svg(URIS[0]) if scale is None else qr.svg(URIS[0], scale=scale)
        assert document.startswith('<svg xmlns="http://www.w3.org/2000/svg" ')
        assert read_svg(document)[0] == expected


class TestTerminal:
    """terminal(uri) draws the symbol with half blocks."""

    @pytest.mark.parametrize("uri", URIS)
    def test_decodes_to_the_uri(self, uri: str) -> None:
        """Mapped back to modules, the text reads exactly the URI back."""
        assert decode(*upscale(read_terminal(qr.terminal(uri)))) == [uri]

    def test_only_blocks_and_newlines(self) -> None:
        """Four characters, lines of equal width, two module rows a line."""
        text = qr.terminal(URIS[0])
        assert set(text) <= {*TERMINAL_CELLS, "\n"}
        lines = text.splitlines()
        assert len({len(line) for line in lines}) == 1
        _, modules = read_svg(qr.svg(URIS[0]))
        assert len(lines) == (len(modules) + 1) // 2
        assert len(lines[0]) == len(modules)


class TestRefuses:
    """Only an otpauth URI becomes a QR code."""

    @pytest.mark.parametrize("render", [qr.svg, qr.png, qr.terminal])
    @pytest.mark.parametrize(
        "text",
        [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "https://example.com/",
            "otpauth:/totp/a?secret=GEZDGNBVGY3TQOJQ",
            "otpauth://totp/é?secret=A",
        ],
    )
    def test_not_an_ascii_otpauth_uri(self, render: object, text: str) -> None:
        """A secret, another URL or non-ASCII text is refused, without repeating it."""
        with pytest.raises(UriError, match="otpauth://") as caught:
            render(text)  # type: ignore[operator]
        assert text not in str(caught.value)

    @pytest.mark.parametrize("render", [qr.svg, qr.png, qr.terminal])
    def test_not_a_str(self, render: object) -> None:
        """The URI is a str."""
        with pytest.raises(TypeError, match="uri must be a str"):
            render(URIS[0].encode())  # type: ignore[operator]

    def test_too_long_for_a_qr_code(self) -> None:
        """Beyond a version 40 symbol's capacity: UriError, not segno's exception."""
        uri = "otpauth://totp/a?secret=" + "A" * 3000
        with pytest.raises(UriError, match="does not fit") as caught:
            qr.png(uri)
        assert uri not in str(caught.value)
        assert caught.value.__cause__ is None

    @pytest.mark.parametrize("render", [qr.svg, qr.png])
    @pytest.mark.parametrize("scale", [0, 101])
    def test_scale_out_of_range(self, render: object, scale: int) -> None:
        """Scale is 1 to 100."""
        with pytest.raises(ConfigurationError, match="scale"):
            render(URIS[0], scale=scale)  # type: ignore[operator]

    def test_scale_of_the_wrong_type(self) -> None:
        """Scale is an int."""
        with pytest.raises(TypeError, match="scale"):
            qr.png(URIS[0], scale=2.5)  # type: ignore[arg-type]


class TestOptionalDependency:
    """segno is an extra: missing, it is named with the install command."""

    @pytest.mark.parametrize("render", [qr.svg, qr.png, qr.terminal])
    def test_missing_segno(self, render: object, monkeypatch: pytest.MonkeyPatch) -> None:
        """ImportError naming pip install 'totpcore[qr]', chained to the original."""
        monkeypatch.setitem(sys.modules, "segno", None)
        with pytest.raises(ImportError, match=re.escape("pip install 'totpcore[qr]'")) as caught:
            render(URIS[0])  # type: ignore[operator]
        assert caught.value.name == "segno"
        assert isinstance(caught.value.__cause__, ImportError)
        assert qr.INSTALL_HINT == "pip install 'totpcore[qr]'"

    def test_import_totpcore_does_not_load_qr(self) -> None:
        """`import totpcore` loads neither totpcore.qr nor segno."""
        probe = "import sys, totpcore; print([m for m in ('totpcore.qr', 'segno') if m in sys.modules])"
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "[]"
