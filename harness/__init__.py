"""Run any static i386 or x86-64 Linux ELF inside unicorn, over an in-process fake network.

Nothing here imports ``generator/``: the harness must be able to judge any ELF, not only
ours, so it trusts no syscall number, layout or constant of the generator's.

The public surface is small; everything else is in the modules named below, one concept
each: :mod:`.elf` (loading), :mod:`.machine` (the CPU), :mod:`.kernel` (the system
call table), :mod:`.net` (the fake network), :mod:`.trace` (strace lines, listings),
:mod:`.coverage` (which instructions ran), :mod:`.http` (h11 validation, byte diffs),
:mod:`.bridge` (``webelf serve``: the guest's ports on real sockets), :mod:`.accesslog`
(Common Log Format lines from a connection's bytes), :mod:`.linux` (Linux's numbers).
"""

from .errors import ElfError, GuestFault, GuestTimeout, HarnessError, NetError, UnsupportedSyscall

__all__ = [
    "DEFAULT_REQUEST", "Client", "Coverage", "CoverageMap", "ElfError", "Guest", "GuestFault",
    "GuestTimeout", "HarnessError", "NetError", "Network", "Stop", "UnsupportedSyscall",
]

#: Names whose modules import unicorn, or harness.trace's tables: loaded on first use, so that
#: ``harness.elf`` or ``harness.net`` alone stay importable without the emulator (PEP 562).
_LAZY = {"DEFAULT_REQUEST": "guest", "Guest": "guest", "Client": "net", "Network": "net",
         "Stop": "kernel", "Coverage": "coverage", "CoverageMap": "coverage"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
