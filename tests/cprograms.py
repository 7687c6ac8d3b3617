"""Real C programs for the harness: fixtures/programs/c/*.c, compiled at test time with three
i386 C libraries, as static ELFs.

Nothing is committed but the sources: :func:`build` compiles one (libc, program) pair into a
directory the session owns and caches it, so every test of a pytest worker shares one build.
A toolchain that is missing skips its tests, naming the Debian package to install (fails
under ``CI=true``, see :func:`support.missing`).

The compile commands (each makes a static ELF32 i386 executable that Linux runs natively):

glibc     ``gcc -m32 -static -O2 -fno-pie -no-pie``  (gcc-12-multilib; the gcc-multilib
          metapackage would do, but on Debian 12 it conflicts with musl-dev:i386)
musl      ``gcc -m32 -specs=/usr/lib/i386-linux-musl/musl-gcc.specs -static -O2 -fno-pie
          -no-pie -Wl,-m,elf_i386``  (musl-dev:i386).  The specs file is what Debian's
          i386 ``musl-gcc`` wrapper uses; its link spec replaces gcc's, dropping the
          ``-m elf_i386`` that ``-m32`` gives ld, so it is passed again.
dietlibc  ``diet -Os gcc -m32 -static -fno-pie -no-pie``  (dietlibc-dev:i386: ``diet`` picks
          ``/usr/lib/i386-linux-gnu/diet/lib-i386`` from ``-m32``).

On Debian amd64 ``gcc -m32`` finds glibc's i386 headers but not the kernel's ``<asm/...>``
ones, which ``<sys/socket.h>`` includes: those come with linux-libc-dev:i386, which cannot be
installed next to linux-libc-dev:amd64 of another version.  The x86 uapi ``asm`` headers are
the same files for i386 and x86_64 (they test ``__i386__`` themselves), so when the i386 ones
are absent glibc builds add ``-idirafter`` a directory whose ``asm`` links to the amd64 ones.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from support import FIXTURES, _complaint, missing

SOURCES = FIXTURES / "programs" / "c"
PROGRAMS = ("hello", "filter", "bigmalloc", "abort", "server", "file_server", "fs_probe")
LIBCS = ("glibc", "musl", "dietlibc")

MUSL_SPECS = Path("/usr/lib/i386-linux-musl/musl-gcc.specs")
AMD64_ASM = Path("/usr/include/x86_64-linux-gnu/asm")
_FLAGS = ["-static", "-fno-pie", "-no-pie", "-Wall", "-Werror"]


@dataclass(frozen=True)
class Toolchain:
    libc: str
    command: tuple[str, ...]  # the compiler command, before the flags and files


class ToolchainMissing(Exception):
    def __init__(self, what: str, remedy: str) -> None:
        super().__init__(what, remedy)
        self.what, self.remedy = what, remedy


@functools.cache
def _cache_dir() -> Path:
    """One build directory per process (each xdist worker builds its own), removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="webelf-cprograms-"))
    import atexit

    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _probe(command: list[str], what: str, remedy: str, source: str) -> None:
    """Compile and link ``source`` with ``command``; ToolchainMissing if that fails."""
    # A file, not "-x c -": diet appends libc.a to the command, and "-x c" would apply to it.
    out = _cache_dir() / f"probe-{abs(hash(tuple(command)))}"
    out.with_suffix(".c").write_text(source)
    result = subprocess.run([*command, "-o", str(out), str(out.with_suffix(".c"))],
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise ToolchainMissing(what, f"{remedy} ({_complaint(result)})")


_PROBE_SOURCE = "#include <stdio.h>\n#include <sys/socket.h>\nint main(void){return puts(\"\");}\n"


@functools.cache
def _toolchain(libc: str) -> Toolchain:
    if libc == "glibc":
        if shutil.which("gcc") is None:
            raise ToolchainMissing("gcc", "apt-get install gcc-12-multilib")
        command = ["gcc", "-m32", "-O2"]
        try:
            _probe(command + _FLAGS, "gcc -m32 (i386 glibc)",
                   "apt-get install gcc-12-multilib", _PROBE_SOURCE)
        except ToolchainMissing:
            if not AMD64_ASM.is_dir():
                raise
            shim = _cache_dir() / "asm-shim"
            shim.mkdir(exist_ok=True)
            if not (shim / "asm").exists():
                (shim / "asm").symlink_to(AMD64_ASM)
            command += ["-idirafter", str(shim)]
            _probe(command + _FLAGS, "gcc -m32 (i386 glibc)",
                   "apt-get install gcc-12-multilib linux-libc-dev:i386", _PROBE_SOURCE)
        return Toolchain(libc, tuple(command))
    if libc == "musl":
        remedy = "apt-get install musl-dev:i386 musl-tools:i386"
        if shutil.which("gcc") is None:
            raise ToolchainMissing("gcc", "apt-get install gcc-12-multilib")
        if not MUSL_SPECS.is_file():
            raise ToolchainMissing(f"musl-gcc for i386 ({MUSL_SPECS})", remedy)
        command = ["gcc", "-m32", f"-specs={MUSL_SPECS}", "-O2", "-Wl,-m,elf_i386"]
        _probe(command + _FLAGS, "musl-gcc for i386", remedy, _PROBE_SOURCE)
        return Toolchain(libc, tuple(command))
    if libc == "dietlibc":
        remedy = "apt-get install dietlibc-dev:i386"
        if shutil.which("diet") is None:
            raise ToolchainMissing("diet (dietlibc for i386)", remedy)
        command = ["diet", "-Os", "gcc", "-m32"]
        _probe(command + _FLAGS, "dietlibc for i386", remedy, _PROBE_SOURCE)
        return Toolchain(libc, tuple(command))
    raise ValueError(f"unknown C library {libc!r}")


@functools.cache
def _toolchain_or_missing(libc: str) -> Toolchain | ToolchainMissing:
    """The probe's answer, cached either way: a missing toolchain is probed once per process."""
    try:
        return _toolchain(libc)
    except ToolchainMissing as exc:
        return exc


def toolchain(libc: str) -> Toolchain:
    """The toolchain for ``libc``, or skip (fail under CI=true) naming what to install."""
    chain = _toolchain_or_missing(libc)
    if isinstance(chain, ToolchainMissing):
        missing(chain.what, chain.remedy)
    return chain


@functools.cache
def _build(libc: str, program: str) -> bytes:
    chain = _toolchain(libc)
    out = _cache_dir() / f"{program}-{libc}.elf"
    result = subprocess.run([*chain.command, *_FLAGS, "-o", str(out), str(SOURCES / f"{program}.c")],
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(chain.command)} cannot compile {program}.c:\n"
                             + result.stderr.decode(errors="replace"))
    data = out.read_bytes()
    # What the harness runs, and what `file` calls "ELF 32-bit LSB executable, Intel 80386":
    assert data[:4] == b"\x7fELF" and data[4] == 1, f"{out} is not ELF32"
    assert int.from_bytes(data[16:18], "little") == 2, f"{out} is not ET_EXEC (static, no PIE)"
    assert int.from_bytes(data[18:20], "little") == 3, f"{out} is not EM_386"
    return data


def build(libc: str, program: str, directory: Path | None = None) -> bytes:
    """The bytes of ``program``.c built with ``libc`` (cached); skips if the toolchain is
    missing.  With ``directory``, also writes it there as an executable ``program``."""
    toolchain(libc)
    data = _build(libc, program)
    if directory is not None:
        path = directory / program
        path.write_bytes(data)
        os.chmod(path, 0o755)
    return data
