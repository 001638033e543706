r"""Secrets sealed at rest: AES-256-GCM under a key ring, bound to the user they belong to.

RFC 6238 §5.1 recommends "encrypting" the keys held by the validation system, and NIST SP
800-63B §5.1.4.2 says they "SHALL be strongly protected against compromise". A sealed blob
is useless without the key ring, so a database dump or backup holds no usable secret.

Blob layout (version 1)::

    0x01 | len(key_id) (1 byte) | key_id (ASCII) | nonce (12 bytes) | ciphertext + tag (16 bytes)

The associated data is ``b"totpcore-seal\\x01" + key_id + b"\\x00" + user_id`` for a
secret; a blob sealed with a *context* (a recovery-code digest names its index) uses
``b"totpcore-seal-ctx\\x01" + key_id + b"\\x00" + len(context) (2 bytes) + context + user_id``.
A blob copied to another user's row, to another purpose, or with its header altered,
fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from totpcore.errors import ConfigurationError, RecordError

__all__ = ["DEFAULT_ENV_VAR", "KEY_BYTES", "KeyRing"]

#: AES-256.
KEY_BYTES: Final = 32
#: The environment variable :meth:`KeyRing.from_env` reads by default.
DEFAULT_ENV_VAR: Final = "TOTPCORE_KEYRING"
_VERSION: Final = 1
_NONCE_BYTES: Final = 12  # 96-bit random nonce (NIST SP 800-38D §8.2.2)
_TAG_BYTES: Final = 16
_MAX_CONTEXT: Final = 0xFFFF
_KEY_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Non-blocking, so that opening a named pipe does not wait for a writer (it is then refused).
_READ_FLAGS: Final = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)


class KeyRing:
    """The AES-256-GCM keys that seal secrets at rest, and which of them seals new ones.

    Keep old keys in the ring until :meth:`totpcore.MfaService.rotate_keys` has re-sealed
    everything under the current key (``docs/integration.md``, key rotation).

    Args:
        keys: key id -> 32 random bytes. Key ids are 1 to 64 of ``A-Z a-z 0-9 . _ -``.
        current: the key id that seals new secrets.

    Raises:
        ConfigurationError: no keys, a bad key id, a key that is not 32 bytes, or
            *current* not among the keys.
    """

    __slots__ = ("_aead", "_current", "_keys")

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if not keys:
            raise ConfigurationError("a key ring needs at least one key")
        aead: dict[str, AESGCM] = {}
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ConfigurationError(f"key {key_id!r} must be {KEY_BYTES} bytes (AES-256)")
            aead[key_id] = AESGCM(key)
        if current not in aead:
            raise ConfigurationError(f"the current key {current!r} is not in the key ring")
        self._keys = dict(keys)
        self._aead = aead
        self._current = current

    @classmethod
    def generate(cls, key_id: str | None = None) -> KeyRing:
        """Return a ring with one new random key (from :mod:`secrets`), current.

        The key id defaults to ``"k-"`` and 8 random hex digits.
        """
        key_id = key_id if key_id is not None else _new_key_id()
        return cls({key_id: secrets.token_bytes(KEY_BYTES)}, key_id)

    def rotated(self, key_id: str | None = None) -> KeyRing:
        """Return this ring plus one new random key, which becomes current.

        Old keys stay so that existing blobs still open until they are re-sealed.

        Raises:
            ConfigurationError: *key_id* is already in the ring or malformed.
        """
        key_id = key_id if key_id is not None else _new_key_id()
        if key_id in self._keys:
            raise ConfigurationError(f"key id {key_id!r} is already in the key ring")
        return KeyRing({**self._keys, key_id: secrets.token_bytes(KEY_BYTES)}, key_id)

    @property
    def current(self) -> str:
        """The key id that seals new secrets."""
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id in the ring, sorted."""
        return tuple(sorted(self._aead))

    def __repr__(self) -> str:
        return f"KeyRing(current={self._current!r}, key_ids={list(self.key_ids)!r})"

    # -- sealing -----------------------------------------------------------------

    def seal(self, plaintext: bytes, *, user_id: str, context: bytes = b"") -> bytes:
        """Encrypt *plaintext* for *user_id* (and *context*) under the current key, with a fresh nonce.

        Raises:
            ConfigurationError: *user_id* is empty or *context* longer than 65535 bytes.
        """
        key_id = self._current.encode("ascii")
        header = bytes([_VERSION, len(key_id)]) + key_id
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead[self._current].encrypt(nonce, plaintext, _associated(key_id, user_id, context))
        return header + nonce + sealed

    def unseal(self, blob: bytes, *, user_id: str, context: bytes = b"") -> bytes:
        """Decrypt a blob sealed for *user_id* (and *context*).

        Raises:
            RecordError: the blob is malformed, was tampered with, was sealed for another
                user or purpose, or names a key id that is not in this ring. Fail
                closed: never fall back to anything.
        """
        key_id, nonce, sealed = _split(blob)
        aead = self._aead.get(key_id)
        if aead is None:
            raise RecordError(
                f"a stored value is sealed under key {key_id!r}, which is not in the key ring "
                "(keep old keys until rotate_keys() has re-sealed everything)"
            )
        try:
            return aead.decrypt(nonce, sealed, _associated(key_id.encode("ascii"), user_id, context))
        except InvalidTag:
            raise RecordError(
                "a sealed value failed authentication: it was altered or belongs to another user"
            ) from None

    def key_id_of(self, blob: bytes) -> str:
        """Return the key id a blob is sealed under, without decrypting it.

        Raises:
            RecordError: the blob is malformed.
        """
        return _split(blob)[0]

    def needs_reseal(self, blob: bytes) -> bool:
        """Whether *blob* is sealed under another key than the current one."""
        return self.key_id_of(blob) != self._current

    def reseal(self, blob: bytes, *, user_id: str) -> bytes:
        """Return *blob*'s secret sealed under the current key (key rotation).

        Raises:
            RecordError: as :meth:`unseal`.
        """
        return self.seal(self.unseal(blob, user_id=user_id), user_id=user_id)

    # -- loading and saving -------------------------------------------------------

    def to_json(self) -> str:
        """Serialise the ring: ``{"current": id, "keys": {id: base64 key}}``. Keep it secret."""
        keys = {key_id: base64.b64encode(key).decode("ascii") for key_id, key in self._keys.items()}
        return json.dumps({"current": self._current, "keys": keys}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """Load a ring written by :meth:`to_json`.

        Raises:
            ConfigurationError: not valid JSON of that shape, or bad keys. The message
                never contains key material.
        """
        try:
            data = json.loads(text)
        except ValueError:
            raise ConfigurationError("the key ring is not valid JSON") from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("keys"), dict)
            or not isinstance(data.get("current"), str)
        ):
            raise ConfigurationError(
                'a key ring is {"current": "<key id>", "keys": {"<key id>": "<base64>"}}'
            )
        return cls(
            {key_id: _decode_key(key_id, encoded) for key_id, encoded in data["keys"].items()},
            data["current"],
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Load a ring from a JSON file: a regular file that only its owner may access.

        Create it with :meth:`save` (mode 0600), outside the database. On POSIX a key
        file with any permission for its group or others (a bit of 0o077) is refused, as
        OpenSSH refuses such a private key: whoever reads the ring can unseal every
        secret of a copy of the database. The file is opened once and checked on the
        open descriptor, so it cannot be swapped between the check and the read; a named
        pipe or a device is refused without being read. A symbolic link is judged by its
        target.

        Raises:
            ConfigurationError: the file cannot be opened, is not a regular file, is
                accessible by group or others (the message names ``chmod 600`` and the
                path), is not UTF-8, or does not hold a key ring. No message contains
                any of the file's content.
        """
        name = os.fspath(path)
        try:
            fd = os.open(name, _READ_FLAGS)
            try:
                _check_key_file(name, os.fstat(fd).st_mode)
                with os.fdopen(fd, "rb", closefd=False) as handle:
                    data = handle.read()
            finally:
                os.close(fd)
        except OSError as error:
            raise ConfigurationError(f"cannot read the key file {name!r}: {error.strerror}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"the key file {name!r} is not UTF-8 text") from None
        return cls.from_json(text)

    @classmethod
    def from_env(cls, name: str = DEFAULT_ENV_VAR) -> KeyRing:
        """Load a ring from the JSON in environment variable *name*.

        Raises:
            ConfigurationError: the variable is unset or does not hold a key ring.
        """
        text = os.environ.get(name)
        if text is None:
            raise ConfigurationError(f"environment variable {name} is not set")
        return cls.from_json(text)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ring to a new file created with mode 0600 (owner read/write only).

        The file appears whole or not at all: the ring is written and flushed to a hidden
        temporary file beside it (``.<name>.<16 random hex digits>.tmp``, mode 0600), which
        is then linked to *path* (a link never replaces an existing file) and removed,
        also when something fails. So a process that starts at the same moment and reads
        *path* never sees it half written.

        Raises:
            ConfigurationError: the file exists or cannot be created.
        """
        target = Path(path)
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(self.to_json())
                    handle.flush()
                    os.fsync(handle.fileno())
                os.link(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create the key file {os.fspath(path)!r}: {error.strerror}"
            ) from None


def _check_key_file(name: str, mode: int) -> None:
    """Refuse anything but a regular file that its owner alone may access (POSIX mode bits)."""
    if not stat.S_ISREG(mode):
        raise ConfigurationError(f"the key file {name!r} is not a regular file")
    # Windows has no group or other permission bits: access is governed by ACLs there.
    if os.name == "posix" and mode & 0o077:
        raise ConfigurationError(
            f"the key file {name!r} is open to its group or others (mode {stat.S_IMODE(mode):04o}): "
            f"make it readable by its owner only, e.g. chmod 600 {name!r}"
        )


def _new_key_id() -> str:
    return f"k-{secrets.token_hex(4)}"


def _decode_key(key_id: str, encoded: object) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)  # type: ignore[arg-type]  # non-str: TypeError below
    except (binascii.Error, TypeError, ValueError):
        raise ConfigurationError(f"key {key_id!r} is not valid base64") from None


def _check_key_id(key_id: object) -> None:
    if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
        raise ConfigurationError("key ids are 1 to 64 characters from A-Z a-z 0-9 . _ -")


def _associated(key_id: bytes, user_id: str, context: bytes) -> bytes:
    if not isinstance(user_id, str) or not user_id:
        raise ConfigurationError("user_id must be a non-empty str")
    if not context:  # a secret: the layout of the first version, kept so old blobs open
        return b"totpcore-seal" + bytes([_VERSION]) + key_id + b"\x00" + user_id.encode("utf-8")
    if len(context) > _MAX_CONTEXT:
        raise ConfigurationError(f"a sealing context is at most {_MAX_CONTEXT} bytes")
    # Key ids hold no NUL and the context is length-prefixed: no two inputs share a layout.
    return (
        b"totpcore-seal-ctx"
        + bytes([_VERSION])
        + key_id
        + b"\x00"
        + len(context).to_bytes(2, "big")
        + context
        + user_id.encode("utf-8")
    )


def _split(blob: object) -> tuple[str, bytes, bytes]:
    """Return (key id, nonce, ciphertext+tag) of a version-1 blob, or raise RecordError."""
    if not isinstance(blob, bytes) or len(blob) < 2 or blob[0] != _VERSION:
        raise RecordError("not a sealed value (unknown format or version)")
    end = 2 + blob[1]
    if len(blob) < end + _NONCE_BYTES + _TAG_BYTES:
        raise RecordError("a sealed value is truncated")
    try:
        key_id = blob[2:end].decode("ascii")
    except UnicodeDecodeError:
        raise RecordError("a sealed value has a malformed key id") from None
    return key_id, blob[end : end + _NONCE_BYTES], blob[end + _NONCE_BYTES :]
