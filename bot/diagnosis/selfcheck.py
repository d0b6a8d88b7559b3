"""What the bot can check itself: addresses in an err_msg against the connection's routes and hosts.

Findings are facts, never guesses: each says which address or entry it is about and what was
compared. Values (addresses from DLI, route and host names) stay separate from our words so the
renderer can show them exactly (`Value` parts become rich text code).
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from bot.diagnosis.catalogue import MATCH_WINDOW, Entry
from bot.dli.models import Connection
from bot.i18n import _, ngettext

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Value:
    """A piece of a finding that came from DLI: shown exactly, as code."""

    text: str


Part = str | Value
Finding = tuple[Part, ...]

#: Ranges Huawei reserves for its services' internal networks (dli_01_0014: do not route them).
RESERVED: Final = (ipaddress.ip_network("100.64.0.0/16"), ipaddress.ip_network("100.125.0.0/16"))
_MAX_ADDRESSES: Final = 10
_MAX_FINDINGS: Final = 20
# An IPv4 address or CIDR not glued to other digits or dots (a version number like 1.2.3.4.5
# is not an address); the host:port form leaves the port out.
_IPV4: Final = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?![\d.]*\d)")
_UNKNOWN_HOST: Final = re.compile(r"UnknownHostException:?\s*([A-Za-z0-9][A-Za-z0-9.-]{0,252})")
_FORMATTER: Final = string.Formatter()


def addresses_in(err_msg: str) -> list[IPNetwork]:
    """Every distinct IPv4 address (as a /32) or CIDR block written in `err_msg`, in order."""
    found: list[IPNetwork] = []
    for match in _IPV4.finditer(err_msg[:MATCH_WINDOW]):
        try:
            network = ipaddress.ip_network(match.group(1) + (match.group(2) or ""), strict=False)
        except ValueError:
            continue
        if network not in found:
            found.append(network)
    return found[:_MAX_ADDRESSES]


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _shown(network: IPNetwork) -> str:
    return (
        str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
    )


def _finding(template: str, /, n: int | None = None, **values: str) -> Finding:
    """A finding from one sentence of ours, already translated (so a translation may order the
    values as it likes): each `{name}` becomes that value, kept apart as a `Value`; `{n}` is a
    count of ours."""
    parts: list[Part] = []
    for literal, name, _spec, _conversion in _FORMATTER.parse(template):
        if literal:
            parts.append(literal)
        if name == "n" and n is not None:
            parts.append(str(n))
        elif name is not None:
            parts.append(Value(values[name]))
    return tuple(parts)


def _address_findings(err_msg: str, connection: Connection) -> list[Finding]:
    routes = [(r, net) for r in connection.routes if (net := _network(r.cidr)) is not None]
    hosts = [(h, net) for h in connection.hosts if (net := _network(h.ip)) is not None]
    unnamed = _("(unnamed)")
    findings: list[Finding] = []
    for route, net in routes:
        if any(net.overlaps(reserved) for reserved in RESERVED if net.version == reserved.version):
            findings.append(_finding(
                _("Route {route} ({cidr}) is in a range Huawei Cloud reserves for its services "
                  "(100.64.x.x, 100.125.x.x)."),
                route=route.name or unnamed, cidr=route.cidr,
            ))  # fmt: skip
    for address in addresses_in(err_msg):
        related: list[Finding] = []
        for route, net in routes:
            if net.version == address.version and net.overlaps(address):
                related.append(_finding(
                    _("{address} in the error overlaps the connection's route {route} ({cidr})."),
                    address=_shown(address), route=route.name or unnamed, cidr=route.cidr,
                ))  # fmt: skip
        for host, net in hosts:
            if net.version == address.version and net.overlaps(address):
                related.append(_finding(
                    _("Host {host} ({ip}) is in {address} from the error."),
                    host=host.name or unnamed, ip=host.ip, address=_shown(address),
                ))  # fmt: skip
        if not related and (routes or hosts):
            related.append(_finding(
                _("{address} in the error is outside every route and host address of the "
                  "connection."),
                address=_shown(address),
            ))  # fmt: skip
        findings += related
    return findings


def _host_findings(err_msg: str, connection: Connection) -> list[Finding]:
    if not connection.hosts:
        return [(_("The connection has no host information (IP address → host name) at all."),)]
    named = {h.name.lower(): h for h in connection.hosts if h.name}
    count = len(connection.hosts)
    findings: list[Finding] = []
    for match in _UNKNOWN_HOST.finditer(err_msg[:MATCH_WINDOW]):
        name = match.group(1).rstrip(".")
        host = named.get(name.lower())
        if host is None:
            not_listed = ngettext(
                "{name} from the error is not in the connection's host information ({n} entry).",
                "{name} from the error is not in the connection's host information ({n} entries).",
                count,
            )
            findings.append(_finding(not_listed, n=count, name=name))
        else:
            findings.append(_finding(
                _("{name} is in the connection's host information, as {ip}: check that this is "
                  "the node's current private IP address."),
                name=name, ip=host.ip,
            ))  # fmt: skip
    if not findings:
        has = ngettext(
            "The connection's host information has {n} entry.",
            "The connection's host information has {n} entries.",
            count,
        )
        findings.append(_finding(has, n=count))
    return findings


def self_check(entry: Entry, err_msgs: Iterable[str], connection: Connection) -> list[Finding]:
    """What `entry`'s self-checks find in `err_msgs` (the matching bindings' messages) against
    `connection`, without repeats; empty when there was nothing to compare."""
    findings: list[Finding] = []
    messages: Sequence[str] = list(err_msgs) or [""]
    for err_msg in messages:
        if "addresses" in entry.self_checks:
            findings += _address_findings(err_msg, connection)
        if "hosts" in entry.self_checks:
            findings += _host_findings(err_msg, connection)
    unique = list(dict.fromkeys(findings))
    return unique[:_MAX_FINDINGS]
