"""The CPU Linux gives a 32-bit task: ring 3, its segments, and the signal for each exception.

Each program is a few raw instruction bytes; it runs on the real kernel under ``strace -e
trace=none`` (which prints only the ``--- SIGxxx {...} ---`` and ``+++ ... +++`` lines) and in
the harness with ``--strace``; the two must print the same lines: the same signal, si_code and
si_addr, or the same exit.  The kernel decides what is right here (arch/x86/kernel/traps.c);
nothing in this file says which signal an instruction should give.
"""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

import pytest

from generator.elf import link
from generator.x86 import EAX, EBX, Assembler
from harness import Guest, GuestFault
from harness.cpu import reads_descriptor
from support import NATIVE, NATIVE_REASON, i386_strace

# Registers each program starts from: eax points at 8 bytes of stack holding (0, 2), an
# operand for lgdt and a bound pair; ebx = 1, ecx = 2, edx = 0x80 (a port).
_SETUP = (
    b"\x6a\x02"              # push 2
    b"\x6a\x00"              # push 0
    b"\x89\xe0"              # mov eax, esp
    b"\xbb\x01\x00\x00\x00"  # mov ebx, 1
    b"\xb9\x02\x00\x00\x00"  # mov ecx, 2
    b"\xba\x80\x00\x00\x00"  # mov edx, 0x80
)

#: (name, instruction bytes).  After the bytes the program exits 0, so an instruction that
#: does not fault shows as ``+++ exited with 0 +++`` both ways.
CASES = [
    # privileged: #GP at CPL 3
    ("hlt", b"\xf4"), ("cli", b"\xfa"), ("sti", b"\xfb"),
    ("in al, dx", b"\xec"), ("out dx, al", b"\xee"), ("in al, 0x80", b"\xe4\x80"),
    ("insb", b"\x6c"), ("outsb", b"\x6e"),
    ("lgdt [eax]", b"\x0f\x01\x10"), ("lidt [eax]", b"\x0f\x01\x18"),
    ("lmsw ax", b"\x0f\x01\xf0"), ("invlpg [eax]", b"\x0f\x01\x38"),
    ("lldt ax", b"\x0f\x00\xd0"), ("ltr ax", b"\x0f\x00\xd8"),
    ("mov eax, cr0", b"\x0f\x20\xc0"), ("mov cr0, eax", b"\x0f\x22\xc0"),
    ("mov eax, cr3", b"\x0f\x20\xd8"), ("mov eax, dr7", b"\x0f\x21\xf8"),
    ("wrmsr", b"\x0f\x30"), ("rdmsr", b"\x0f\x32"), ("rdpmc", b"\x0f\x33"),
    ("clts", b"\x0f\x06"), ("invd", b"\x0f\x08"), ("wbinvd", b"\x0f\x09"),
    # software interrupts: only 3, 4 and 0x80 have a DPL-3 gate in Linux's IDT
    ("int 0", b"\xcd\x00"), ("int 1", b"\xcd\x01"), ("int 3 (cd 03)", b"\xcd\x03"),
    ("int 4", b"\xcd\x04"), ("int 5", b"\xcd\x05"), ("int 6", b"\xcd\x06"),
    ("int 0x0d", b"\xcd\x0d"), ("int 0x0e", b"\xcd\x0e"), ("int 0x81", b"\xcd\x81"),
    ("int 0xff", b"\xcd\xff"),
    ("int3", b"\xcc"), ("icebp", b"\xf1"),
    ("into with OF", b"\xb0\x7f\x04\x01\xce"),  # mov al, 0x7f; add al, 1; into
    ("into without OF", b"\xce"),
    # exceptions
    ("div by zero", b"\x31\xd2\x31\xc9\xf7\xf1"),  # xor edx, edx; xor ecx, ecx; div ecx
    ("idiv overflow", b"\xb8\x00\x00\x00\x80\x99\xb9\xff\xff\xff\xff\xf7\xf9"),
    ("ud2", b"\x0f\x0b"),
    ("bound out of range", b"\xbb\x05\x00\x00\x00\x62\x18"),  # ebx=5 outside [eax]=(0, 2)
    ("bound in range", b"\x62\x08"),  # ecx=2 inside (0, 2)
    # segments
    ("mov ds, kernel selector", b"\x66\xb8\x08\x00\x8e\xd8"),
    ("mov ss, null", b"\x31\xc0\x8e\xd0"),
    ("mov ds, user ds", b"\x66\xb8\x2b\x00\x8e\xd8"),
    ("mov es, bad index", b"\x66\xb8\xfb\x0f\x8e\xc0"),
    ("mov gs, null then use", b"\x31\xc0\x8e\xe8\x65\xa1\x00\x00\x00\x00"),
    # call next; next: pop ecx; add ecx, 8; push 0x23; push ecx; retf -> just after, cs 0x23
    ("far ret to user cs", b"\xe8\x00\x00\x00\x00\x59\x83\xc1\x08\x6a\x23\x51\xcb"),
    ("far ret to kernel cs", b"\xe8\x00\x00\x00\x00\x59\x83\xc1\x08\x6a\x10\x51\xcb"),
    ("lar of user cs", b"\x66\xb8\x23\x00\x0f\x02\xd8"),
    ("read the descriptor table", b"\xa1\x00\xe0\xff\xff"),
    ("read above it", b"\xa1\xf0\xff\xff\xff"),
    ("write the descriptor table", b"\xa3\x28\xe0\xff\xff"),
    ("pushf popf with IOPL 3", b"\x9c\x81\x0c\x24\x00\x30\x00\x00\x9d"),
    ("rdtsc", b"\x0f\x31"), ("cpuid", b"\x31\xc0\x0f\xa2"),
]
#: Instructions whose native outcome depends on the CPU's vendor, checked in the harness only.
VENDOR_CASES = [
    # SYSENTER: #UD in compatibility mode on AMD; on Intel the kernel returns through the vDSO.
    ("sysenter", b"\x0f\x34", "--- SIGILL {si_signo=SIGILL, si_code=ILL_ILLOPN, si_addr=ADDR} ---"),
]


def program(code: bytes) -> bytes:
    """``code`` after the register setup, then exit(0)."""
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    a._emit(_SETUP + code)
    a.mov(EBX, 0)
    a.mov(EAX, 1)
    a.int_(0x80)
    return link(a, start)


def _native_lines(elf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "p"
    path.write_bytes(elf)
    path.chmod(0o755)
    out = tmp_path / "strace.txt"
    subprocess.run([i386_strace(), "-q", "-e", "trace=none", "-o", str(out), str(path)],
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0)))
    return [line for line in out.read_text().splitlines() if line.startswith(("---", "+++"))]


def _harness_lines(elf: bytes) -> list[str]:
    lines: list[str] = []
    guest = Guest(elf, strace=lines.append, max_seconds=5)
    try:
        guest.start()
    except GuestFault:
        pass
    return [line for line in lines if line.startswith(("---", "+++"))]


@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("name,code", CASES, ids=[c[0] for c in CASES])
def test_each_instruction_gives_what_the_kernel_gives(name, code, tmp_path):
    elf = program(code)
    native = _native_lines(elf, tmp_path)
    assert native, "strace printed neither a signal nor an exit"
    assert _harness_lines(elf) == native


@pytest.mark.parametrize("name,code", CASES, ids=[c[0] for c in CASES])
def test_no_instruction_escapes_as_an_emulator_error(name, code):
    """Without a kernel to compare with, each case still ends as a Linux process does."""
    lines = _harness_lines(program(code))
    assert lines and lines[-1].startswith("+++")


def test_the_guest_runs_at_ring_3_with_linux_selectors():
    """cs 0x23 and ds, es, ss 0x2b (__USER32_CS, __USER_DS), fs and gs 0: the program exits
    with each selector in turn, read with mov r16, Sreg."""
    statuses = []
    for sreg in range(6):  # es, cs, ss, ds, fs, gs: mov ebx's low half, Sreg (8C /r)
        a = Assembler()
        start = a.label("_start")
        a.bind(start)
        a.mov(EBX, 0)
        a._emit(bytes([0x66, 0x8C, 0xC3 | sreg << 3]))
        a.mov(EAX, 1)
        a.int_(0x80)
        guest = Guest(link(a, start))
        statuses.append(guest.start().status)
    assert statuses == [0x2B, 0x23, 0x2B, 0x2B, 0, 0]


@pytest.mark.parametrize("name,code,line", VENDOR_CASES, ids=[c[0] for c in VENDOR_CASES])
def test_vendor_dependent_instructions_act_as_on_amd(name, code, line):
    elf = program(code)
    at = 0x08048000 + elf.index(_SETUP + code) + len(_SETUP)
    assert _harness_lines(elf)[0] == line.replace("ADDR", f"{at:#x}")


@pytest.mark.parametrize("code,loads", [
    (b"\x8e\xe8", True), (b"\x66\x8e\xd8", True), (b"\x0f\xa9", True), (b"\x1f", True),
    (b"\xcf", True), (b"\xff\x2d\x00\x00\x00\x00", True), (b"\x0f\x00\xe0", True),
    (b"\x0f\x02\xc0", True), (b"\x8b\x00", False), (b"\xa1\x00\xe0\xff\xff", False),
    (b"\xff\x30", False), (b"\x0f\x00\xd0", False), (b"", False), (b"\x66", False),
])
def test_which_instructions_read_a_descriptor(code, loads):
    assert reads_descriptor(code) is loads
