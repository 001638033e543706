"""totpcore.qr: every rendering decodes back to the exact URI with a real QR decoder (zxing-cpp).

The PNG is read by a small PNG reader below (standard library only, CRCs checked), the SVG
by rasterising its path, the terminal text by mapping its block characters back to
modules; the pixels then go to zxing-cpp, which knows nothing of segno or totpcore.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from xml.etree import ElementTree as ET

import pytest
import zxingcpp
from hypothesis import given, settings

from totpcore import HOTP, TOTP, Algorithm, ConfigurationError, Secret, UriError, build_uri, qr
from uri_strategies import Provisioning, provisionings

SVG_NS = "{http://www.w3.org/2000/svg}"
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


def decode(width: int, height: int, pixels: bytes) -> list[str]:
    """Every QR code zxing-cpp finds in 8-bit grey *pixels*; any other symbology fails."""
    found = zxingcpp.read_barcodes(memoryview(pixels).cast("B", (height, width)))
    assert all(barcode.format == zxingcpp.BarcodeFormat.QRCode for barcode in found)
    return [barcode.text for barcode in found]


def upscale(modules: list[list[bool]], factor: int = 4) -> tuple[int, int, bytes]:
    """Pixels of a module grid (True = dark), *factor* pixels per module."""
    rows = [bytes(0 if dark else 255 for dark in row for _ in range(factor)) for row in modules]
    return (
        len(modules[0]) * factor,
        len(modules) * factor,
        b"".join(row for row in rows for _ in range(factor)),
    )


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Decode a 1-bit greyscale PNG (filters None and Up, as segno writes) to 8-bit grey."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: list[tuple[bytes, bytes]] = []
    position = 8
    while position < len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack_from(">I", data, position + 8 + length)
        assert zlib.crc32(kind + body) == crc
        chunks.append((kind, body))
        position += 12 + length
    assert [chunks[0][0], chunks[-1][0]] == [b"IHDR", b"IEND"]
    width, height, *layout = struct.unpack(">2I5B", chunks[0][1])
    assert layout == [1, 0, 0, 0, 0]  # bit depth 1, greyscale, deflate, adaptive filters, no interlace
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = (width + 7) // 8
    previous = bytes(stride)
    pixels = bytearray()
    for y in range(height):
        filter_type, scanline = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        assert filter_type in {0, 2}
        if filter_type == 2:  # Up: add the byte above
            scanline = bytes((a + b) & 0xFF for a, b in zip(scanline, previous, strict=True))
        previous = scanline
        pixels += bytes(255 if scanline[x >> 3] >> (7 - (x & 7)) & 1 else 0 for x in range(width))
    return width, height, bytes(pixels)


def read_svg(document: str) -> tuple[int, list[list[bool]]]:
    """Return the scale and the module grid of segno's SVG: a white square, then dark lines."""
    root = ET.fromstring(document)  # noqa: S314  # our own output, not untrusted XML
    assert root.tag == f"{SVG_NS}svg"
    # segno wraps the paths in <g transform="scale(n)"> unless the scale is 1.
    group = root[0] if root[0].tag == f"{SVG_NS}g" else root
    scale = int(re.fullmatch(r"scale\((\d+)\)", group.get("transform", "scale(1)"))[1])  # type: ignore[index]
    size = int(root.get("width", "")) // scale
    assert int(root.get("height", "")) == size * scale
    background, lines = group
    assert (background.get("fill"), background.get("d")) == ("#fff", f"M0 0h{size}v{size}h-{size}z")
    assert lines.get("stroke") == "#000"
    modules = [[False] * size for _ in range(size)]
    x = y = 0.0
    tokens = re.findall(r"[A-Za-z]|-?\d+(?:\.\d+)?", lines.get("d", ""))
    while tokens:
        command = tokens.pop(0)
        if command in {"M", "m"}:
            dx, dy = float(tokens.pop(0)), float(tokens.pop(0))
            x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
        else:
            assert command == "h", command
            length = float(tokens.pop(0))
            for column in range(int(x), int(x + length)):
                modules[int(y)][column] = True
            x += length
    return scale, modules


TERMINAL_CELLS = {"█": (False, False), "▀": (False, True), "▄": (True, False), " ": (True, True)}


def read_terminal(text: str) -> list[list[bool]]:
    """Return the module grid (True = dark) of half-block text: drawn halves are light modules."""
    modules: list[list[bool]] = []
    for line in text.splitlines():
        cells = [TERMINAL_CELLS[character] for character in line]
        modules += [[top for top, _ in cells], [bottom for _, bottom in cells]]
    return modules


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
