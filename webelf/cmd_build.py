"""``webelf build``: a site and a configuration in, a static ELF written whole out."""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from generator import Page, ServerConfig, Site, build_server, default_page, default_site

from .common import EXIT_OK, UsageError, _stderr_line
from .options import _arch, _idle_seconds, _port, _positive, _workers


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf build``'s options."""
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
    return build


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
