"""What many tests need around the parts they test: an environment without the developer's
settings, a local port nothing listens on, the ports a process listens on, polling until a
condition holds, and telling Chinese text from English."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import pytest

#: Where every setting's environment variable name starts (Settings reads them in any case).
SETTING_PREFIXES: Final = ("HUAWEICLOUD_", "DLI_", "DLICONN_", "REDIS_", "SLACK_", "PORT")


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No setting from the developer's shell may reach Settings a test builds."""
    for name in list(os.environ):
        if name.upper().startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)


def free_port() -> int:
    """A local port nothing listens on (bound, read, released): one to serve on, or one that
    refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: The CJK Unified Ideographs block: every Chinese character the translations use.
_HAN: Final = re.compile("[\u4e00-\u9fff]")

#: A socket's state in /proc/net/tcp: listening.
_LISTEN: Final = "0A"


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on (Linux: the sockets among its open files, looked
    up in /proc/net/tcp and tcp6 for those in state LISTEN)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # closed since it was listed
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target.removeprefix("socket:[").removesuffix("]"))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):  # no IPv6 on this host
            for row in Path(table).read_text().splitlines()[1:]:
                local, state, inode = (row.split()[i] for i in (1, 3, 9))
                if state == _LISTEN and inode in inodes:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


async def until(condition: Callable[[], Awaitable[bool]], deadline: float = 10.0) -> None:
    """Return once `condition()` holds; fail after `deadline` seconds (which only fails a hang:
    a process starting up may take some)."""
    async with asyncio.timeout(deadline):
        # Polled: what these tests wait for (FakeDli's log, an outbox in Redis, a child
        # process) announces nothing.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def chinese(text: str) -> bool:
    """Whether `text` has a Chinese character in it (what a zh-CN reply has and an English one
    never does)."""
    return _HAN.search(text) is not None
