"""Real C programs built for x86-64: fixtures/programs/c/*.c, compiled at test time as
static ELF64 executables, as :mod:`cprograms` builds them for i386.

The compile commands (each makes a static x86-64 executable that Linux runs natively):

glibc      ``gcc -static -O2 -fno-pie -no-pie``  (gcc, libc6-dev: ET_EXEC at 0x400000)
glibc-pie  ``gcc -static-pie -O2 -fpie``  (the same, a static-pie: ET_DYN without PT_INTERP)
musl       ``gcc -specs=/usr/lib/x86_64-linux-musl/musl-gcc.specs -static -O2 -fno-pie
           -no-pie``  (musl-dev, amd64).  Debian's ``musl-gcc`` may be the i386 wrapper
           (musl-tools:i386); the amd64 specs file is what the amd64 wrapper passes.

A missing toolchain skips its tests naming the package (fails under ``CI=true``).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from cprograms import SOURCES, ToolchainMissing, _cache_dir, _probe
from support import missing

LIBCS64 = ("glibc", "glibc-pie", "musl")
MUSL64_SPECS = Path("/usr/lib/x86_64-linux-musl/musl-gcc.specs")
_PROBE_SOURCE = "#include <stdio.h>\n#include <sys/socket.h>\nint main(void){return puts(\"\");}\n"
_WARN = ["-Wall", "-Werror"]
EM_X86_64 = 62


@functools.cache
def _command(libc: str) -> tuple[str, ...]:
    if shutil.which("gcc") is None:
        raise ToolchainMissing("gcc", "apt-get install gcc")
    if libc == "glibc":
        command = ["gcc", "-m64", "-O2", "-static", "-fno-pie", "-no-pie"]
        _probe(command, "gcc -static (x86-64 glibc)", "apt-get install gcc libc6-dev",
               _PROBE_SOURCE)
    elif libc == "glibc-pie":
        command = ["gcc", "-m64", "-O2", "-static-pie", "-fpie"]
        _probe(command, "gcc -static-pie (x86-64 glibc)", "apt-get install gcc libc6-dev",
               _PROBE_SOURCE)
    elif libc == "musl":
        remedy = "apt-get install musl-dev (amd64)"
        if not MUSL64_SPECS.is_file():
            raise ToolchainMissing(f"musl-gcc for x86-64 ({MUSL64_SPECS})", remedy)
        command = ["gcc", "-m64", f"-specs={MUSL64_SPECS}", "-O2", "-static", "-fno-pie",
                   "-no-pie"]
        _probe(command, "musl-gcc for x86-64", remedy, _PROBE_SOURCE)
    else:
        raise ValueError(f"unknown C library {libc!r}")
    return tuple(command)


@functools.cache
def _command_or_missing(libc: str) -> tuple[str, ...] | ToolchainMissing:
    try:
        return _command(libc)
    except ToolchainMissing as exc:
        return exc


@functools.cache
def _build(libc: str, program: str) -> bytes:
    command = _command(libc)
    out = _cache_dir() / f"{program}-{libc}-x86_64.elf"
    result = subprocess.run([*command, *_WARN, "-o", str(out), str(SOURCES / f"{program}.c")],
                            capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} cannot compile {program}.c:\n"
                             + result.stderr.decode(errors="replace"))
    data = out.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, f"{out} is not ELF64"
    assert int.from_bytes(data[18:20], "little") == EM_X86_64, f"{out} is not EM_X86_64"
    e_type = int.from_bytes(data[16:18], "little")
    assert e_type == (3 if libc == "glibc-pie" else 2), f"{out}: e_type {e_type}"
    return data


def build64(libc: str, program: str, directory: Path | None = None) -> bytes:
    """The bytes of ``program``.c built for x86-64 with ``libc`` (cached); skips if the
    toolchain is missing.  With ``directory``, also writes it there as ``program``."""
    chain = _command_or_missing(libc)
    if isinstance(chain, ToolchainMissing):
        missing(chain.what, chain.remedy)
    data = _build(libc, program)
    if directory is not None:
        path = directory / program
        path.write_bytes(data)
        os.chmod(path, 0o755)
    return data
