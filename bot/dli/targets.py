"""What a connectivity test may name: a queue (one path segment) and an address `host[:port]`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from bot.i18n import N_

MAX_QUEUE_CHARS: Final = 128
MAX_ADDRESS_CHARS: Final = 260
MAX_PORT: Final = 65535

# DLI queue and elastic resource pool names: letters, digits and `_` (`-` tolerated), starting
# with a letter or digit. Nothing in them needs encoding, so no path games are possible.
_QUEUE: Final = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_QUEUE_CHARS - 1}}}")
# One label of a domain name (RFC 1123): no leading or trailing hyphen.
_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DIGITS: Final = re.compile(r"[0-9]+")
_DOTTED_DIGITS: Final = re.compile(r"[0-9.]+")


def is_queue_name(name: str) -> bool:
    """Whether `name` can be a queue's (or pool's) name, and so go into a request path as is."""
    return _QUEUE.fullmatch(name) is not None


class AddressProblem(StrEnum):
    """Why an address is not `host[:port]`; each surface words it (`explained` in English)."""

    TOO_LONG = "too_long"
    BAD_PORT = "bad_port"
    BAD_IPV4 = "bad_ipv4"
    BAD_HOST = "bad_host"


def address_problem(address: str) -> AddressProblem | None:
    """Why `address` is not `host[:port]` (an IPv4 address or a domain name, port 1-65535), or
    None when it is."""
    if not address or len(address) > MAX_ADDRESS_CHARS:
        return AddressProblem.TOO_LONG
    host, colon, port = address.partition(":")
    if colon and (not _DIGITS.fullmatch(port) or not 1 <= int(port) <= MAX_PORT):
        return AddressProblem.BAD_PORT
    if _DOTTED_DIGITS.fullmatch(host):
        # Digits and dots only: an IPv4 address or nothing (not a domain "10.1").
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return AddressProblem.BAD_IPV4
        return None
    labels = host.removesuffix(".").split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return AddressProblem.BAD_HOST
    return None


#: Each problem in words ({max}: the limit it breaks), marked for translation.
_PROBLEMS: Final[dict[AddressProblem, str]] = {
    AddressProblem.TOO_LONG: N_("an address is host[:port], at most {max} characters"),
    AddressProblem.BAD_PORT: N_("the port must be a number from 1 to {max}"),
    AddressProblem.BAD_IPV4: N_("the host is not an IPv4 address (four numbers from 0 to 255)"),
    AddressProblem.BAD_HOST: N_(
        "the host must be an IPv4 address or a domain name (IPv6 is not supported)"
    ),
}
_LIMITS: Final[dict[AddressProblem, int]] = {
    AddressProblem.TOO_LONG: MAX_ADDRESS_CHARS,
    AddressProblem.BAD_PORT: MAX_PORT,
}


def explained(problem: AddressProblem, translate: Callable[[str], str] = str) -> str:
    """The problem in words: English (the client's ValueError), or the reader's language with
    `translate=_`. It never quotes the address."""
    return translate(_PROBLEMS[problem]).format(max=_LIMITS.get(problem, ""))


def is_address(address: str) -> bool:
    return address_problem(address) is None
