"""Secrets sealed at rest with AES-256-GCM (totpcore.sealing.KeyRing)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from totpcore import ConfigurationError, RecordError, StoreError
from totpcore.sealing import KEY_BYTES, KeyRing

SECRET = b"12345678901234567890"


@pytest.fixture
def ring() -> KeyRing:
    """A ring with one fixed key."""
    return KeyRing({"k1": bytes(range(32))}, "k1")


class TestSealing:
    """seal/unseal round trips and fails closed."""

    @given(plaintext=st.binary(max_size=256), user=st.text(min_size=1, max_size=40))
    def test_round_trip(self, plaintext: bytes, user: str) -> None:
        """unseal(seal(x)) == x for any bytes and any user id."""
        ring = KeyRing({"k1": bytes(range(32))}, "k1")
        assert ring.unseal(ring.seal(plaintext, user_id=user), user_id=user) == plaintext

    def test_blob_holds_no_plaintext_and_a_fresh_nonce(self, ring: KeyRing) -> None:
        """The secret does not appear in the blob, and sealing twice gives two blobs."""
        one, two = ring.seal(SECRET, user_id="alice"), ring.seal(SECRET, user_id="alice")
        assert SECRET not in one
        assert one != two
        assert len(one) == 2 + 2 + 12 + len(SECRET) + 16  # header, key id, nonce, ciphertext, tag

    def test_contexts_are_separate_and_bounded(self, ring: KeyRing) -> None:
        """A blob sealed for one context opens for that context only; a context is at most 65535 bytes."""
        blob = ring.seal(SECRET, user_id="alice", context=b"recovery-digest:0")
        assert ring.unseal(blob, user_id="alice", context=b"recovery-digest:0") == SECRET
        for other in (b"", b"recovery-digest:1"):
            with pytest.raises(RecordError):
                ring.unseal(blob, user_id="alice", context=other)
        longest = bytes(65535)
        blob = ring.seal(SECRET, user_id="alice", context=longest)
        assert ring.unseal(blob, user_id="alice", context=longest) == SECRET
        with pytest.raises(ConfigurationError, match="at most 65535 bytes"):
            ring.seal(SECRET, user_id="alice", context=bytes(65536))

    @pytest.mark.parametrize(
        ("sealed_as", "opened_as"),
        [
            (("a", "bc", b""), ("ab", "c", b"")),
            (("k1", "alice", b""), ("k2", "alice", b"")),
            (("k1", "alice", b"x"), ("k1", "alice", b"")),
            (("k1", "bc", b"a"), ("k1", "c", b"ab")),
            (("a", "bc", b"x"), ("ab", "c", b"x")),
            (("k1", "alice", b"x"), ("k1", "alice", b"x\x00")),
        ],
        ids=[
            "key id/user",
            "key id",
            "context/none",
            "context/user",
            "key id/user with context",
            "context length",
        ],
    )
    def test_associated_data_has_one_reading(
        self, sealed_as: tuple[str, str, bytes], opened_as: tuple[str, str, bytes]
    ) -> None:
        """Under the same key bytes a blob opens for its own key id, user and context, never another split."""
        blob = _ring_named(sealed_as[0]).seal(SECRET, user_id=sealed_as[1], context=sealed_as[2])
        assert _open_as(blob, *sealed_as) == SECRET
        with pytest.raises(RecordError, match="failed authentication"):
            _open_as(blob, *opened_as)

    def test_wrong_user(self, ring: KeyRing) -> None:
        """A blob copied to another user's row does not open (user id is associated data)."""
        blob = ring.seal(SECRET, user_id="alice")
        with pytest.raises(StoreError, match="another user"):
            ring.unseal(blob, user_id="mallory")

    @pytest.mark.parametrize("position", [0, 1, 2, 5, 10, 20, -1])
    def test_tampering(self, ring: KeyRing, position: int) -> None:
        """Flipping any byte, header included, is detected."""
        blob = bytearray(ring.seal(SECRET, user_id="alice"))
        blob[position] ^= 0x01
        with pytest.raises((StoreError, ConfigurationError)):
            ring.unseal(bytes(blob), user_id="alice")

    @pytest.mark.parametrize(
        "blob",
        [b"", b"\x01", b"\x02\x02k1" + bytes(40), b"\x01\x02k1" + bytes(10), b"\x01\x02\xff\xfe" + bytes(40)],
    )
    def test_malformed(self, ring: KeyRing, blob: bytes) -> None:
        """Truncated, unknown-version and garbage blobs raise StoreError."""
        with pytest.raises(StoreError):
            ring.unseal(blob, user_id="alice")

    def test_unknown_key_id(self, ring: KeyRing) -> None:
        """A blob under a key the ring lacks names the key id, so the operator can load it."""
        other = KeyRing({"k9": bytes(32)}, "k9")
        with pytest.raises(RecordError, match="'k9'"):
            ring.unseal(other.seal(SECRET, user_id="alice"), user_id="alice")

    @pytest.mark.parametrize("user", ["", None, 5])
    def test_user_id_required(self, ring: KeyRing, user: object) -> None:
        """The user id binding cannot be skipped."""
        with pytest.raises(ConfigurationError, match="user_id"):
            ring.seal(SECRET, user_id=user)  # type: ignore[arg-type]


class TestRotation:
    """Re-sealing under a new current key."""

    def test_rotated_ring_reseals(self, ring: KeyRing) -> None:
        """A rotated ring opens old blobs, seals new ones under the new key, and reseals."""
        old = ring.seal(SECRET, user_id="alice")
        new_ring = ring.rotated("k2")
        assert new_ring.current == "k2"
        assert new_ring.key_ids == ("k1", "k2")
        assert new_ring.needs_reseal(old)
        resealed = new_ring.reseal(old, user_id="alice")
        assert new_ring.key_id_of(resealed) == "k2"
        assert not new_ring.needs_reseal(resealed)
        assert new_ring.unseal(resealed, user_id="alice") == SECRET

    def test_rotating_to_an_existing_id(self, ring: KeyRing) -> None:
        """A key id is never reused."""
        with pytest.raises(ConfigurationError, match="already"):
            ring.rotated("k1")


class TestConstruction:
    """Key rings are validated when built."""

    @pytest.mark.parametrize(
        ("keys", "current", "message"),
        [
            ({}, "k1", "at least one"),
            ({"k1": bytes(16)}, "k1", "32 bytes"),
            ({"k1": "x" * 32}, "k1", "32 bytes"),
            ({"bad id!": bytes(32)}, "bad id!", "key ids"),
            ({"k1": bytes(32)}, "k2", "not in the key ring"),
        ],
    )
    def test_invalid(self, keys: dict[str, bytes], current: str, message: str) -> None:
        """Empty rings, short keys, bad ids and a missing current key are refused."""
        with pytest.raises(ConfigurationError, match=message):
            KeyRing(keys, current)

    def test_generate(self) -> None:
        """generate() makes one random 32-byte key, current."""
        one, two = KeyRing.generate(), KeyRing.generate("main")
        assert one.current.startswith("k-")
        assert two.current == "main"
        assert one.to_json() != KeyRing.generate(one.current).to_json()

    def test_repr_shows_ids_only(self, ring: KeyRing) -> None:
        """The repr never shows key material."""
        assert repr(ring) == "KeyRing(current='k1', key_ids=['k1'])"


class TestPersistence:
    """JSON, files with mode 0600, and environment variables."""

    def test_json_round_trip(self, ring: KeyRing) -> None:
        """to_json/from_json keep keys and the current id."""
        again = KeyRing.from_json(ring.to_json())
        assert again.unseal(ring.seal(SECRET, user_id="u"), user_id="u") == SECRET
        assert json.loads(ring.to_json())["current"] == "k1"

    def test_file_is_created_0600(self, ring: KeyRing, tmp_path: Path) -> None:
        """save() creates the file readable by its owner only, and refuses to overwrite."""
        path = tmp_path / "keys.json"
        ring.save(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert KeyRing.from_file(path).current == "k1"
        with pytest.raises(ConfigurationError, match="cannot create"):
            ring.save(path)

    def test_save_links_a_hidden_temporary(
        self, ring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """save() writes the ring to .<name>.<16 hex digits>.tmp beside the file, links it, removes it."""
        links: list[tuple[Path, Path, str]] = []
        real_link = os.link

        def link(source: Path, target: Path) -> None:
            links.append((Path(source), Path(target), Path(source).read_text(encoding="utf-8")))
            real_link(source, target)

        monkeypatch.setattr(os, "link", link)
        path = tmp_path / "keys.json"
        ring.save(path)
        ((source, target, content),) = links
        assert source.parent == tmp_path
        assert re.fullmatch(r"\.keys\.json\.[0-9a-f]{16}\.tmp", source.name)
        assert (target, content) == (path, ring.to_json())  # whole before it is linked
        assert [entry.name for entry in tmp_path.iterdir()] == ["keys.json"]

    def test_save_keeps_an_existing_file(self, ring: KeyRing, tmp_path: Path) -> None:
        """An existing file is neither replaced nor changed, and no temporary file is left."""
        path = tmp_path / "keys.json"
        path.write_text("kept", encoding="utf-8")
        with pytest.raises(ConfigurationError, match=r"cannot create the key file .*File exists"):
            ring.save(path)
        assert path.read_text(encoding="utf-8") == "kept"
        assert [entry.name for entry in tmp_path.iterdir()] == ["keys.json"]

    @pytest.mark.parametrize("step", ["fsync", "link"])
    def test_a_failed_save_leaves_no_file(
        self, ring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
    ) -> None:
        """When flushing or linking fails, save() raises ConfigurationError and leaves no file at all."""

        def fail(*_: object) -> None:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

        monkeypatch.setattr(os, step, fail)
        with pytest.raises(ConfigurationError, match=r"cannot create the key file .*Input/output error"):
            ring.save(tmp_path / "keys.json")
        assert list(tmp_path.iterdir()) == []

    def test_a_temporary_removed_by_someone_else(
        self, ring: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A temporary file already gone when save() cleans up (a cleaner took it) does not fail the save."""
        real_link = os.link

        def link_then_remove(source: Path, target: Path) -> None:
            real_link(source, target)
            Path(source).unlink()

        monkeypatch.setattr(os, "link", link_then_remove)
        path = tmp_path / "keys.json"
        ring.save(path)
        assert KeyRing.from_file(path).current == "k1"

    def test_missing_file(self, tmp_path: Path) -> None:
        """An unreadable key file is a one-line ConfigurationError."""
        with pytest.raises(ConfigurationError, match="cannot read the key file"):
            KeyRing.from_file(tmp_path / "absent.json")

    def test_key_file_that_is_not_utf8(self, tmp_path: Path) -> None:
        """Bytes that are not UTF-8 are a ConfigurationError, not a UnicodeDecodeError."""
        path = tmp_path / "keys.json"
        path.write_bytes(b'{"current": "k1", "keys": {"k1": "\xff\xfe"}}')
        path.chmod(0o600)
        with pytest.raises(ConfigurationError, match="not UTF-8") as caught:
            KeyRing.from_file(path)
        assert "\\xff" not in str(caught.value)

    def test_env(self, ring: KeyRing, monkeypatch: pytest.MonkeyPatch) -> None:
        """from_env reads TOTPCORE_KEYRING, or another variable."""
        monkeypatch.setenv("TOTPCORE_KEYRING", ring.to_json())
        assert KeyRing.from_env().current == "k1"
        monkeypatch.delenv("TOTPCORE_KEYRING")
        with pytest.raises(ConfigurationError, match="not set"):
            KeyRing.from_env()

    @pytest.mark.parametrize(
        "text",
        [
            "not json",
            "[]",
            '{"current": "k1"}',
            '{"current": 1, "keys": {}}',
            '{"current": "k1", "keys": {"k1": "@@@"}}',
        ],
    )
    def test_bad_json(self, text: str) -> None:
        """Malformed rings are refused without echoing key material."""
        with pytest.raises(ConfigurationError) as caught:
            KeyRing.from_json(text)
        assert "@@@" not in str(caught.value)

    def test_key_length_constant(self) -> None:
        """AES-256."""
        assert KEY_BYTES == 32
        assert len(os.urandom(KEY_BYTES)) == 32


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
class TestKeyFileAccess:
    """from_file loads only a regular file no one but its owner can read or write, as ssh does."""

    @pytest.fixture
    def key_file(self, ring: KeyRing, tmp_path: Path) -> Path:
        """The ring saved to keys.json (mode 0600)."""
        path = tmp_path / "keys.json"
        ring.save(path)
        return path

    @pytest.mark.parametrize("mode", [0o600, 0o400, 0o700], ids=oct)
    def test_owner_only_is_loaded(self, key_file: Path, mode: int) -> None:
        """Permissions for the owner alone are fine."""
        key_file.chmod(mode)
        assert KeyRing.from_file(key_file).current == "k1"

    @pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o620, 0o602, 0o610, 0o601, 0o666], ids=oct)
    def test_group_or_others_refused(self, key_file: Path, ring: KeyRing, mode: int) -> None:
        """Any bit of 0o077 is refused; the message names chmod 600 and the path, never a key."""
        key_file.chmod(mode)
        with pytest.raises(ConfigurationError) as caught:
            KeyRing.from_file(key_file)
        message = str(caught.value)
        assert "chmod 600" in message
        assert str(key_file) in message
        assert f"{mode:o}" in message
        for secret in json.loads(ring.to_json())["keys"].values():
            assert secret not in message
        assert key_file.read_text() not in message

    def test_symlink_to_an_owner_only_file(self, key_file: Path, tmp_path: Path) -> None:
        """A symbolic link (as Kubernetes mounts secrets) is judged by the file it points to."""
        link = tmp_path / "link.json"
        link.symlink_to(key_file)
        assert KeyRing.from_file(link).current == "k1"
        key_file.chmod(0o644)
        with pytest.raises(ConfigurationError, match="chmod 600"):
            KeyRing.from_file(link)

    def test_directory_refused(self, tmp_path: Path) -> None:
        """A directory is not a key file."""
        with pytest.raises(ConfigurationError, match="not a regular file"):
            KeyRing.from_file(tmp_path)

    def test_fifo_refused_without_blocking(self, tmp_path: Path) -> None:
        """A named pipe is refused: it is not read (a read would wait for a writer)."""
        fifo = tmp_path / "keys.fifo"
        os.mkfifo(fifo, 0o600)
        with _writer_for_blocked_readers(fifo), pytest.raises(ConfigurationError, match="not a regular file"):
            KeyRing.from_file(fifo)

    def test_device_refused(self) -> None:
        """A character device is not a key file."""
        with pytest.raises(ConfigurationError, match="not a regular file"):
            KeyRing.from_file("/dev/null")


@contextlib.contextmanager
def _writer_for_blocked_readers(fifo: Path) -> Iterator[None]:
    """Open and close *fifo* for writing whenever a reader waits on it, so no reader hangs.

    A reader that opened the pipe then reads end-of-file instead of blocking the suite.
    """
    done = threading.Event()

    def release() -> None:
        while not done.is_set():
            try:  # succeeds only while a reader has the pipe open (ENXIO otherwise)
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                done.wait(0.001)

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _ring_named(key_id: str) -> KeyRing:
    """A ring whose one key, under *key_id*, has the same bytes as every other ring made here."""
    return KeyRing({key_id: bytes(range(32))}, key_id)


def _open_as(blob: bytes, key_id: str, user_id: str, context: bytes) -> bytes:
    """Unseal *blob* with its header rewritten to name *key_id* (the blob layout is documented)."""
    old_end = 2 + blob[1]
    forged = bytes([blob[0], len(key_id)]) + key_id.encode("ascii") + blob[old_end:]
    return _ring_named(key_id).unseal(forged, user_id=user_id, context=context)
