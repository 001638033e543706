"""The sdist and the wheel carry the MIT licence the metadata declares."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

import pytest
from hatchling import build

ROOT = Path(__file__).resolve().parent.parent
LICENSE = (ROOT / "LICENSE").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built in process by the project's build backend."""
    out = tmp_path_factory.mktemp("dist")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        return {
            "sdist": out / build.build_sdist(str(out)),
            "wheel": out / build.build_wheel(str(out)),
        }


def test_licence_text() -> None:
    """LICENSE is the MIT licence, held by the totpcore developers."""
    assert LICENSE.startswith("MIT License\n\nCopyright (c) 2026 totpcore developers\n")
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in LICENSE


def test_sdist_ships_the_licence(archives: dict[str, Path]) -> None:
    """The sdist has LICENSE at its top level, unchanged."""
    with tarfile.open(archives["sdist"]) as sdist:
        member = next(name for name in sdist.getnames() if name.count("/") == 1 and name.endswith("/LICENSE"))
        handle = sdist.extractfile(member)
        assert handle is not None
        assert handle.read().decode("utf-8") == LICENSE


def test_wheel_ships_the_licence(archives: dict[str, Path]) -> None:
    """The wheel has LICENSE under dist-info/licenses, and its metadata says MIT and names the file."""
    with zipfile.ZipFile(archives["wheel"]) as wheel:
        names = wheel.namelist()
        licence = next(name for name in names if name.endswith(".dist-info/licenses/LICENSE"))
        assert wheel.read(licence).decode("utf-8") == LICENSE
        metadata = wheel.read(next(name for name in names if name.endswith(".dist-info/METADATA")))
    lines = metadata.decode("utf-8").splitlines()
    assert "License-Expression: MIT" in lines
    assert "License-File: LICENSE" in lines
