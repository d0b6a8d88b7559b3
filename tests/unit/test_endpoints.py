"""Huawei Cloud hosts by region: API base URLs and the DLI console page, EU sovereign included."""

from __future__ import annotations

import pytest

from bot.dli.endpoints import api_base_url, console_url


@pytest.mark.parametrize(
    ("service", "region", "expected"),
    [
        ("dli", "cn-north-4", "https://dli.cn-north-4.myhuaweicloud.com"),
        ("iam", "ap-southeast-1", "https://iam.ap-southeast-1.myhuaweicloud.com"),
        ("dli", "eu-west-101", "https://dli.eu-west-101.myhuaweicloud.eu"),
        ("iam", "eu-west-101", "https://iam.eu-west-101.myhuaweicloud.eu"),
    ],
)
def test_api_base_url(service: str, region: str, expected: str) -> None:
    assert api_base_url(service, region) == expected


def test_console_url_names_the_region_on_huaweis_console() -> None:
    assert console_url("cn-north-4") == (
        "https://console.huaweicloud.com/dli/?region=cn-north-4#/main/datasource/enhanced"
    )
    # The EU sovereign region has a console host of its own.
    assert console_url("eu-west-101") == (
        "https://console.eu.huaweicloud.com/dli/?region=eu-west-101#/main/datasource/enhanced"
    )


def test_a_malformed_region_cannot_change_the_console_page() -> None:
    url = console_url("x&y=1#/evil")
    assert url.startswith("https://console.huaweicloud.com/dli/?region=x%26y%3D1%23%2Fevil#/main/")
