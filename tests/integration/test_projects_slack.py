"""Two projects through the real Bolt app: a dliconn.toml, two fake DLI gateways with their own
keys and regions, channel scopes. Requests are signed and sent over HTTP as Slack sends them."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from bot.local.fake_dli import FakeDli, Fault
from tests.fakes.chat import text_of
from tests.fakes.dli import (
    IN_PROD,
    IN_SG,
    SG_PROJECT,
    TWIN_PROD,
    TWIN_SG,
    dli_requests,
    running_fake,
)
from tests.fakes.slack_stack import ACCESS_KEY, PROJECT_ID, SECRET_KEY, SlackStack, slack_stack

SG_AK: Final = "SGAK-TEST-ONLY-5678"
SG_SK: Final = "sg-secret-key-not-real-0f9e8d7c"
PAYMENTS: Final = "C0PAYMENTS"  # sees prod only
PLATFORM: Final = "C0PLATFORM"  # not in the file: sees every project
TEAM: Final = "C0TEAM"  # every project; alerts for connections tagged team=payments


def connection(
    connection_id: str, name: str, *, failed: bool = False, tags: dict[str, str] | None = None
) -> dict[str, Any]:
    queue = {
        "name": f"{name}_queue",
        "status": "FAILED" if failed else "ACTIVE",
        "err_msg": "Failed to connect to specified address" if failed else "",
        "peer_id": "p",
        "update_time": 1_700_000_000_000,
    }
    return {
        "id": connection_id,
        "name": name,
        "status": "ACTIVE",
        "available_queue_info": [queue],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    }


@dataclass
class Two:
    stack: SlackStack
    sg: FakeDli


def write_config(path: Path, prod_url: str, sg_url: str) -> None:
    path.write_text(
        f"""
[projects.prod]
region = "cn-north-4"
project_id = "{PROJECT_ID}"
endpoint = "{prod_url}"
ak = "{ACCESS_KEY}"
sk = "{SECRET_KEY}"

[projects.sg]
region = "ap-southeast-3"
project_id = "{SG_PROJECT}"
endpoint = "{sg_url}"
ak = "{SG_AK}"
sk = "{SG_SK}"

[channels.{PAYMENTS}]
projects = ["prod"]
watch_all = true

[channels.{TEAM}]
watch_tags = {{ team = "payments" }}
""",
        encoding="utf-8",
    )
    os.chmod(path, 0o600)


@pytest.fixture
async def two(key_prefix: str, tmp_path: Path) -> AsyncIterator[Two]:
    async with AsyncExitStack() as exits:
        sg = await exits.enter_async_context(
            running_fake(
                [
                    connection(IN_SG, "payments-sg", failed=True, tags={"team": "payments"}),
                    connection(TWIN_SG, "twin", tags={"team": "search"}),
                ],
                project_id=SG_PROJECT,
                credentials={SG_AK: SG_SK},
            )
        )
        config = tmp_path / "dliconn.toml"
        # The prod fake's URL is known once the stack runs; its replica reads the file on start.
        stack = await exits.enter_async_context(
            slack_stack(
                key_prefix,
                [connection(IN_PROD, "orders"), connection(TWIN_PROD, "twin")],
                DLICONN_CONFIG=str(config),
                start_replica=False,
            )
        )
        write_config(config, stack.dli.url, sg.url)
        await stack.add_replica()
        yield Two(stack, sg)


def without_request_id(text: str) -> str:
    return re.sub(r"request id [0-9a-f]+", "request id <rid>", text)


async def ask(two: Two, text: str, channel: str) -> str:
    _, reply_to = await two.stack.command(text, channel=channel)
    [reply] = await two.stack.replies(reply_to)
    return text_of(reply)


async def test_a_card_from_either_project_names_its_project_and_region(two: Two) -> None:
    card = await ask(two, IN_SG, PLATFORM)

    assert "payments-sg" in card
    assert "sg · ap-southeast-3" in card
    assert "Failed to connect to specified address" in card


async def test_a_scoped_channel_gets_the_unknown_id_answer_and_the_project_is_never_asked(
    two: Two,
) -> None:
    unknown = await ask(two, "99999999-9999-4999-8999-999999999999", PAYMENTS)
    two.sg.clear_requests()

    out_of_scope = await ask(two, IN_SG, PAYMENTS)

    assert "payments-sg" not in out_of_scope and "FAILED" not in out_of_scope
    # Word for word the answer an unknown id gets, but for the id and DLI's request id.
    assert without_request_id(out_of_scope.replace(IN_SG, "<id>")) == without_request_id(
        unknown.replace("99999999-9999-4999-8999-999999999999", "<id>")
    )
    assert dli_requests(two.sg) == []


async def test_the_list_is_grouped_by_project_and_scoped(two: Two) -> None:
    everywhere = await ask(two, "list", PLATFORM)
    scoped = await ask(two, "list", PAYMENTS)

    # Grouped: each connection under its project's line; the project with a FAILED one first.
    sg, prod = everywhere.index("sg · ap-southeast-3"), everywhere.index("prod · cn-north-4")
    assert sg < everywhere.index("payments-sg") < prod < everywhere.index("orders")
    assert "payments-sg" not in scoped and "sg · ap-southeast-3" not in scoped
    assert "orders" in scoped


async def test_a_name_in_both_projects_is_a_shortlist_with_badges_and_a_prefix_picks_one(
    two: Two,
) -> None:
    shortlist = await ask(two, "twin", PLATFORM)
    picked = await ask(two, "sg/twin", PLATFORM)

    assert TWIN_PROD in shortlist and TWIN_SG in shortlist
    assert "prod · cn-north-4" in shortlist and "sg · ap-southeast-3" in shortlist
    assert TWIN_SG in picked and TWIN_PROD not in picked


async def test_a_project_that_cannot_be_reached_is_named_beside_a_not_found(two: Two) -> None:
    two.sg.inject(Fault.server_error(503))

    reply = await ask(two, "99999999-9999-4999-8999-999999999999", PLATFORM)

    assert "Not found in prod; sg could not be asked (DLI is unreachable)" in reply


async def test_route_says_which_channels_would_be_alerted_and_why(two: Two) -> None:
    watched = await ask(two, f"watch {IN_SG}", PLATFORM)
    assert "Watching" in watched
    # Subscribed before its channel's scope left sg out: it gets nothing, and route says so.
    await two.stack.services.subscriptions.subscribe(PAYMENTS, IN_SG, "payments-sg", "U0BOB")

    route = await ask(two, f"route {IN_SG}", PLATFORM)

    assert "would alert 2 channels" in route
    assert f"👀 #{PLATFORM} — watched by @U1 since" in route
    assert f"🏷️ #{TEAM} — connections tagged team=payments (watch_tags)" in route
    assert f"🚫 #{PAYMENTS} — watched by @U0BOB" in route
    assert "gets nothing: its scope leaves this project out" in route
    assert "Project sg · ap-southeast-3" in route


async def test_route_of_a_prod_connection_names_the_watch_all_channel(two: Two) -> None:
    route = await ask(two, "route orders", PAYMENTS)

    assert "would alert 1 channel" in route
    assert f"#{PAYMENTS} — every connection of the project (watch_all)" in route
    assert f"#{TEAM}" not in route  # orders carries no team=payments tag
