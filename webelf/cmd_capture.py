"""``webelf capture``: the exact bytes real HTTP clients send, written one request per
file (:mod:`harness.capture` does the listening and framing)."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from .common import EXIT_OK, UsageError, _stdout_line
from .options import _listen_port, _positive, _seconds


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf capture``'s options."""
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
    return capture


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
