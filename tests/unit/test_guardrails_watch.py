"""The watcher side of the guardrails: a channel gets no alert about a project it cannot see,
even for a connection someone watched there before the channel's scope changed."""

from __future__ import annotations

from pydantic import SecretStr

from bot.config import ChannelConfig, Deployment, ProjectConfig
from bot.services import project_routes
from bot.watch.routes import ProjectSubscriptions
from bot.watch.subscriptions import MemorySubscriptionStore

PROD, STAGING = "0" * 32, "1" * 32
ORDERS = "00000001-0000-4000-8000-000000000001"


def project(alias: str, project_id: str) -> ProjectConfig:
    return ProjectConfig(
        alias=alias, region="cn-north-4", project_id=project_id, ak="a", sk=SecretStr("s")
    )


async def test_a_channel_gets_nothing_about_a_project_it_cannot_see() -> None:
    deployment = Deployment(
        projects=(project("prod", PROD), project("staging", STAGING)),
        channels={
            "C0PROD": ChannelConfig(projects=["prod"], watch_all=True),
            "C0STAGING": ChannelConfig(projects=["staging"], watch_all=True),
        },
    )
    shared = MemorySubscriptionStore()
    # Watched in both channels (C0STAGING's before its scope left prod out).
    await shared.subscribe("C0PROD", ORDERS, "orders", "U1")
    await shared.subscribe("C0STAGING", ORDERS, "orders", "U1")
    await shared.subscribe("C0ANY", ORDERS, "orders", "U1")
    prod = ProjectSubscriptions(shared, project_routes(deployment, "prod"))
    staging = ProjectSubscriptions(shared, project_routes(deployment, "staging"))
    assert (await prod.all_watched())[ORDERS] == {"C0PROD", "C0ANY"}
    assert prod.static_channels == {"C0PROD"}
    assert staging.static_channels == {"C0STAGING"}
    assert (await staging.all_watched())[ORDERS] == {"C0STAGING", "C0ANY"}
