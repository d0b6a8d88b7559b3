"""The connection-id rule: what an id is, finding ids in text, its canonical form, and what the
client may send."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.dli.ids import (
    MAX_ID_CHARS,
    find_ids,
    is_canonical_id,
    is_id,
    mentions_id,
    normalise_id,
    sendable,
)

CID: Final = "4c693ecc-bab8-4113-a838-129cedc9a563"
UPPER: Final = CID.upper()
uuids = st.uuids().map(str)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (CID, True),
        (UPPER, True),
        ("4C693ecc-BAB8-4113-a838-129cedc9a563", True),
        (CID[:-1], False),
        (CID + "0", False),
        (CID.replace("-", ""), False),
        (CID.replace("c", "g", 1), False),
        (f" {CID}", False),
        ("", False),
        ("orders-mysql", False),
    ],
)
def test_is_id(value: str, expected: bool) -> None:
    assert is_id(value) is expected


def test_only_the_normalised_form_is_canonical() -> None:
    assert is_canonical_id(CID)
    assert not is_canonical_id(UPPER)
    assert not is_canonical_id("orders")


@pytest.mark.parametrize("typed", [UPPER, f"  {CID}\t", f"\n{UPPER} "])
def test_normalise_id_ignores_case_and_blanks(typed: str) -> None:
    assert normalise_id(typed) == CID


@given(uuids, st.sampled_from([str.upper, str.lower, str.title]))
def test_any_id_normalises_to_a_canonical_id(value: str, case: Callable[[str], str]) -> None:
    assert is_canonical_id(normalise_id(case(value)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"is {UPPER} ok? and {CID}", [CID, CID]),
        (f"https://console/x?id={CID}&r=1", [CID]),
        (f"_{CID}_ and `{CID}`", [CID, CID]),
        (f"x{CID}", []),  # part of something longer
        (f"{CID}0", []),
        ("no ids here", []),
    ],
)
def test_find_ids_in_free_text(text: str, expected: list[str]) -> None:
    assert list(find_ids(text)) == expected
    assert mentions_id(text) is bool(expected)


@given(uuids)
def test_every_id_is_sendable(value: str) -> None:
    assert sendable(value) and sendable(value.upper())


@pytest.mark.parametrize("value", ["conn-1.v2_a", "a", "x" * MAX_ID_CHARS])
def test_plain_tokens_are_sendable(value: str) -> None:
    assert sendable(value)


@pytest.mark.parametrize(
    "value", ["", ".", "..", "../x", "a/b", "a?b", "a#b", "%2F", "a b", "ü", "-a", "x" * 129]
)
def test_path_unsafe_values_are_not_sendable(value: str) -> None:
    assert not sendable(value)
