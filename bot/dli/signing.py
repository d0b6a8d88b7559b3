"""Huawei Cloud "SDK-HMAC-SHA256" AK/SK signing, shared by the client and the fake gateway."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
# A caller may opt out of hashing the body by sending this header (the official SDK does for
# non-JSON bodies); the gateway then signs the header's value in the payload hash's place.
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Headers the HTTP stack or a proxy may add, drop or rewrite on the way: signing them would make
# requests fail for reasons that have nothing to do with credentials.
UNSIGNED_HEADERS = frozenset(
    {"accept", "accept-encoding", "connection", "content-length", "transfer-encoding", "user-agent"}
)


def _enc(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment percent-encoded, with the trailing slash the gateway expects."""
    # One quote over the whole path encodes every segment alike: "/" only ever separates them.
    encoded = quote(unquote(path), safe="/~")
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs sorted by key then value, each side percent-encoded; also the exact wire query."""
    return "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(pairs))


def signed_header_names(headers: Iterable[str]) -> list[str]:
    names = {h.lower() for h in headers if "_" not in h}
    return sorted(names - UNSIGNED_HEADERS)


def string_to_sign(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed: list[str],
    body: bytes,
) -> str:
    lowered = {k.lower(): str(v).strip() for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed)
    payload_hash = EMPTY_SHA256
    if body:
        payload_hash = lowered.get(CONTENT_HASH_HEADER.lower()) or hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    return f"{ALGORITHM}\n{lowered[DATE_HEADER.lower()]}\n{digest}"


def signature(secret_key: str, to_sign: str) -> str:
    return hmac.digest(secret_key.encode(), to_sign.encode(), "sha256").hex()


def authorization(
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes = b"",
) -> str:
    """The `Authorization` value for a request whose headers already hold Host and X-Sdk-Date."""
    signed = signed_header_names(headers)
    to_sign = string_to_sign(method, path, query, headers, signed, body)
    return (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature(secret_key, to_sign)}"
    )


def sdk_date(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime(DATE_FORMAT)


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """(access key, signed header names, signature) from an Authorization value, or None."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    try:
        return fields["Access"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError:
        return None
