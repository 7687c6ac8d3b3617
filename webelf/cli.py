"""The ``webelf`` console script: argument parsing and exit statuses, nothing else.

``webelf build`` writes a server with :mod:`generator`; ``webelf run``, ``check`` and
``disasm`` judge any ELF with :mod:`harness`; ``webelf capture`` records what real
clients send, for the request corpus (:mod:`harness.capture`).  Exit statuses:

=====  ============================================================================
0      build: written.  run: the guest served every request and waits for more.
       serve: stopped by Ctrl-C (SIGINT) or SIGTERM.
       check: the response is identical and valid HTTP.  disasm: listed.
       capture: wrote --count captures, or was stopped with Ctrl-C.  fuzz: nothing found.
N      run, serve: the guest exited by itself with status N.
1      check: the response differs from the expected one, or is not valid HTTP.
       fuzz: something was found (each finding is written and named on stderr).
       run: the guest listens on no port, so the requests could not be sent.
       capture: cannot listen on the port (taken), or cannot write a capture.
2      bad input: unknown options, missing files, files that are not regular files
       (/dev/zero, a FIFO) or are too large (a page over 2 GiB, a request over 64 MiB),
       a port outside 1..65535 (capture: 0..65535), an address that is not dotted IPv4,
       an unwritable output, two --request files that would write one --out file.
       serve: cannot listen on the host port, or the guest listens on no port.
       fuzz: a --corpus without request files, or a guest that never waits for a
       connection.
3      run: a request got no response (one line names it, and what the guest was doing).
124    run, check, serve: the guest ran out of its time or instruction budget (a runaway loop).
125    run, check, serve, disasm: the file is not a static i386 or x86-64 ELF the harness
       can run.
128+N  run, check, serve: Linux would have killed the guest with signal N (139: SIGSEGV).
130    run, check: interrupted by Ctrl-C (SIGINT).
=====  ============================================================================

Every error is one line on stderr, never a traceback.  The guest's own exit status wins
(a guest calling exit(125) exits webelf run with 125); the line on stderr tells webelf's
statuses from the guest's.

This module only assembles the parser, splits a guest's ARGs off, and turns what went
wrong into the statuses above.  Each subcommand's options and body are a module of their
own, ``webelf/cmd_<command>.py``; what several share is in :mod:`webelf.common` (exit
statuses, files, the guest) and :mod:`webelf.options` (the options' types).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import NoReturn, Sequence

from generator import GeneratorError
from harness import ElfError, GuestFault, GuestTimeout, HarnessError

from . import cmd_build, cmd_capture, cmd_check, cmd_disasm, cmd_fuzz, cmd_run, cmd_serve
from .cmd_check import _check
from .cmd_fuzz import _fuzz
from .cmd_run import _run
from .cmd_serve import _serve
from .common import (
    EXIT_CANNOT_RUN, EXIT_INTERRUPTED, EXIT_NO_LISTENER, EXIT_OK, EXIT_SIGNAL_BASE,
    EXIT_TIMEOUT, EXIT_USAGE, UsageError, _stderr_line,
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, as documented above."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(self, args=None, namespace=None):  # noqa: ANN001, ANN201 - argparse's
        """As argparse's, but words no option took point to the subcommand's help
        (``webelf run --help``), where the options are, not to ``webelf --help``."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = getattr(namespace, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see {prog} --help)")
        return namespace


def _version() -> str:
    """The installed distribution's version; a source tree that was never installed says so."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover - Python without importlib.metadata
        return "webelf (version unknown)"
    try:
        return f"webelf {version('webelf')}"
    except PackageNotFoundError:
        return "webelf (version unknown: not installed)"


def _parser() -> _Parser:
    parser = _Parser(prog="webelf", description=(
        "Write a web site as a static i386 Linux executable of hand-encoded machine code, "
        "and run any such executable in an emulator over a fake network."))
    parser.add_argument("--version", action="version", version=_version(),
                        help="print webelf's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # In the order `webelf --help` lists them; run, serve and fuzz pass the guest ARGs.
    cmd_build.add_parser(sub)
    run = cmd_run.add_parser(sub)
    serve = cmd_serve.add_parser(sub)
    fuzz = cmd_fuzz.add_parser(sub)
    parser.guest_commands = {"run": run, "serve": serve, "fuzz": fuzz}  # for _split_guest_args
    cmd_check.add_parser(sub)
    cmd_disasm.add_parser(sub)
    cmd_capture.add_parser(sub)
    return parser


def _split_guest_args(parser: argparse.ArgumentParser,
                      argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``run``'s (or ``serve``'s) words as (webelf's, the guest's ARGs): options end at the
    first ARG after ELF, or at ``--``; every word from there on is the guest's, dashes or
    not.  None for the ARGs when the command takes none (argparse then sees every word)."""
    if not argv or argv[0] not in parser.guest_commands:
        return argv, None
    command = parser.guest_commands[argv[0]]
    takes_value = {option: action.nargs != 0 for action in command._actions  # noqa: SLF001
                   for option in action.option_strings}
    ours, positionals, i = [argv[0]], 0, 1
    while i < len(argv):
        word = argv[i]
        if word == "--":
            if positionals == 0 and i + 1 < len(argv):  # `webelf run -- ELF ARG...`
                ours.append(argv[i + 1])
                i += 1
            return ours, argv[i + 1:]
        if word.startswith("-") and word != "-":
            ours.append(word)
            name = word.partition("=")[0]
            matches = [o for o in takes_value if o == name] or [
                o for o in takes_value if o.startswith("--") and o.startswith(name)]
            if "=" not in word and len(matches) == 1 and takes_value[matches[0]] \
                    and i + 1 < len(argv):
                ours.append(argv[i + 1])  # the option's value, whatever it looks like
                i += 1
        elif positionals == 0:
            ours.append(word)
            positionals = 1
        else:
            return ours, argv[i:]
        i += 1
    return ours, []


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = _parser()
        words, guest_args = _split_guest_args(
            parser, list(sys.argv[1:] if argv is None else argv))
        args = parser.parse_args(words)
        if guest_args is not None:
            args.args = guest_args
        if args.func in (_run, _check, _serve, _fuzz) and \
                threading.current_thread() is threading.main_thread():
            from harness.watchdog import interruptible

            # Ctrl-C stops a guest that runs, at once; SIGTERM too for serve.
            signals = (signal.SIGINT, signal.SIGTERM) if args.func is _serve else \
                (signal.SIGINT,)
            with interruptible(signals):
                return args.func(args)
        return args.func(args)
    except KeyboardInterrupt:
        _stderr_line("webelf: interrupted")
        return EXIT_INTERRUPTED
    except (UsageError, GeneratorError) as exc:
        _stderr_line(f"webelf: error: {exc}")
        return EXIT_USAGE
    except ElfError as exc:
        verb = "disassemble" if getattr(args, "command", None) == "disasm" else "run"
        _stderr_line(f"webelf: cannot {verb} {getattr(args, 'elf', 'the file')}: {exc}")
        return EXIT_CANNOT_RUN
    except GuestTimeout as exc:
        _stderr_line(f"webelf: {exc}")
        return EXIT_TIMEOUT
    except GuestFault as exc:
        _stderr_line(f"webelf: guest killed by {exc}")
        return EXIT_SIGNAL_BASE + exc.signal
    except HarnessError as exc:
        _stderr_line(f"webelf: {exc}")
        return EXIT_NO_LISTENER
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
