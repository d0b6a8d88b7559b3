"""An event loop on virtual time: sleeps and timeouts end at once, the clock jumps instead.

    loop = VirtualTimeLoop()
    loop.run_until_complete(main())  # a 60 s asyncio.sleep returns at once; loop.time() is 60

Whenever nothing is ready to run, the loop advances its clock to the next timer instead of
waiting for it. Only for code that waits on timers and in-process events: waiting on real I/O
with nothing scheduled is reported as a deadlock rather than blocking.
"""

from __future__ import annotations

import asyncio
import selectors


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            raise RuntimeError("deadlock: every task waits and no timer is due")
        self._loop.now += timeout
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now
