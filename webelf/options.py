"""What the words of ``webelf``'s options may be: argparse types that turn a word into a
value or refuse it with one line (exit status 2, before anything runs), and the options
every command that runs a guest takes.  Imports no other ``webelf`` module.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.server import ARCHES


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


def guest_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that runs a guest (run, serve, fuzz, check): the ELF
    and the limits it runs under."""
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
