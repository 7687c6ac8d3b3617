"""The ``webelf`` console script: argument parsing and exit statuses, nothing else.

Exit statuses of ``webelf build``:

====  ==============================================================================
0     the executable was written
2     bad input: an unknown option, a missing or unreadable page, a port outside
      1..65535, a bind address that is not dotted IPv4, an output path that cannot be
      written.  One line on stderr says which; never a traceback.
====  ==============================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

from generator import GeneratorError, Page, ServerConfig, build_server, default_page, http_response

EXIT_OK = 0
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the command line; the message is printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2, as documented above."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _port(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1..65535")
    return value


def _parser() -> _Parser:
    parser = _Parser(prog="webelf", description=(
        "Write a web site as a static i386 Linux executable of hand-encoded machine code."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    build = sub.add_parser(
        "build", help="write a static ELF that serves a page over HTTP",
        description=(
            "Write a static 32-bit Linux executable that serves one page over HTTP/1.1. "
            "Every response is computed here, Content-Length included; the program "
            "needs nothing but the Linux kernel. Run it with ./OUT and open "
            "http://localhost:PORT/. If it cannot listen, it prints which call failed "
            "and the errno, and exits with status 1."),
        epilog="exit status: 0 written; 2 bad input (one line on stderr).")
    build.add_argument("--html", metavar="FILE", type=Path,
                       help="the page to serve (default: the built-in page)")
    build.add_argument("--port", metavar="N", type=_port, default=8080,
                       help="TCP port to listen on, 1..65535 (default: 8080)")
    build.add_argument("--bind", metavar="ADDR", default="0.0.0.0",
                       help="dotted IPv4 address to listen on (default: 0.0.0.0, every "
                            "interface; 127.0.0.1 for this machine only)")
    build.add_argument("--content-type", metavar="TYPE", default=None,
                       help="Content-Type of the page (default: from the file's suffix, "
                            "text/html for .html; text types get charset=utf-8)")
    build.add_argument("-o", "--output", metavar="OUT", type=Path, required=True,
                       help="where to write the executable (mode 0755)")
    build.set_defaults(func=_build)
    return parser


def _build(args: argparse.Namespace) -> int:
    if args.html is None:
        page = default_page()
        if args.content_type:
            page = Page.make(page.body, args.content_type)
    else:
        page = Page.from_file(args.html, args.content_type)
    program = build_server(http_response(page), ServerConfig(port=args.port, bind=args.bind))
    _write_executable(args.output, program)
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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return args.func(args)
    except (UsageError, GeneratorError) as exc:
        print(f"webelf: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
