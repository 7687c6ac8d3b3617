"""What every ``webelf`` subcommand shares: the exit statuses (documented in
:mod:`webelf.cli`), :class:`UsageError`, reading the files a user names, the guest built
from the options, its output, and the lines that report how it ended.

Names with a leading underscore are private to the ``webelf`` package, not to this module:
the ``cmd_*`` modules import them.  This module imports none of them, so it can never be
part of an import cycle.
"""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
from pathlib import Path

from generator import GeneratorError
from harness import ElfError, Guest


EXIT_OK = 0
EXIT_DIFFERS = 1
EXIT_NO_LISTENER = 1
EXIT_USAGE = 2
EXIT_NO_RESPONSE = 3
EXIT_TIMEOUT = 124
EXIT_CANNOT_RUN = 125
EXIT_SIGNAL_BASE = 128
#: Ctrl-C, as a shell reports a command SIGINT ended: 128 + SIGINT.
EXIT_INTERRUPTED = EXIT_SIGNAL_BASE + signal.SIGINT


class UsageError(Exception):
    """Bad input from the command line; the message is printed as one line."""


#: The most of webelf's own stdin that ``webelf run`` reads and hands to the guest's fd 0.
STDIN_LIMIT = 64 << 20

#: The most a request or expected-response file may hold: as much as the guest's stdin.
FILE_LIMIT = STDIN_LIMIT
#: An i386 process has a 4 GiB address space: no larger file can be an ELF it loads whole.
ELF_LIMIT = 4 << 30


def _read(path: Path, what: str = "a request or response file", limit: int = FILE_LIMIT) -> bytes:
    """A regular file's bytes; a device (/dev/zero never ends), a FIFO (it may never be
    written) or a file larger than ``limit`` is a usage error before anything is read."""
    from generator.site import read_file

    try:
        return read_file(path, limit, what)
    except GeneratorError as exc:
        raise UsageError(str(exc)) from None


def _read_elf(path: Path) -> bytes:
    """The ELF's bytes: a regular file, refused (exit status 125) if larger than the 4 GiB
    address space it would have to be loaded into."""
    try:
        st = os.stat(path)
    except OSError:
        st = None  # _read says why
    if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > ELF_LIMIT:
        raise ElfError(f"it is {st.st_size:,} bytes, larger than the 4 GiB address space "
                       "of an i386 process: no i386 ELF can be that large")
    return _read(path, "an ELF", ELF_LIMIT)


def _stderr_line(text: str) -> None:
    sys.stderr.write(text + "\n")


def _stdout_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _guest(args: argparse.Namespace, *, trace: bool = False, stdin: bytes = b"",
           stdout: object = None, stderr: object = None, network: object = None) -> Guest:
    return Guest(_read_elf(args.elf), argv=(str(args.elf), *getattr(args, "args", ())),
                 network=network,
                 env=dict(getattr(args, "env", ())), stdin=stdin, stdout=stdout, stderr=stderr,
                 exe_path=os.path.abspath(args.elf),
                 max_instructions=args.max_instructions, max_seconds=args.max_seconds,
                 trace=_stderr_line if trace else None,
                 faults=getattr(args, "inject", None),
                 coverage=getattr(args, "coverage", False),
                 root=getattr(args, "root", None))


def _own_stdin() -> bytes:
    """What the guest's fd 0 reads: all of webelf's stdin if it is a pipe or a file (at most
    STDIN_LIMIT bytes), nothing if it is a terminal or closed."""
    stream = sys.stdin
    if stream is None:
        return b""
    try:
        if stream.isatty():
            return b""
        data = stream.buffer.read(STDIN_LIMIT + 1)
    except (OSError, ValueError):  # fd 0 closed or unreadable: the guest reads end of file
        return b""
    if len(data) > STDIN_LIMIT:
        raise UsageError(f"stdin holds more than {STDIN_LIMIT >> 20} MiB, the most "
                         "webelf run hands to the guest")
    return data


class _GuestOutput:
    """The guest's fd 1 and fd 2 are our stdout and stderr: each write goes out as the guest
    makes it (flushed, so it interleaves with our own lines as it happened), nothing is
    kept, and a reader that does not read makes the guest wait, as a pipe would.  Lines of
    ours on stderr (``--strace``) start on a line of their own, after the guest's."""

    def __init__(self) -> None:
        self.mid_line = False  # the guest's last byte on stderr was not a newline

    @staticmethod
    def stdout(data: bytes) -> None:
        out = sys.stdout.buffer
        out.write(data)
        out.flush()

    def stderr(self, data: bytes) -> None:
        sys.stderr.flush()
        err = sys.stderr.buffer
        err.write(data)
        err.flush()
        self.mid_line = not data.endswith(b"\n")

    def line(self, text: str) -> None:
        if self.mid_line:
            self.mid_line = False
            text = "\n" + text
        _stderr_line(text)


def _exited(guest: Guest) -> int:
    """The guest's own status; one line says so when it is not 0, as for every failure."""
    status = guest.exit_status
    if status:
        _stderr_line(f"webelf: the guest exited with status {status}")
        _unmodelled(guest)
    return status


def _unmodelled(guest: Guest) -> None:
    """A guest that failed after calls the harness answered with ENOSYS may have failed
    because of them: one line names them, in first-seen order, ``xN`` when made N > 1 times."""
    from harness.linux import SYSCALL_NAMES

    counts: dict[str, int] = {}
    for number in guest.kernel.unsupported:
        name = SYSCALL_NAMES.get(number, f"syscall {number}")
        counts[name] = counts.get(name, 0) + 1
    if counts:
        _stderr_line("webelf: unmodelled system calls: " + ", ".join(
            name if n == 1 else f"{name} x{n}" for name, n in counts.items()))
