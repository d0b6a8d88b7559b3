"""What a DLI connection id looks like: the one rule the parser, the finder and the client use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

#: Longest id the client will send; far beyond a UUID's 36, short of anything absurd.
MAX_ID_CHARS: Final = 128

# DLI gives every enhanced datasource connection a UUID, and shows it lower-case.
_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID: Final = re.compile(_UUID)
# Alphanumeric neighbours mean the hex is part of something longer; `_`, `-`, `/`, `=` and
# formatting characters are how ids sit in italics, names, URLs and query strings.
_ID_IN_TEXT: Final = re.compile(rf"(?<![0-9A-Za-z]){_UUID}(?![0-9A-Za-z])")
# What may go into a URL path as one segment untouched: no `/`, `?`, `#`, `%`, blanks, no `.` or
# `..` segment. Looser than a UUID on purpose (see `sendable`).
_SENDABLE: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_ID_CHARS - 1}}}")


def is_id(value: str) -> bool:
    """Whether `value` is a connection id, in any case (no surrounding blanks)."""
    return _ID.fullmatch(value) is not None


def is_canonical_id(value: str) -> bool:
    """Whether `value` is a connection id in the form `normalise_id` gives."""
    return is_id(value) and value == value.lower()


def normalise_id(connection_id: str) -> str:
    """The canonical form: case and surrounding blanks carry no meaning in an id."""
    return connection_id.strip().lower()


def find_ids(text: str) -> Iterator[str]:
    """Every connection id standing on its own in free text, normalised, in order (repeats
    included)."""
    return (normalise_id(m.group()) for m in _ID_IN_TEXT.finditer(text))


def mentions_id(text: str) -> bool:
    """Whether free text contains a connection id standing on its own."""
    return _ID_IN_TEXT.search(text) is not None


def sendable(connection_id: str) -> bool:
    """Whether the client may put `connection_id` in a request path as it is.

    Every id is; so are other plain tokens (ids of fakes, or of a future DLI format), which DLI
    then answers for. Anything else cannot name a connection and is never sent: no path games,
    and no signature mismatch from ids the gateway would normalise differently.
    """
    return _SENDABLE.fullmatch(connection_id) is not None
