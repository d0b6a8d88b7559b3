"""`async with` for the bot's resources: clients that close, local servers that start and stop."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Closing(ABC):
    """`async with client:` closes it on the way out."""

    @abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class LocalServer(ABC):
    """`async with server:` starts it (on an ephemeral port) and stops it on the way out."""

    @abstractmethod
    async def start(self) -> str:
        """Start serving; return the base URL."""

    @abstractmethod
    async def stop(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
