"""Running one program natively and in the harness, to compare what a user observes.

:class:`Natives` starts native processes in their own sessions, with a timeout, and kills
them (their whole process group) when the test ends; :func:`run_in_harness` runs the same
program to its end in the emulator.  Both give an :class:`Outcome`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass

import pytest

from harness import Guest, GuestFault
from harness.linux import SYSCALL_NAMES

TIMEOUT = 30.0


@dataclass(frozen=True)
class Outcome:
    """What a user observes of a finished process."""

    stdout: bytes
    stderr: bytes
    #: ("exited", status) or ("killed", signal number)
    end: tuple[str, int]


class Natives:
    """Starts native processes in their own sessions; kills every one of them at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []

    def start(self, path, argv, env, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, executable=str(path), env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        return proc

    def run(self, path, argv, env, stdin: bytes) -> Outcome:
        proc = self.start(path, argv, env, stdin=subprocess.PIPE)
        stdout, stderr = proc.communicate(stdin, timeout=TIMEOUT)
        return Outcome(stdout, stderr, _native_end(proc.returncode))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=10)
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()


@pytest.fixture
def natives():
    n = Natives()
    try:
        yield n
    finally:
        n.stop_all()


def _native_end(returncode: int) -> tuple[str, int]:
    return ("killed", -returncode) if returncode < 0 else ("exited", returncode)


def unmodelled(guest: Guest) -> str:
    """The calls the harness answered with ENOSYS, by name, for a failure message."""
    names = [SYSCALL_NAMES.get(nr, f"syscall {nr}") for nr in guest.kernel.unsupported]
    return ", ".join(dict.fromkeys(names)) or "none"


def run_in_harness(program: bytes, argv, env, stdin: bytes) -> tuple[Outcome, Guest, str]:
    """The outcome, the guest, and a line on how it ended (for failure messages)."""
    guest = Guest(program, argv=argv, env=env, stdin=stdin)
    try:
        stop = guest.start()
    except GuestFault as fault:
        return (Outcome(guest.stdout, guest.stderr, ("killed", fault.signal)), guest,
                f"killed by {fault}")
    assert stop.reason == "exited", (f"the guest waits in {stop.syscall} instead of exiting "
                                     f"(unmodelled calls: {unmodelled(guest)})")
    return (Outcome(guest.stdout, guest.stderr, ("exited", guest.exit_status)), guest,
            f"exited with {guest.exit_status}")
