"""Babel's extractor for the diagnosis catalogue: its titles, causes and checks are msgids."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, Final

#: The fields of a catalogue entry a person reads (the rest are patterns, ids and sources).
TRANSLATED_FIELDS: Final = ("title", "cause", "checks")

Extracted = tuple[int, str, str, list[str]]


def catalogue_messages(
    source: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Sequence[str],
    options: Mapping[str, Any],
) -> Iterator[Extracted]:
    """(line, function, msgid, comments) for every translated field of every entry, in the
    order the file has them; the line is the entry's `id =` line, so a translator can find it."""
    text = source.read().decode("utf-8")
    id_lines = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("id = ")]
    entries = tomllib.loads(text).get("entries", [])
    for line, entry in zip(id_lines, entries, strict=False):
        note = [f"diagnosis catalogue entry {entry.get('id', '?')}"]
        for field in TRANSLATED_FIELDS:
            found = entry.get(field)
            for message in found if isinstance(found, list) else [found]:
                if isinstance(message, str):
                    yield line, "_", message, note
