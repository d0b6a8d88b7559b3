"""Where Huawei Cloud serves a region: its API hosts (DLI, IAM) and its DLI console page."""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

#: The EU sovereign region, which Huawei serves from domains of its own.
EU_SOVEREIGN_REGION: Final = "eu-west-101"

# The console's page listing enhanced datasource connections. It has no documented link to one
# connection, so the card's id is what a person looks for there.
_CONSOLE_PAGE: Final = "dli/?region={region}#/main/datasource/enhanced"


def api_base_url(service: str, region: str) -> str:
    """A service's API base URL in `region`, e.g. `https://dli.cn-north-4.myhuaweicloud.com`."""
    domain = "myhuaweicloud.eu" if region == EU_SOVEREIGN_REGION else "myhuaweicloud.com"
    return f"https://{service}.{region}.{domain}"


def console_url(region: str) -> str:
    """The DLI console's enhanced datasource connection page for `region`."""
    host = (
        "console.eu.huaweicloud.com" if region == EU_SOVEREIGN_REGION else "console.huaweicloud.com"
    )
    return f"https://{host}/" + _CONSOLE_PAGE.format(region=quote(region, safe=""))
