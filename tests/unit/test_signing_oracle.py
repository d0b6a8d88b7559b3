"""AkSkAuth against Huawei's official signer on generated requests: same Authorization, same URI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dli.auth import AkSkAuth
from bot.dli.signing import sdk_date


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """huaweicloudsdkcore's signer module, imported with HOME pointing at a throwaway folder."""
    with pytest.MonkeyPatch.context() as env:
        # The SDK writes ~/.huaweicloud on import; keep it out of the real home.
        env.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        yield pytest.importorskip("huaweicloudsdkcore.signer.signer")


@pytest.fixture(scope="module")
def sdk_request_type(official: ModuleType) -> Any:
    return pytest.importorskip("huaweicloudsdkcore.sdk_request").SdkRequest


NON_ASCII = "é中ü€😀"
# Path segments: anything but the characters that end a path, with the awkward ones made likely.
segment = st.text(
    alphabet=st.one_of(
        st.sampled_from(
            [" ", "~", "%", "+", "=", "&", ":", "@", "!", "$", "'", "(", "*", *NON_ASCII]
        ),
        st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/?#"),
    ),
    max_size=8,
    # URL handling removes dot segments before anything is signed or sent, so a request path
    # never carries one (and the client refuses ids that would make one).
).filter(lambda s: s not in {".", ".."})
query_text = st.text(
    alphabet=st.one_of(
        st.sampled_from([" ", "~", "%", "+", "=", "&", "#", "/", *NON_ASCII]),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=8,
)
# Repeated keys come from drawing keys out of a small pool.
query_pairs = st.lists(
    st.tuples(st.one_of(st.sampled_from(["limit", "name", "a", ""]), query_text), query_text),
    max_size=6,
)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
body = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=64),
    json_value.map(lambda value: json.dumps(value).encode()),
)
key_text = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=1
)


@settings(
    max_examples=300,
    deadline=None,
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    host=st.sampled_from(["dli.cn-north-4.myhuaweicloud.com", "127.0.0.1", "Dli.Example.EU"]),
    port=st.sampled_from([None, 443, 8443]),
    segments=st.lists(segment, min_size=1, max_size=4),
    pairs=query_pairs,
    content=body,
    content_type=st.sampled_from(
        [None, "application/json", "application/json;charset=UTF-8", "text/plain", "image/png"]
    ),
    project_id=st.none() | st.just("0123456789abcdef0123456789abcdef"),
    security_token=st.none() | key_text,
    access_key=key_text,
    secret_key=key_text,
    when=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
)
def test_authorization_matches_the_official_signer(
    official: ModuleType,
    sdk_request_type: Any,
    method: str,
    host: str,
    port: int | None,
    segments: list[str],
    pairs: list[tuple[str, str]],
    content: bytes,
    content_type: str | None,
    project_id: str | None,
    security_token: str | None,
    access_key: str,
    secret_key: str,
    when: datetime,
) -> None:
    path = "/v2.0/" + "/".join(segments)
    netloc = host if port is None else f"{host}:{port}"
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type and not content_type.startswith("application/json"):
        # What the official SDK sends with a non-JSON body: the gateway signs this value
        # instead of the body's hash.
        headers["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD"
    auth = AkSkAuth(
        access_key,
        secret_key,
        project_id=project_id,
        security_token=security_token,
        clock=lambda: when,
    )
    sent: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(capture)) as client:
        client.request(
            method,
            f"https://{netloc}{path}",
            params=tuple(pairs),
            content=content,
            headers=headers,
            auth=auth,
        )
    (wire,) = sent
    wire_path = wire.url.raw_path.partition(b"?")[0].decode()
    if "%" not in path:
        assert unquote(wire_path) == path

    official_headers = {"X-Sdk-Date": sdk_date(when), **headers}
    if project_id:
        official_headers["X-Project-Id"] = project_id
    if security_token:
        official_headers["X-Security-Token"] = security_token
    expected = sdk_request_type(
        method=method,
        schema="https",
        # The official SDK sends the configured host as is; the default port never appears.
        host=netloc.lower().removesuffix(":443"),
        resource_path=wire_path,
        query_params=list(pairs),
        header_params=official_headers,
        body=content,
    )
    official.Signer(SimpleNamespace(ak=access_key, sk=secret_key)).sign(expected)

    assert wire.headers["Authorization"] == expected.header_params["Authorization"]
    assert wire.url.raw_path.decode() == expected.uri
    assert wire.headers["Host"] == expected.host
