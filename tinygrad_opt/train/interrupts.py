"""Ctrl-C between training steps, never inside one.

A KeyboardInterrupt raised by the default SIGINT handler lands wherever Python happens to be: inside the
optimizer's update (some parameters stepped, others not) or between the update and the bookkeeping that
counts the batch as done. The checkpoint the trainer then writes says "k batches done" over weights that
took part of step k + 1, and the resumed run silently differs from an uninterrupted one. While a
DeferredInterrupt is active, the first Ctrl-C only sets a flag that the trainer turns into the
KeyboardInterrupt at the next step boundary (`raise_if_requested`); a second Ctrl-C interrupts at once,
for a step that never ends.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class DeferredInterrupt:
    """Context manager: SIGINT sets `requested`; a second SIGINT raises KeyboardInterrupt immediately.

    Installed only in the main thread and only over Python's default handler (a program with its own
    SIGINT handling keeps it). On exit the previous handler is restored; a request not yet raised is
    raised then, so a Ctrl-C during the run's last validation still ends the command as interrupted.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None
        self._installed = False

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        return self

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:  # the second Ctrl-C: the user does not want to wait for the step
            raise KeyboardInterrupt
        self.requested = True

    def raise_if_requested(self) -> None:
        """At a step boundary: the deferred Ctrl-C becomes the KeyboardInterrupt the trainer handles."""
        if self.requested:
            self.requested = False
            raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        if kind is None:
            self.raise_if_requested()
