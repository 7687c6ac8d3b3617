"""The watchdog: one thread that stops a guest's run from outside the emulator.

unicorn runs a guest inside ``uc_emu_start``, with the GIL released (ctypes) and no
Python bytecode of the main thread running until it returns.  So two things are done from
another thread, with ``uc_emu_stop`` (which unicorn allows from any thread: its own
timeout works so): a run that outlives its wall-clock budget
(:attr:`harness.machine.Machine.max_seconds`) is stopped, and, under
:func:`interruptible`, Ctrl-C (or another chosen signal) stops the running guest at once.
:class:`harness.machine.Machine` registers itself with :data:`WATCHDOG` and reads the
flags it sets when its run returns.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

try:  # the C library behind the binding
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - older bindings
    from unicorn.unicorn import _uc as _uclib

if TYPE_CHECKING:
    from .machine import Machine


class _Watchdog:
    """One thread for every machine: it stops a run that has outlived its time budget, and
    one that Ctrl-C interrupts (under :func:`interruptible`).

    uc_emu_stop may be called from another thread (it is how unicorn's own timeout
    works); ctypes releases the GIL during uc_emu_start, so this thread gets to run.  A
    stop that arrives just after its run ended only cuts the next run short, and
    :meth:`Machine.run` resumes that one.

    The machines are held weakly, and only for the moment of a scan: a machine nobody
    else holds is freed while the thread sleeps.
    """

    PERIOD = 0.05

    def __init__(self) -> None:
        self._machines: weakref.WeakSet[Machine] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: The read end of the signal wakeup fd, while :func:`interruptible` is active.
        self.wakeup: socket.socket | None = None
        #: The signals that stop a running guest, while :func:`interruptible` is active.
        self.stopping: frozenset[int] = frozenset({signal.SIGINT})

    def watch(self, machine: Machine) -> None:
        with self._lock:
            self._machines.add(machine)
            self.start()

    def start(self) -> None:
        """Start the thread if it is not running (call with the lock held)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="webelf-watchdog",
                                            daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            interrupted = False
            wakeup = self.wakeup
            if wakeup is None:
                time.sleep(self.PERIOD)
            else:
                try:  # the C signal handler writes each signal's number here
                    if select.select([wakeup], [], [], self.PERIOD)[0]:
                        interrupted = not self.stopping.isdisjoint(wakeup.recv(512))
                except (OSError, ValueError):  # closed as interruptible() ended
                    time.sleep(self.PERIOD)
            self._scan(interrupted)

    def _scan(self, interrupted: bool) -> None:
        now = time.monotonic()
        with self._lock:  # no reference to a machine outlives this call
            for m in self._machines:
                if m._running and (interrupted or now >= m._deadline):
                    if interrupted:
                        m._interrupted = True
                    _uclib.uc_emu_stop(m._uch)

    def interrupt(self) -> bool:
        """Stop every running machine as interrupted; False if none was running."""
        stopped = False
        with self._lock:
            for m in self._machines:
                if m._running:
                    m._interrupted = True
                    _uclib.uc_emu_stop(m._uch)
                    stopped = True
        return stopped


WATCHDOG = _Watchdog()


def _on_sigint(signum: int, frame: object) -> None:
    """SIGINT's handler under :func:`interruptible`.  With a guest running (this handler
    then runs inside one of its hooks: an exception raised there would be swallowed by
    ctypes), the guest is stopped and :meth:`Machine.run` raises KeyboardInterrupt once
    unicorn returns; otherwise KeyboardInterrupt is raised here, as Python's own handler
    does."""
    if not WATCHDOG.interrupt():
        raise KeyboardInterrupt


@contextlib.contextmanager
def interruptible(signals: Iterable[int] = (signal.SIGINT,)) -> Iterator[None]:
    """Within this block, Ctrl-C (SIGINT) stops a running guest at once: run() raises
    KeyboardInterrupt.  ``signals`` may add others that do the same (``webelf serve``
    stops on SIGTERM as on Ctrl-C).  Without it, SIGINT waits for the guest to stop by itself, since
    Python runs signal handlers only between bytecodes and the main thread is inside
    uc_emu_start.  CPython's C-level handler writes the signal's number to the fd
    given to ``signal.set_wakeup_fd``; the watchdog thread waits on that fd and stops the
    running guest with uc_emu_stop.  Call from the main thread (signal handlers can only
    be set there); the previous handler and wakeup fd come back at the end."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    old_handlers = {}
    try:
        for signum in signals:
            old_handlers[signum] = signal.signal(signum, _on_sigint)
    except BaseException:
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(old_fd)
        raise
    with WATCHDOG._lock:
        WATCHDOG.wakeup = reader
        WATCHDOG.stopping = frozenset(old_handlers)
        WATCHDOG.start()
    try:
        yield
    finally:
        for signum, handler in old_handlers.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(old_fd)
        WATCHDOG.wakeup = None
        writer.close()
        reader.close()
