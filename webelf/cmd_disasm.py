"""``webelf disasm``: a stable listing of an ELF's executable segments (capstone)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import EXIT_OK, _read_elf


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf disasm``'s one argument."""
    disasm = sub.add_parser(
        "disasm", help="list the executable segments of an ELF",
        description=("A stable listing of the ELF's executable segments, one instruction "
                     "per line: address, bytes, mnemonic and operands (capstone)."),
        epilog="exit status: 0 listed; 2 bad usage; 125 not a static i386 or x86-64 ELF.")
    disasm.add_argument("elf", metavar="ELF", type=Path,
                        help="a static i386 or x86-64 Linux executable")
    disasm.set_defaults(func=_disasm)
    return disasm


def _disasm(args: argparse.Namespace) -> int:
    from harness.elf import load
    from harness.trace import listing

    sys.stdout.write(listing(load(_read_elf(args.elf))))
    return EXIT_OK
