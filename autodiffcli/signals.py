"""SIGTERM and SIGHUP end a command the way Ctrl-C does: as an exception, so cleanup runs.

Python turns SIGINT into KeyboardInterrupt, and every ``with`` block on the way out removes
what it owns (the ``.partial`` file of an atomic write). SIGTERM (``kill``, ``timeout``, a
container stop) and SIGHUP (a closed terminal) would kill the process on the spot and leave
that file behind. :func:`terminations` makes them raise :class:`Terminated`, a
KeyboardInterrupt that carries the shell's exit status for the signal (143, 129).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.name}")


@contextlib.contextmanager
def terminations(signums: tuple[int, ...] = HANDLED) -> Iterator[None]:
    """Within the block, each of ``signums`` raises Terminated in the main thread.

    Only the first signal raises: a second one during cleanup is ignored, so it cannot cut the
    cleanup short. Previous handlers come back on exit. Outside the main thread (where Python
    cannot install handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in signums}
    fired = False

    def handle(signum, frame):
        nonlocal fired
        if not fired:
            fired = True
            raise Terminated(signum)

    for signum in signums:
        signal.signal(signum, handle)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
