"""``webelf run``: the guest in the emulator, each request on its own connection, the
responses to stdout (or files), and one line on stderr for each request left unanswered."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import DEFAULT_REQUEST, Guest, GuestFault

from .common import (
    EXIT_NO_RESPONSE, EXIT_OK, EXIT_SIGNAL_BASE, UsageError, _exited, _guest, _GuestOutput,
    _own_stdin, _read, _stderr_line, _unmodelled,
)
from .options import _env_pair, _fault, guest_options


_EXIT_TABLE = (
    "exit status: the guest's own when it exits (it wins: the line on stderr tells it from "
    "webelf's); 0 when it served every request and waits for more; 1 when it listens on no "
    "port; 2 bad usage; 3 a request got no response; 124 time or instruction budget used "
    "up; 125 not a static i386 or x86-64 ELF; 128+N killed by signal N; 130 interrupted "
    "(Ctrl-C).")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf run``'s options: those of every guest command (guest_options), then its own."""
    run = sub.add_parser(
        "run", help="run an ELF in the emulator and print its HTTP responses",
        usage="webelf run ELF [options] [--] [ARG...]",
        description=(
            "Run a static i386 or x86-64 Linux ELF in the emulator, with a fake network "
            "instead of "
            "sockets: no root, no ports, any OS. The guest's argv is ELF as given, then the "
            "ARGs: webelf's options end at the first ARG (or at --), so every word from "
            "there on is the guest's. Its environment is empty but for --env; its fd 0 reads "
            "webelf's stdin when that is a pipe or a file (read whole at the start, at most "
            "64 MiB; a terminal gives end of file), its fd 1 and fd 2 write to webelf's "
            "stdout and stderr. If it listens, each request is sent on its own "
            "connection to the port it listens on, the next one after the guest "
            "closed the previous; a guest that waits to read more than the request holds "
            "reads end of file. The responses go to stdout. When the guest fails (a status "
            "other than 0, or a signal) after calls the harness does not model, one line "
            "on stderr names them."),
        epilog=_EXIT_TABLE)
    guest_options(run)
    run.add_argument("args", metavar="ARG", nargs="*",
                     help="the guest's arguments, after argv[0] (ELF as given)")
    run.add_argument("--env", metavar="NAME=VALUE", type=_env_pair, action="append",
                     default=[], help="a variable of the guest's environment; repeatable "
                                      "(default: an empty environment)")
    run.add_argument("--request", metavar="FILE", type=Path, action="append", default=[],
                     help="a file holding the exact bytes of one request; repeat for more "
                          "(default: one GET / request)")
    run.add_argument("--out", metavar="DIR", type=Path,
                     help="write each response to DIR/<request file stem>.http instead")
    run.add_argument("--strace", action="store_true",
                     help="print each system call to stderr, in strace's format")
    run.add_argument("--trace", action="store_true",
                     help="print each instruction to stderr as it runs")
    run.add_argument("--coverage", action="store_true",
                     help="after the responses, print to stderr how many of the ELF's "
                          "instructions ran (of those webelf disasm lists) and list the "
                          "ones that never did")
    run.add_argument("--inject", metavar="SPEC", type=_fault, action="append", default=[],
                     help="make a system call fail or move fewer bytes; repeatable. SPEC "
                          "is NAME=ACTION@WHEN: NAME a call as strace names it (accept4, "
                          "read, write...), ACTION an errno name (EPIPE) or short:N (read, "
                          "write, send, recv: at most N bytes), WHEN the Nth call counted "
                          "from 1, N-M, N- or * (every call). Examples: write=EPIPE@1, "
                          "accept4=EMFILE@2, read=short:1@*")
    run.set_defaults(func=_run)
    return run


def _run(args: argparse.Namespace) -> int:
    _one_file_each(args)
    requests = [(path.stem, _read(path)) for path in args.request] or [("request", DEFAULT_REQUEST)]
    names = [str(path) for path in args.request] or ["the default request"]
    unanswered = 0
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {args.out}: {exc.strerror or exc}") from None
    output = _GuestOutput()
    guest = _guest(args, trace=args.trace, stdin=_own_stdin(), stdout=output.stdout,
                   stderr=output.stderr)
    if args.strace:
        guest.kernel.strace = output.line
    try:
        guest.start()
        if guest.exited:
            return _exited(guest)
        port = guest.port(args.port)
        for (stem, request), name in zip(requests, names):
            # A response for stdout streams there as it arrives; one for --out is collected
            # (up to harness.guest.RESPONSE_LIMIT) and written whole.
            response = guest.request(request, port,
                                     sink=output.stdout if args.out is None else None)
            if not guest.response_size:  # a failure, never a silent success
                unanswered += 1
                _stderr_line(f"webelf: no response to {name}: {_doing(guest)}")
            if args.out is not None:
                target = args.out / f"{stem}.http"
                try:
                    target.write_bytes(response)
                except OSError as exc:
                    raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
            if guest.exited:
                return _exited(guest) or (EXIT_NO_RESPONSE if unanswered else EXIT_OK)
        return EXIT_NO_RESPONSE if unanswered else EXIT_OK
    except GuestFault as exc:
        _stderr_line(f"webelf: guest killed by {exc}")
        _unmodelled(guest)
        return EXIT_SIGNAL_BASE + exc.signal
    finally:
        if args.coverage:  # also when the guest faulted: what ran before it died
            from harness.coverage import Coverage

            _stderr_line(Coverage.of(guest).report())


def _one_file_each(args: argparse.Namespace) -> None:
    """With --out, two request files of the same name would write one response over the
    other: refused before anything runs."""
    if args.out is None:
        return
    seen: dict[str, Path] = {}
    for path in args.request:
        name = f"{path.stem}.http"
        if name in seen:
            raise UsageError(f"--request {seen[name]} and {path} would both write "
                             f"{args.out / name}: give the request files different names")
        seen[name] = path


def _doing(guest: Guest) -> str:
    """What the guest was doing when a request got no response: the call it waits in (and
    on which fd), or that it exited."""
    if guest.exited:
        return f"the guest exited with status {guest.exit_status} before it answered"
    stop = guest.last_stop
    if stop is None or stop.syscall is None:
        return "the guest did not answer"
    on = f" on fd {stop.fd}" if stop.fd is not None and stop.fd >= 0 else ""
    return f"the guest waits in {stop.syscall}(){on}"
