"""The ELF64 writer, judged by readelf, pyelftools and this machine's x86-64 kernel.

The static checks are test_elf's for an ELF32 file, made for ELF64.  Then two programs of
our own encoder run natively: the hello world the issue asks for, and one that checks, one
instruction at a time, that the 64-bit traps do at run time what capstone says they mean
(an exit status names the first check that failed).
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.elf import DEFAULT_BASE64, link
from generator.x86 import (
    CL, DH, EAX, ECX, EDI, EDX, ESI, R12, R13, R14, R15, RAX, RBX, RCX, RDX, RSI, SIL,
    Assembler, byte, qword, rip,
)
from support import tool

PF_X, PF_W, PF_R = 1, 2, 4
SYS_write, SYS_exit_group = 1, 231  # arch/x86/entry/syscalls/syscall_64.tbl

native64 = pytest.mark.skipif(
    os.environ.get("WEBELF_NO_NATIVE", "") not in ("", "0")
    or not sys.platform.startswith("linux") or platform.machine() != "x86_64",
    reason="runs an x86-64 Linux ELF natively; this host cannot (or WEBELF_NO_NATIVE is set)")


def hello() -> bytes:
    """write(1, "hello\\n", 6); exit_group(0) — copied through bss first, so that text, data
    and bss, RIP-relative and absolute addresses all take part."""
    a = Assembler(bits=64)
    msg = a.data(b"hello\n", "msg")
    buf = a.reserve(64, "buf")
    start = a.label("start")
    a.bind(start)
    a.lea(RSI, rip(msg))
    a.mov(EDI, buf)  # zero-extends: the image is below 4 GiB
    a.mov(ECX, 6)
    a.rep_movsb()
    a.mov(EAX, SYS_write)
    a.mov(EDI, 1)
    a.lea(RSI, rip(buf))
    a.mov(EDX, 6)
    a.syscall()
    a.mov(EAX, SYS_exit_group)
    a.xor(EDI, EDI)
    a.syscall()
    return link(a, start)


@pytest.fixture(scope="module")
def hello_elf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("elf64") / "hello.elf"
    path.write_bytes(hello())
    path.chmod(0o755)
    return path


def test_readelf_reads_it_without_a_warning(hello_elf):
    out = subprocess.run([tool("readelf"), "-h", "-l", "-W", str(hello_elf)],
                         capture_output=True, text=True, check=True)
    assert out.stderr == ""
    assert "warning" not in out.stdout.lower()
    assert re.search(r"Class:\s+ELF64\n", out.stdout)
    assert "EXEC (Executable file)" in out.stdout
    assert "Advanced Micro Devices X86-64" in out.stdout
    assert re.search(r"Number of program headers:\s+3\n", out.stdout)
    assert re.search(r"Size of program headers:\s+56 \(bytes\)", out.stdout)
    assert "GNU_STACK" in out.stdout


def test_pyelftools_sees_an_x86_64_executable_with_wx_segments(hello_elf):
    with hello_elf.open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64 and elf.little_endian
        assert elf.header.e_type == "ET_EXEC" and elf.header.e_machine == "EM_X86_64"
        assert elf.header.e_ehsize == 64 and elf.header.e_phentsize == 56
        assert elf.num_sections() == 0
        loads = [s for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"]
        stack = [s for s in elf.iter_segments() if s.header.p_type == "PT_GNU_STACK"]
        assert len(loads) == 2 and len(stack) == 1
        code, data = loads
        assert code.header.p_flags == PF_R | PF_X
        assert data.header.p_flags == PF_R | PF_W
        assert stack[0].header.p_flags == PF_R | PF_W
        assert code.header.p_vaddr == DEFAULT_BASE64 and code.header.p_offset == 0
        assert data.header.p_memsz > data.header.p_filesz, "the buffer is bss"
        entry = elf.header.e_entry
        assert code.header.p_vaddr + 64 + 3 * 56 == entry, "code right after the headers"
        for seg in loads:
            h = seg.header
            assert h.p_offset % h.p_align == h.p_vaddr % h.p_align
            assert h.p_offset + h.p_filesz <= hello_elf.stat().st_size
        assert code.header.p_vaddr + code.header.p_memsz <= data.header.p_vaddr & ~0xFFF
        assert data.data()[:6] == b"hello\n"


@settings(max_examples=30, deadline=None)
@given(code=st.integers(1, 9000), data=st.integers(1, 9000), bss=st.integers(1, 1 << 20))
def test_layouts_of_any_size_keep_pages_apart(code, data, bss, tmp_path_factory):
    a = Assembler(bits=64)
    blob = a.data(b"d" * data)
    a.reserve(bss)
    start = a.label()
    a.bind(start)
    for _ in range(code // 7):
        a.lea(RAX, rip(blob))
    a.mov(RBX, 0)
    elf = link(a, start)
    path = tmp_path_factory.mktemp("lay") / "x.elf"
    path.write_bytes(elf)
    with path.open("rb") as f:
        loads = [s.header for s in ELFFile(f).iter_segments() if s.header.p_type == "PT_LOAD"]
    text, dat = loads
    assert text.p_vaddr + text.p_memsz <= dat.p_vaddr & ~0xFFF
    assert dat.p_offset % 0x1000 == dat.p_vaddr % 0x1000
    assert dat.p_filesz == data and dat.p_memsz >= data + bss
    assert dat.p_offset + dat.p_filesz == len(elf)


def test_the_i386_writer_still_writes_elf32():
    a = Assembler()
    start = a.label()
    a.bind(start)
    a.ret()
    elf = link(a, start)
    assert elf[4] == 1 and int.from_bytes(elf[18:20], "little") == 3  # ELFCLASS32, EM_386
    assert int.from_bytes(elf[24:28], "little") == 0x08048000 + 52 + 3 * 32


@native64
def test_hello_runs_natively(hello_elf):
    done = subprocess.run([str(hello_elf)], capture_output=True, timeout=10,
                          stdin=subprocess.DEVNULL)
    assert (done.stdout, done.stderr, done.returncode) == (b"hello\n", b"", 0)


def traps() -> bytes:
    """A program that runs the traps of 64-bit encoding and exits with the number of the
    first check that fails (0: all pass); returns it and what each check is about."""
    a = Assembler(bits=64)
    counter = a.reserve(8, "counter")
    flag = a.reserve(8, "flag")
    fails: list = []

    def check(cond: str = "ne") -> None:  # on ``cond``, exit with len(fails) + 1
        fails.append(a.label(what[0]))
        a.j(cond, fails[-1])

    what = [""]

    def about(text: str) -> None:  # what the next checks are about
        what[0] = text

    sub, exit_ = a.label("sub"), a.label("exit")
    ptr = a.dq(sub, "ptr")
    start = a.label("start")
    a.bind(start)
    about("movabs")
    a.mov(R12, 1 << 40)
    a.shr(R12, 40)
    a.cmp(R12, 1)
    check()
    about("REX.W C7 sign-extends, 83 /7 ib too")
    a.mov(RAX, -1)
    a.cmp(RAX, -1)
    check()
    about("mov eax zero-extends")
    a.mov(RAX, 0xFFFFFFFF)
    a.shr(RAX, 32)
    check("nz")
    about("rip+disp32 with an imm32, then an imm8, after it")
    a.mov(qword[rip(counter)], -5)
    a.add(qword[rip(counter)], 47)
    a.mov(R13, counter)
    a.cmp(qword[R13], 42)  # [r13] is [r13 + 0]
    check()
    about("[r12 + label - 1], r12 = 1")
    a.mov(byte[rip(flag)], 0x41)
    a.movzx(EAX, byte[R12 + flag + -1])
    a.cmp(EAX, 0x41)
    check()
    about("sil, not dh")
    a.xor(ESI, ESI)
    a.xor(EDX, EDX)
    a.mov(SIL, 0x7F)
    a.cmp(ESI, 0x7F)
    check()
    a.test(DH, DH)
    check("nz")
    about("jrcxz tests rcx (not 0 here), jecxz ecx (0): short-only")
    a.mov(RCX, 1 << 32)
    fails.append(a.label(what[0]))  # short-only, so this failure is handled right here
    taken = a.label("taken")
    a.jrcxz(fails[-1])
    a.jecxz(taken)
    a.bind(fails[-1])
    a.mov(EDI, len(fails))
    a.jmp(exit_)
    a.bind(taken)
    about("loop counts rcx")
    a.mov(ECX, 5)
    a.xor(EAX, EAX)
    again = a.label()
    a.bind(again)
    a.add(EAX, 2)
    a.loop(again)
    a.cmp(EAX, 10)
    check()
    about("push/pop r15 are 64-bit")
    a.mov(R15, 1 << 33)
    a.push(R15)
    a.pop(RBX)
    a.mov(RDX, 1 << 33)
    a.cmp(RBX, RDX)
    check()
    about("dq and an indirect call through rip")
    a.call(qword[rip(ptr)])
    a.cmp(EAX, 7)
    check()
    about("cqo, idiv r64")
    a.mov(RAX, -100)
    a.cqo()
    a.mov(RCX, 7)
    a.idiv(RCX)
    a.cmp(RAX, -14)
    check()
    a.cmp(RDX, -2)
    check()
    about("xchg eax, eax zero-extends (90 would not)")
    a.mov(RAX, -1)
    a.xchg(EAX, EAX)
    a.shr(RAX, 32)
    check("nz")
    about("lea rip, shl by cl with a REX.B register")
    a.lea(R14, rip(counter))
    a.mov(CL, 3)
    a.shl(qword[R14], CL)
    a.cmp(qword[rip(counter)], 42 * 8)
    check()
    a.xor(EDI, EDI)
    a.bind(exit_)
    a.mov(EAX, SYS_exit_group)
    a.syscall()
    a.bind(sub)
    a.mov(EAX, 7)
    a.ret()
    for n, lab in enumerate(fails, 1):
        if lab.section is None:
            a.bind(lab)
            a.mov(EDI, n)
            a.jmp(exit_)
    return link(a, start), [lab.name for lab in fails]


@native64
def test_the_traps_run_as_capstone_reads_them(tmp_path):
    path = tmp_path / "traps.elf"
    elf, checks = traps()
    path.write_bytes(elf)
    path.chmod(0o755)
    done = subprocess.run([str(path)], capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    assert len(checks) == 15
    assert done.returncode == 0, f"check {done.returncode} failed natively: " \
        f"{checks[done.returncode - 1] if 0 < done.returncode <= len(checks) else '?'}"
