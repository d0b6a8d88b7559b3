"""The Slack benchmark's baseline: a minimal Bolt app that asks DLI inside its /dliconn handler.

This is the common naive pattern: no cache, and the answer travels in the ack, so every command
waits for a DLI round trip before Slack hears back. It uses our DliClient with AK/SK signing, so
only the architecture differs from the bot. Run as `python -m bench.baseline_bolt_app` with the
bot's environment (PORT, SLACK_*, HUAWEICLOUD_SDK_AK/SK, DLI_PROJECT_ID, DLI_ENDPOINT).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.dli.auth import AkSkAuth
from bot.dli.client import DliClient

_DLI: web.AppKey[DliClient] = web.AppKey("dli", DliClient)


def build_app(dli: DliClient) -> AsyncApp:
    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    @app.command("/dliconn")
    async def dliconn(ack: AsyncAck, command: dict[str, Any]) -> None:
        conn = (await dli.get_connection(str(command["text"]).strip())).value
        await ack(text=f"{conn.name} ({conn.id}) is {conn.status}")

    return app


def dli_client() -> DliClient:
    project_id = os.environ["DLI_PROJECT_ID"]
    auth = AkSkAuth(
        os.environ["HUAWEICLOUD_SDK_AK"], os.environ["HUAWEICLOUD_SDK_SK"], project_id=project_id
    )
    return DliClient(os.environ["DLI_ENDPOINT"], project_id, auth=auth)


async def web_app() -> web.Application:
    dli = dli_client()
    served = build_app(dli).web_app(path="/slack/events")
    served[_DLI] = dli

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close_dli(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[_DLI].aclose()

    served.router.add_get("/healthz", healthz)
    served.cleanup_ctx.append(close_dli)
    return served


def main() -> None:
    # run_app stops gracefully on SIGTERM, which is how the benchmark ends this process.
    web.run_app(
        web_app(), host="127.0.0.1", port=int(os.environ["PORT"]), print=None, access_log=None
    )


if __name__ == "__main__":
    main()
