"""`python -m bot <verb>` as a child process for a test, killed on the way out if still running."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path


@asynccontextmanager
async def bot_process(
    verb: str, env: dict[str, str], cwd: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The bot running `verb` (its log on stderr, a pipe the test may read after it ends)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", verb, cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
