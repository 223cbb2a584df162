"""A one-thread timer queue: run callables after a delay, cancel them all at once on reset."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Scheduler:
    """Runs callbacks on its own thread when due. Callbacks must be quick (hand slow work on)."""

    def __init__(self, name: str = "paynow-scheduler") -> None:
        self._queue: list[tuple[float, int, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._generation = 0
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._queue.clear()
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        with self._cond:
            if self._stopped:
                return
            due = time.monotonic() + max(0.0, delay)
            heapq.heappush(self._queue, (due, next(self._counter), self._generation, callback))
            self._cond.notify_all()

    def cancel_all(self) -> None:
        """Forget every pending callback (a reset)."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._queue:
                        self._cond.wait()
                        continue
                    wait = self._queue[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopped:
                    return
                _, _, generation, callback = heapq.heappop(self._queue)
                if generation != self._generation:
                    continue
            try:
                callback()
            except Exception:  # a broken callback must not stop the clock
                logger.exception("scheduled callback failed")
