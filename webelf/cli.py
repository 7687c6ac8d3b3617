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
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import stat
import sys
import threading
from pathlib import Path
from typing import NoReturn, Sequence

from generator import (
    GeneratorError, Page, ServerConfig, Site, build_server, default_page, default_site,
)
from generator.server import ARCHES
from harness import (
    DEFAULT_REQUEST, ElfError, Guest, GuestFault, GuestTimeout, HarnessError,
)

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


def _ports_from(lowest: int):
    """An argparse type for a TCP port from ``lowest`` (0 means "pick a free one") up."""
    def port(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"port {text!r} is not a number") from None
        if not lowest <= value <= 65535:
            raise argparse.ArgumentTypeError(f"port {value} is outside {lowest}..65535")
        return value
    return port


_port = _ports_from(1)
_listen_port = _ports_from(0)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def _fault(text: str):
    """One ``--inject`` spec, parsed now so that a bad one is a usage error (exit 2, one
    line) before the guest runs; the syntax is harness.faults'."""
    from harness.faults import FaultSpecError, parse_fault

    try:
        return parse_fault(text)
    except FaultSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: The timeouts' range: whole seconds, as the program's deadlines count them.
IDLE_TIMEOUT_RANGE = (1, 86400)


def _idle_seconds(text: str) -> int:
    low, high = IDLE_TIMEOUT_RANGE
    try:
        value = int(text.replace("_", ""), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of seconds ({low}..{high})") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high} seconds")
    return value


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


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""), 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _workers(text: str) -> int | str:
    """--workers: auto, or a count of processes 1..256."""
    if text == "auto":
        return text
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither auto nor a number") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{value} workers is outside 1..256")
    return value


def _arch(text: str) -> str:
    """--arch: i386 or x86_64 (also spelt x86-64)."""
    value = text.replace("-", "_")
    if value not in ARCHES:
        raise argparse.ArgumentTypeError(f"{text!r} is neither i386 nor x86_64")
    return value


def _env_pair(text: str) -> tuple[str, str]:
    """One ``--env NAME=VALUE``: NAME non-empty and without ``=``; VALUE may be empty."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} holds a NUL byte")
    return name, value


#: The most of webelf's own stdin that ``webelf run`` reads and hands to the guest's fd 0.
STDIN_LIMIT = 64 << 20

_EXIT_TABLE = (
    "exit status: the guest's own when it exits (it wins: the line on stderr tells it from "
    "webelf's); 0 when it served every request and waits for more; 1 when it listens on no "
    "port; 2 bad usage; 3 a request got no response; 124 time or instruction budget used "
    "up; 125 not a static i386 or x86-64 ELF; 128+N killed by signal N; 130 interrupted "
    "(Ctrl-C).")


def _parser() -> _Parser:
    parser = _Parser(prog="webelf", description=(
        "Write a web site as a static i386 Linux executable of hand-encoded machine code, "
        "and run any such executable in an emulator over a fake network."))
    parser.add_argument("--version", action="version", version=_version(),
                        help="print webelf's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    build = sub.add_parser(
        "build", help="write a static ELF that serves a page over HTTP",
        description=(
            "Write a static Linux executable (32-bit i386, or x86-64 with --arch x86_64) "
            "that serves a site over HTTP/1.1: GET "
            "and HEAD of its pages, 404 for unknown paths, 405 for other methods, 400 "
            "for what is not HTTP, 431 for a head larger than 8 KiB. Every response is "
            "computed here, Content-Length included; the program needs nothing but the "
            "Linux kernel. Run it with ./OUT and open http://localhost:PORT/. If it "
            "cannot listen, it prints which call failed and the errno, and exits with "
            "status 1."),
        epilog="exit status: 0 written (one line on stderr says where, how large, and the "
               "URL it serves); 2 bad input (one line on stderr).")
    source = build.add_mutually_exclusive_group()
    source.add_argument("--html", metavar="FILE", type=Path,
                        help="one page to serve at / (default: the built-in site); a regular "
                             "file of at most 2 GiB")
    source.add_argument("--site", metavar="DIR", type=Path,
                        help="a directory of pages: index.html serves / (and DIR/sub/index.html "
                             "serves /sub/), about.html serves /about.html and /about, any "
                             "other file its own name, typed by its suffix; text pages must be "
                             "UTF-8; links must stay inside DIR; at most 2 GiB of pages")
    build.add_argument("--port", metavar="N", type=_port, default=8080,
                       help="TCP port to listen on, 1..65535 (default: 8080)")
    build.add_argument("--bind", metavar="ADDR", default="0.0.0.0",
                       help="dotted IPv4 address to listen on (default: 0.0.0.0, every "
                            "interface; 127.0.0.1 for this machine only)")
    build.add_argument("--content-type", metavar="TYPE", default=None,
                       help="Content-Type of the page (default: from the file's suffix, "
                            "text/html for .html; text types get charset=utf-8)")
    build.add_argument("--idle-timeout", metavar="S", type=_idle_seconds, default=5,
                       help="whole seconds, 1..86400, a kept-alive connection may stay "
                            "silent between requests before it is closed (default: 5)")
    build.add_argument("--workers", metavar="N", type=_workers, default=None,
                       help="processes that serve, 1..256, or auto (the CPUs it may run on); "
                            "more than 1 adds a supervisor that replaces a worker that dies "
                            "(default: 1)")
    build.add_argument("--max-connections", metavar="N", type=_positive, default=None,
                       help="connections per worker, 1..65536; the next is closed as it "
                            "arrives (default: 1024)")
    build.add_argument("--header-timeout", metavar="S", type=_idle_seconds, default=None,
                       help="whole seconds, 1..86400, a request head may take from its first "
                            "byte, however slowly it trickles (default: 10)")
    build.add_argument("--send-timeout", metavar="S", type=_idle_seconds, default=None,
                       help="whole seconds, 1..86400, a response may wait for a client that "
                            "does not read (default: 10)")
    build.add_argument("--arch", metavar="ARCH", type=_arch, default="i386",
                       help="i386 (a 32-bit ELF any x86 Linux runs, 64-bit kernels included) "
                            "or x86_64 (a 64-bit ELF for x86-64 Linux); the same server, the "
                            "same bytes on the wire (default: i386)")
    build.add_argument("-o", "--output", metavar="OUT", type=Path, required=True,
                       help="where to write the executable (mode 0755)")
    build.set_defaults(func=_build)

    def guest_options(p: _Parser) -> None:
        p.add_argument("elf", metavar="ELF", type=Path,
                       help="a static i386 or x86-64 Linux executable")
        p.add_argument("--port", metavar="N", type=_port, default=None,
                       help="the port to send to, when the guest listens on several")
        p.add_argument("--max-seconds", metavar="S", type=_seconds, default=10.0,
                       help="wall-clock seconds the guest may run between two waits before "
                            "it counts as runaway (default: 10)")
        p.add_argument("--max-instructions", metavar="N", type=_positive, default=None,
                       help="an exact, reproducible budget instead: instructions between "
                            "two waits (slower: every instruction is counted)")
        p.add_argument("--root", metavar="DIR", type=Path, default=None,
                       help="a directory the guest sees, read-only, as / (default: no "
                            "files; every path is ENOENT)")

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

    serve = sub.add_parser(
        "serve", help="serve an ELF's site on a real port, for any browser to open",
        usage="webelf serve ELF [options] [--] [ARG...]",
        description=(
            "Run a static i386 or x86-64 Linux ELF in the emulator and bridge each port it "
            "listens on "
            "to a real socket on this machine, so a browser or curl on any OS can talk to "
            "it. Each real connection becomes a connection on the guest's fake network; "
            "bytes, half-closes and resets pass both ways, and a slow client slows the guest "
            "as on Linux. The guest's clock follows the wall clock. The host port is the "
            "guest's own when free, else one the OS picks (--port chooses). Prints the URL "
            "to open, then one access-log line per response on stdout, in the Common Log "
            "Format (client, time, request line, status, body bytes). ARGs, --env and "
            "the guest's stdin, stdout and stderr are as for webelf run."),
        epilog=("exit status: 0 stopped by Ctrl-C or SIGTERM; the guest's own when it exits; "
                "1 cannot listen on the host port, or the guest listens on no port; 2 bad "
                "usage; 124 time or instruction budget used up; 125 not a static i386 or "
                "x86-64 ELF; 128+N killed by signal N."))
    guest_options(serve)
    serve.add_argument("args", metavar="ARG", nargs="*",
                       help="the guest's arguments, after argv[0] (ELF as given)")
    serve.add_argument("--host", metavar="ADDR", default="127.0.0.1",
                       help="dotted IPv4 address of this machine to listen on (default: "
                            "127.0.0.1, this machine only; another, such as 0.0.0.0, lets "
                            "other machines in, and says so)")
    serve.add_argument("--env", metavar="NAME=VALUE", type=_env_pair, action="append",
                       default=[], help="a variable of the guest's environment; repeatable")
    serve.add_argument("--strace", action="store_true",
                       help="print each system call to stderr, in strace's format")
    serve.set_defaults(func=_serve)
    for action in serve._actions:  # noqa: SLF001 - argparse keeps no public handle
        if action.dest == "port":
            action.help = ("the TCP port to listen on here, 1..65535 (default: the guest's "
                           "own port when it is free, else one the OS picks)")
    fuzz = sub.add_parser(
        "fuzz", help="find requests that crash, hang or break an ELF server",
        usage="webelf fuzz ELF [--corpus DIR] [--runs N | --seconds S] [--out DIR] "
              "[--seed S] [options] [--] [ARG...]",
        description=(
            "Coverage-guided fuzzing of a static i386 or x86-64 Linux ELF server through the "
            "fake network, with no change to the program: it runs until it first waits for "
            "a connection, is snapshotted there, and each input is sent on a new connection "
            "to the guest restored to that moment. Inputs that reach new edges of the "
            "program's control flow join the corpus. A finding is a crash (any fatal "
            "signal), a hang (the instruction budget used up between two waits) or an "
            "invalid HTTP response (h11, a Content-Length that disagrees with the body "
            "included), or with --reference a response unlike another build's; each "
            "distinct one is minimised and written as DIR/<kind>-<n>.http, "
            "with one line on stderr and the webelf run command that reproduces it. A "
            "progress line goes to stderr at most once a second. The same --seed and --runs "
            "give the same findings. ARGs are the guest's, as for webelf run."),
        epilog=("exit status: 0 nothing found; 1 something found (or the guest listens on "
                "no port); 2 bad usage, a corpus without requests, or a guest that never "
                "waits for a connection; 124 the guest ran out of its budget before it "
                "waited; 125 not a static i386 or x86-64 ELF; 128+N killed by signal N "
                "before it waited; 130 interrupted (the findings so far are written)."))
    guest_options(fuzz)
    fuzz.add_argument("args", metavar="ARG", nargs="*",
                      help="the guest's arguments, after argv[0] (ELF as given)")
    fuzz.add_argument("--corpus", metavar="DIR", type=Path, default=None,
                      help="the seed requests: every regular file in DIR (default: the "
                           "project's request corpus, fixtures/requests, when it is there; "
                           "else one GET / request)")
    budget = fuzz.add_mutually_exclusive_group()
    budget.add_argument("--runs", metavar="N", type=_positive, default=None,
                        help="stop after N runs (reproducible; default: 10000 unless "
                             "--seconds is given)")
    budget.add_argument("--seconds", metavar="S", type=_seconds, default=None,
                        help="stop after S seconds of wall clock")
    fuzz.add_argument("--out", metavar="DIR", type=Path, default=Path("fuzz-findings"),
                      help="where findings are written (default: fuzz-findings)")
    fuzz.add_argument("--seed", metavar="S", type=int, default=0,
                      help="the random seed (default: 0)")
    fuzz.add_argument("--jobs", metavar="N", type=_positive, default=1,
                      help="fuzz in N processes at once, job K with seed S+K, sharing new "
                           "corpus entries through DIR/.corpus and the findings' keys, so "
                           "that a bug several jobs find is written once (the runs then "
                           "depend on timing; --runs and --seconds are each job's)")
    fuzz.add_argument("--job", type=int, default=0, help=argparse.SUPPRESS)  # a job's number
    fuzz.add_argument("--keys", type=Path, default=None, help=argparse.SUPPRESS)  # job 0's
    fuzz.add_argument("--reference", metavar="OTHER", type=Path, default=None,
                      help="differential fuzzing: another build of the server, run with the "
                           "same ARGs; a response that is not the same bytes as OTHER's is a "
                           "finding (differs-<n>.http)")
    for action in fuzz._actions:  # noqa: SLF001 - argparse keeps no public handle
        if action.dest == "max_instructions":
            action.help = ("the budget between two waits: a run of more than N basic "
                           "blocks (each at least one instruction) is a hang, and the start, "
                           "until the guest first waits, may take N instructions (default: "
                           "1,000,000 blocks, and no instruction budget for the start)")
    fuzz.set_defaults(func=_fuzz)
    parser.guest_commands = {"run": run, "serve": serve, "fuzz": fuzz}  # for _split_guest_args

    check = sub.add_parser(
        "check", help="compare an ELF's response with an expected one",
        description=(
            "Run the ELF in the emulator with one request and compare its response, byte "
            "for byte, with the expected file; then check the response is valid HTTP/1.1 "
            "(h11), Content-Length included."),
        epilog="exit status: 0 identical and valid; 1 different or invalid; 2 bad usage; "
               "124, 125, 128+N, 130 as for run.")
    guest_options(check)
    check.add_argument("--request", metavar="FILE", type=Path, required=True,
                       help="the request to send")
    check.add_argument("--expect", metavar="FILE", type=Path, required=True,
                       help="the exact response expected")
    check.set_defaults(func=_check)

    disasm = sub.add_parser(
        "disasm", help="list the executable segments of an ELF",
        description=("A stable listing of the ELF's executable segments, one instruction "
                     "per line: address, bytes, mnemonic and operands (capstone)."),
        epilog="exit status: 0 listed; 2 bad usage; 125 not a static i386 or x86-64 ELF.")
    disasm.add_argument("elf", metavar="ELF", type=Path,
                        help="a static i386 or x86-64 Linux executable")
    disasm.set_defaults(func=_disasm)

    capture = sub.add_parser(
        "capture", help="record the exact bytes real HTTP clients send",
        description=(
            "Listen on 127.0.0.1 and write the exact bytes each connection sends to "
            "DIR/<n>.http (n counts up from 1, skipping files already there): the request "
            "line and headers, plus a body framed by Content-Length or chunked encoding "
            "(h11 judges where the request ends). Bytes after the first request, such as "
            "a pipelined second one, are not recorded. A client that stops sending, or "
            "sends what is not HTTP, is recorded as far as it got once it has been idle "
            "for --idle-timeout seconds. Each client is answered with a small page "
            "(200, Connection: close); a connection that sends nothing is not recorded. "
            "Prints 'listening on 127.0.0.1:PORT', then one line per capture."),
        epilog="exit status: 0 wrote --count captures, or stopped by Ctrl-C; 1 cannot "
               "listen on the port or write a capture; 2 bad usage.")
    capture.add_argument("--port", metavar="N", type=_listen_port, default=0,
                         help="TCP port on 127.0.0.1, 0..65535 (default: 0, a free one)")
    capture.add_argument("--count", metavar="K", type=_positive, default=None,
                         help="stop after K captures (default: until Ctrl-C)")
    capture.add_argument("--idle-timeout", metavar="S", type=_seconds, default=2.0,
                         help="seconds without a byte after which an unfinished request "
                              "is recorded as it is (default: 2)")
    capture.add_argument("-o", "--output", metavar="DIR", type=Path, required=True,
                         help="directory to write the captures to (created if missing)")
    capture.set_defaults(func=_capture)
    return parser


# ---------------------------------------------------------------------- build

def _build(args: argparse.Namespace) -> int:
    if args.site is not None:
        if args.content_type:
            raise UsageError("--content-type applies to --html; a site's types come from "
                             "its file names")
        site = Site.from_dir(args.site)
    elif args.html is not None:
        site = Site.single(Page.from_file(args.html, args.content_type))
    elif args.content_type:
        site = Site.single(Page.make(default_page().body, args.content_type))
    else:
        site = default_site()
    options = {"workers": args.workers, "max_connections": args.max_connections,
               "header_timeout": args.header_timeout, "send_timeout": args.send_timeout}
    config = ServerConfig(port=args.port, bind=args.bind, idle_timeout=args.idle_timeout,
                          arch=args.arch,
                          **{name: value for name, value in options.items() if value is not None})
    program = build_server(site, config)
    _write_executable(args.output, program)
    # Where it went, and where to point a browser once it runs.
    command = str(args.output) if os.sep in str(args.output) else f".{os.sep}{args.output}"
    _stderr_line(f"webelf: wrote {args.output} ({len(program)} bytes): {shlex.quote(command)} "
                 f"serves {config.url}")
    return EXIT_OK


def _write_executable(path: Path, data: bytes) -> None:
    """Write through a temporary file and rename, so a reader never sees half a program."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


# ---------------------------------------------------------------------- run, check, disasm

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


def _check(args: argparse.Namespace) -> int:
    from harness.http import check_response, diff_bytes

    request, expected = _read(args.request), _read(args.expect)
    guest = _guest(args)
    guest.start()
    if guest.exited:
        print(f"webelf: the guest exited with status {guest.exit_status} before it listened",
              file=sys.stderr)
        return EXIT_DIFFERS
    response = guest.request(request, guest.port(args.port))
    method = request.split(b" ", 1)[0].decode("ascii", "replace") or "GET"
    problems = check_response(response, method).problems
    difference = diff_bytes(expected, response)
    for problem in problems:
        print(f"webelf: invalid HTTP: {problem}", file=sys.stderr)
    if difference is not None:
        print(difference, file=sys.stderr)
    return EXIT_DIFFERS if difference is not None or problems else EXIT_OK


#: The project's request corpus, the default seeds of webelf fuzz (in a source checkout).
_REQUEST_CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "requests"


def _fuzz_seeds(corpus: Path | None) -> list[bytes]:
    directory = corpus if corpus is not None else _REQUEST_CORPUS
    if corpus is None and not directory.is_dir():
        return [DEFAULT_REQUEST]
    if not directory.is_dir():
        raise UsageError(f"--corpus {directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix not in (".py", ".toml", ".md"))
    seeds = [_read(p) for p in files]
    if not seeds:
        raise UsageError(f"--corpus {directory}: no request files in it")
    return seeds


def _fuzz(args: argparse.Namespace) -> int:
    from harness.fuzz import DEFAULT_BUDGET, Fuzzer

    seeds = _fuzz_seeds(args.corpus)
    budget = args.max_instructions or DEFAULT_BUDGET
    guest = _guest(args, stdout=lambda _: None, stderr=lambda _: None)
    guest.start()
    if not guest.waiting_in_accept:
        why = (f"exited with status {guest.exit_status}" if guest.exited
               else f"waits in {guest.last_stop.syscall}")
        raise UsageError(f"{args.elf} never waits for a connection (it {why}): nothing to fuzz")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create it ({exc.strerror or exc})") from None
    reference = None
    if args.reference is not None:
        reference = Guest(_read_elf(args.reference),
                          argv=(str(args.reference), *getattr(args, "args", ())),
                          exe_path=os.path.abspath(args.reference), stdout=lambda _: None,
                          stderr=lambda _: None, max_instructions=args.max_instructions,
                          max_seconds=args.max_seconds, root=args.root)
        reference.start()
        if not reference.waiting_in_accept:
            raise UsageError(f"--reference {args.reference} never waits for a connection: "
                             "it cannot be compared")
    keys, jobs = args.keys, []
    if args.jobs > 1 and args.job == 0:  # this run's claimed findings (Fuzzer.share), gone after
        import tempfile

        keys = Path(tempfile.mkdtemp(prefix=".keys-", dir=args.out))
        jobs = _start_jobs(args, keys)
    fuzzer = Fuzzer(guest, seeds, seed=args.seed + args.job, budget=budget, port=args.port,
                    reference=reference)
    if args.jobs > 1:
        fuzzer.share(args.out / ".corpus", f"job{args.job}", keys=keys)
    label = f"webelf fuzz [job {args.job}]" if args.jobs > 1 else "webelf fuzz"
    words = ["webelf", "run", str(args.elf), "--max-instructions", str(budget)]
    if args.root is not None:
        words += ["--root", str(args.root)]
    if args.port is not None:
        words += ["--port", str(args.port)]

    def found(finding) -> None:
        number = finding.number
        while True:  # the first free number: earlier runs' and other jobs' files stay
            path = args.out / f"{finding.kind}-{number}.http"
            try:
                with open(path, "xb") as file:
                    file.write(finding.data)
                break
            except FileExistsError:
                number += 1
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        command = shlex.join([*words, "--request", str(path),
                              *(["--", *args.args] if args.args else [])])
        if reference is not None:
            command += "; compare: " + shlex.join(
                ["webelf", "run", str(args.reference), "--request", str(path),
                 *(["--", *args.args] if args.args else [])])
        _stderr_line(f"{label}: {path.stem}: {finding.detail} (run {finding.runs:,}, "
                     f"{len(finding.data)} bytes): {path}; reproduce: {command}")

    def progress(report) -> None:
        _stderr_line(_fuzz_line(report, label))

    runs = args.runs if args.runs is not None or args.seconds is not None else 10_000
    try:
        report = fuzzer.run(runs=runs, seconds=args.seconds, progress=progress, found=found)
    finally:
        statuses = [job.wait() for job in jobs]
        if jobs:
            import shutil

            shutil.rmtree(keys, ignore_errors=True)
    _stderr_line(_fuzz_line(report, label) + (f" in {args.out}" if report.findings else ""))
    found_any = report.findings or any(status == EXIT_DIFFERS for status in statuses)
    return EXIT_DIFFERS if found_any else EXIT_OK


def _start_jobs(args: argparse.Namespace, keys: Path) -> list:
    """--jobs N: jobs 1..N-1 as child processes of this one (job 0), each a webelf fuzz with
    the same options, its own --job number and the directory where findings are claimed."""
    import subprocess

    words = [sys.executable, "-m", "webelf", "fuzz", str(args.elf), "--out", str(args.out),
             "--seed", str(args.seed), "--jobs", str(args.jobs), "--keys", str(keys)]
    for option, value in (("--corpus", args.corpus), ("--runs", args.runs),
                          ("--reference", args.reference),
                          ("--seconds", args.seconds), ("--port", args.port),
                          ("--max-instructions", args.max_instructions),
                          ("--max-seconds", args.max_seconds), ("--root", args.root)):
        if value is not None:
            words += [option, str(value)]
    return [subprocess.Popen([*words, "--job", str(k), "--", *args.args])
            for k in range(1, args.jobs)]


def _fuzz_line(report, label: str = "webelf fuzz") -> str:
    rate = report.runs / report.seconds if report.seconds else 0.0
    return (f"{label}: {report.seconds:.1f} s, {report.runs:,} runs ({rate:,.0f}/s), "
            f"{report.edges:,} edges, corpus {report.corpus:,}, "
            f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}")


def _disasm(args: argparse.Namespace) -> int:
    from harness.elf import load
    from harness.trace import listing

    sys.stdout.write(listing(load(_read_elf(args.elf))))
    return EXIT_OK


# ---------------------------------------------------------------------- serve

def _host(text: str) -> str:
    """--host: a dotted IPv4 address; one that is not loopback gets a warning line."""
    import ipaddress

    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        raise UsageError(f"--host {text!r} is not a dotted IPv4 address") from None
    if not address.is_loopback:
        _stderr_line(f"webelf: warning: listening on {text}: other machines can reach the "
                     "guest (the default, 127.0.0.1, is this machine only)")
    return str(address)


def _serve(args: argparse.Namespace) -> int:
    import time

    from harness.bridge import Bridge, BridgeError, listen
    from harness.net import Network, format_ip

    host = _host(args.host)
    output = _GuestOutput()
    network = Network(epoch_ns=time.time_ns())  # CLOCK_REALTIME is the wall clock's
    guest = _guest(args, stdin=_own_stdin(), stdout=output.stdout, stderr=output.stderr,
                   network=network)
    if args.strace:
        guest.kernel.strace = output.line
    sockets = []
    try:
        started = time.monotonic()  # the guest's clock starts at 0 now
        guest.start()
        if guest.exited:
            return _exited(guest)
        targets = network.listening()
        if not targets:
            raise HarnessError("the guest does not listen on any port")
        if args.port is not None and len(targets) > 1:
            raise UsageError("the guest listens on ports " + ", ".join(
                str(port) for _, port in targets) + ": --port chooses one host port, so "
                "leave it out to bridge each to its own")
        notes = []
        for ip, port in targets:
            if args.port is not None:
                sock = listen(host, args.port)
            else:
                try:
                    sock = listen(host, port)
                except BridgeError:  # taken here (or privileged): one the OS picks
                    sock = listen(host, 0)
            sockets.append(sock)
            here = sock.getsockname()[1]
            notes.append(f"the guest's {format_ip(ip)}:{port}" if here != port else "")
        with Bridge(guest, zip(sockets, targets), log=_stdout_line, started=started) as bridge:
            shown = "127.0.0.1" if host == "0.0.0.0" else host
            for sock, note in zip(sockets, notes):
                aside = f"{note}; " if note else ""
                _stdout_line(f"webelf: serving {args.elf} at http://{shown}:"
                             f"{sock.getsockname()[1]}/ ({aside}Ctrl-C stops)")
            sockets = []
            bridge.serve()
        return _exited(guest)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: how serve is meant to end
        return EXIT_OK
    except BridgeError as exc:
        _stderr_line(f"webelf: {exc}")
        return EXIT_NO_LISTENER
    except GuestFault as exc:
        _stderr_line(f"webelf: guest killed by {exc}")
        _unmodelled(guest)
        return EXIT_SIGNAL_BASE + exc.signal
    finally:
        for sock in sockets:
            sock.close()
        guest.close()


# ---------------------------------------------------------------------- capture

def _stdout_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _capture(args: argparse.Namespace) -> int:
    from harness.capture import listen, serve

    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {args.output}: {exc.strerror or exc}") from None
    if not os.access(args.output, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to {args.output}")
    # A shell starts background jobs with SIGINT ignored; `kill -INT` must still end one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with listen(args.port) as listener:
            _stdout_line("listening on %s:%d" % listener.getsockname())
            serve(args.output, listener, count=args.count, idle_timeout=args.idle_timeout,
                  log=_stdout_line)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how an open-ended capture is meant to end
    return EXIT_OK


# ---------------------------------------------------------------------- main

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
            from harness.machine import interruptible

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
