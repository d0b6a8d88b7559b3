"""guarded: each failure becomes an explained, unshareable reply; a bug gets a logged reference."""

from __future__ import annotations

import logging
import re

import pytest

from bot.blocks.message import Message
from bot.blocks.replies import notice
from bot.blocks.text import words
from bot.chat.replies import correlation_id, guarded
from bot.errors import Forbidden, NotFound, StoreUnavailable
from tests.fakes.chat import chat_parts, connection_id, healthy, text_of

REFERENCE = re.compile(r"reference ([0-9a-f]{8})")


async def test_a_result_is_shareable() -> None:
    async def work() -> Message:
        return notice([words("all good")], fallback="all good")

    reply = await guarded("x", work)
    assert reply.shareable
    assert text_of(reply.message) == "all good"


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (NotFound("gone", request_id="req-9"), "No connection orders was found"),
        (Forbidden("no", request_id="req-9"), "may not read DLI connections"),
        (StoreUnavailable("refused"), "storage (Redis) is unreachable"),
    ],
)
async def test_expected_failures_are_explained(error: Exception, meaning: str) -> None:
    async def work() -> Message:
        raise error

    reply = await guarded("orders", work)
    assert not reply.shareable
    assert meaning in text_of(reply.message)
    assert REFERENCE.search(text_of(reply.message)) is None


async def test_an_unexpected_error_gets_a_reference_that_is_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work() -> Message:
        raise KeyError("the bug")

    with caplog.at_level(logging.ERROR, logger="bot.chat.replies"):
        reply = await guarded("orders", work)
    assert not reply.shareable
    text = text_of(reply.message)
    assert "Something went wrong on the bot's side" in text
    found = REFERENCE.search(text)
    assert found is not None
    ref = found.group(1)
    assert ref in reply.message.text  # in the notification too
    [record] = [r for r in caplog.records if ref in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "the bug" not in text


async def test_a_bug_under_a_feature_is_answered_with_a_reference(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = connection_id(1)
    async with chat_parts(healthy(target, "orders")) as parts:
        parts.dli.explode(RuntimeError("bug in the transport"))
        with caplog.at_level(logging.ERROR, logger="bot.chat.replies"):
            reply = await parts.chat.lookups.card(target, ephemeral=True)
    found = REFERENCE.search(text_of(reply.message))
    assert found is not None and not reply.shareable
    assert any(found.group(1) in r.getMessage() for r in caplog.records)


def test_correlation_ids_are_short_and_distinct() -> None:
    ids = {correlation_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{8}", i) for i in ids)
