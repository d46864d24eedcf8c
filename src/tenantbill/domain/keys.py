"""Idempotency keys: a call made twice with one key happens once.

A host retries an HTTP request; a billing engine re-sends a usage event. The
first call with a key claims it in the same transaction as its change, with a
fingerprint of its arguments; a later call with the same key and the same
arguments gets what the first one made, and with other arguments a clear
:class:`~tenantbill.errors.IdempotencyConflict`.
"""

from __future__ import annotations

import hashlib

import attrs

from tenantbill.domain.text import one_line

__all__ = ["KeyRecord", "fingerprint", "idempotency_key_of"]


@attrs.frozen
class KeyRecord:
    """A claimed key: the fingerprint of the call that claimed it, and the id of what it made."""

    fingerprint: str
    result: str | None = None


def fingerprint(*parts: object) -> str:
    """A stable hash of a call's arguments (their ``repr``, which attrs values make exact)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def idempotency_key_of(value: object) -> str:
    """A caller's idempotency key: one line of at most 200 characters, or :class:`InvalidInput`."""
    return one_line(value, "an idempotency key", max_length=200)
