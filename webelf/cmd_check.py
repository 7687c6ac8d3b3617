"""``webelf check``: one request's response compared, byte for byte, with an expected one,
and judged as HTTP/1.1."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import EXIT_DIFFERS, EXIT_OK, _guest, _read
from .options import guest_options


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf check``'s options."""
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
    return check


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
