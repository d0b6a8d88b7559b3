"""`async with` for the bot's resources: clients that close, local servers that start and stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self

from aiohttp import web


class Closing(ABC):
    """`async with client:` closes it on the way out."""

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class LocalServer(ABC):
    """An aiohttp application served on a local port (0: any free one) until stopped.

    `async with server:` starts it and stops it on the way out. Subclasses only say what they
    serve (`application`) and how their URL reads (`url`, built on `root`).
    """

    _runner: web.AppRunner | None = None
    _root: str | None = None
    # How long stopping waits for requests still being answered.
    shutdown_timeout: float = 60.0

    @abstractmethod
    def application(self) -> web.Application: ...

    @property
    @abstractmethod
    def url(self) -> str: ...

    @property
    def root(self) -> str:
        """`http://host:port` while running."""
        if self._root is None:
            raise RuntimeError(f"{type(self).__name__} is not running; start() it first")
        return self._root

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve and return `url`."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        runner = web.AppRunner(
            self.application(), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        self._runner, self._root = runner, f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._root = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
