"""Reading QR codes back: segno's PNG, SVG and terminal renderings to pixels, pixels to text with zxing-cpp.

Standard library only (CRCs checked), plus zxing-cpp, which knows nothing of segno or totpcore.
"""

from __future__ import annotations

import re
import struct
import zlib
from xml.etree import ElementTree as ET

import zxingcpp

SVG_NS = "{http://www.w3.org/2000/svg}"


def decode(width: int, height: int, pixels: bytes) -> list[str]:
    """Every QR code zxing-cpp finds in 8-bit grey *pixels*; any other 2-D symbology fails.

    Only 2-D symbologies are searched: zxing-cpp can read a stretch of a QR code's modules
    as a short ITF or Codabar bar code, which says nothing about the QR code.
    """
    image = memoryview(pixels).cast("B", (height, width))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.AllMatrix))
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


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The (type, body) chunks of a PNG, each CRC checked, from IHDR to IEND."""
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
    return chunks


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """Decode a 1-bit greyscale PNG (filters None and Up, as segno writes) to 8-bit grey."""
    chunks = png_chunks(data)
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
