"""The stack and the exec-time layout (harness/kernel/sys_mm.py ``setup_exec`` and
``expand_stack``) against the real kernel.

Each program is a few lines of nasm, run natively under ``strace`` with address
randomisation off and in the harness.  Compared: where exec puts the program, the stack and
the vDSO for programs linked high (0xFF900000 and the like: the native /proc/self/maps
against the harness's regions), the exit status, and the ``--- SIGSEGV {...} ---`` line of a
stack that may not grow (past RLIMIT_STACK, into the guard gap of a mapping below it).
The faulting addresses do not depend on where the initial esp is: every program walks its
stack down with 4-byte pushes from a 4-byte-aligned esp, or aligns esp to a page first.
"""

from __future__ import annotations

import ctypes
import resource
import subprocess
from pathlib import Path

import pytest

from harness import ElfError, Guest, GuestFault
from harness import linux as L
from harness.elf import TASK_SIZE
from support import NATIVE, NATIVE_REASON, tool
from test_differential import parse_strace

ADDR_NO_RANDOMIZE = 0x0040000  # include/uapi/linux/personality.h
native = pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)

PRELUDE = """
BITS 32
section .text
global _start
_start:
"""
EXIT_EAX = """
        mov     ebx, eax
        mov     eax, 252                ; exit_group(eax)
        int     0x80
"""
EXIT_42 = """
        mov     eax, 252
        mov     ebx, 42
        int     0x80
"""
NOTE = "\nsection .note.GNU-stack noalloc noexec nowrite progbits\n"

#: Print /proc/self/maps (open, read, write), then exit 42.
MAPS = """
        mov     eax, 5
        mov     ebx, path
        xor     ecx, ecx
        int     0x80
        mov     esi, eax
.loop:  mov     eax, 3
        mov     ebx, esi
        mov     ecx, buf
        mov     edx, 4096
        int     0x80
        test    eax, eax
        jle     .done
        mov     edx, eax
        mov     eax, 4
        mov     ebx, 1
        mov     ecx, buf
        int     0x80
        jmp     .loop
.done:
""" + EXIT_42 + """
section .data
path:   db      "/proc/self/maps", 0
section .bss
buf:    resb    4096
"""


def _mmap2(addr: int, length: int, prot: int, flags: int) -> str:
    return (f"        mov eax, 192\n        mov ebx, {addr:#x}\n        mov ecx, {length:#x}\n"
            f"        mov edx, {prot}\n        mov esi, {flags:#x}\n        mov edi, -1\n"
            f"        xor ebp, ebp\n        int 0x80\n")


def _pushes(count: int) -> str:
    """Walk the stack down ``count`` dwords, one page fault per new page."""
    return f"""
        mov     ecx, {count}
.push:  push    eax
        dec     ecx
        jnz     .push
"""


def _setrlimit_stack(soft: int) -> str:
    """setrlimit(RLIMIT_STACK, {soft, RLIM_INFINITY}) with the struct on the stack."""
    return f"""
        push    -1
        push    {soft:#x}
        mov     eax, 75
        mov     ebx, {L.RLIMIT_STACK}
        mov     ecx, esp
        int     0x80
        add     esp, 8
"""


def build(tmp_path: Path, name: str, body: str, *, text: int | None = None) -> Path:
    """Assemble and link ``body``; without a .note.GNU-stack when it runs code on the
    stack (then the stack is executable, READ_IMPLIES_EXEC)."""
    tool("nasm")
    tool("ld", "binutils")
    source = tmp_path / f"{name}.asm"
    source.write_text(PRELUDE + body + ("" if "routine:" in body else NOTE))
    obj = tmp_path / f"{name}.o"
    out = tmp_path / name
    subprocess.run(["nasm", "-f", "elf32", "-o", str(obj), str(source)], check=True)
    link = ["ld", "-m", "elf_i386", "-o", str(out), str(obj)]
    if text is not None:
        link[1:1] = [f"-Ttext={text:#x}"]
    subprocess.run(link, check=True, capture_output=True)
    return out


def _in_child() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, resource.RLIM_INFINITY))
    ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)


def run_native(path: Path, tmp_path: Path) -> tuple[str, bytes]:
    """strace's log and the stdout of ``path`` run natively, with an empty environment
    and argv[0] the path (what the harness gets below)."""
    log = tmp_path / "strace.txt"
    proc = subprocess.run([tool("strace"), "-q", "-o", str(log), str(path)], env={},
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                          preexec_fn=_in_child)
    return log.read_text(), proc.stdout


def run_harness(path: Path) -> tuple[list[str], Guest, GuestFault | None]:
    lines: list[str] = []
    guest = Guest(path.read_bytes(), argv=[str(path)], strace=lines.append, record=True)
    try:
        stop = guest.start()
        assert stop.reason == "exited", stop
        return lines, guest, None
    except GuestFault as fault:
        return lines, guest, fault


def signal_lines(lines) -> list[str]:
    return [line for line in lines if line.startswith(("--- ", "+++ "))]


def native_ranges(maps: bytes) -> list[tuple[int, int]]:
    """The mappings of /proc/self/maps, adjacent ones joined (the vDSO is three there, one
    reserved hole in the harness; a program's segments are one mapping per protection)."""
    return _joined([tuple(int(x, 16) for x in line.split()[0].split("-"))
                    for line in maps.decode().splitlines()])


def harness_ranges(guest: Guest) -> list[tuple[int, int]]:
    return _joined([(r.start, r.end) for r in guest.machine.mem.regions])


def _joined(ranges) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


# ---------------------------------------------------------------------------- exec layout

#: Where ld puts .text, and what /proc/self/maps shows natively (this kernel, setarch -R).
HIGH = {
    0xFF900000: "a program above the old 8 MiB stack mapping: Linux runs it",
    0xF7F00000: "a program just below mmap_base, under the vDSO",
    0xF7FF8000: "a program where the vDSO would go: the vDSO moves below it",
    0xF7FFC000: "a program across mmap_base",
    0xFFFDC000: "a program whose bss replaces the bottom pages of the stack VMA",
    0xFFFD0000: "a program inside the stack's guard gap",
}


@native
@pytest.mark.native
@pytest.mark.parametrize("text", list(HIGH), ids=[f"{t:#x}" for t in HIGH])
def test_a_program_linked_high_is_laid_out_as_linux_does(text, tmp_path):
    path = build(tmp_path, "maps", MAPS, text=text)
    strace, stdout = run_native(path, tmp_path)
    assert parse_strace(strace).end == ("exited", 42), strace
    lines, guest, fault = run_harness(path)
    assert fault is None and guest.exit_status == 42
    assert harness_ranges(guest) == native_ranges(stdout), stdout.decode()


@native
@pytest.mark.native
def test_the_default_layout_is_linuxs(tmp_path):
    path = build(tmp_path, "maps", MAPS)
    _, stdout = run_native(path, tmp_path)
    _, guest, _ = run_harness(path)
    assert harness_ranges(guest) == native_ranges(stdout), stdout.decode()
    stack = guest.machine.mem.region_at(TASK_SIZE - 1)
    assert (stack.start, stack.end, stack.kind) == (0xFFFDD000, TASK_SIZE, "stack")


@native
@pytest.mark.native
def test_a_first_segment_on_the_stack_fails_the_exec(tmp_path):
    """elf_map maps the first PT_LOAD with MAP_FIXED_NOREPLACE: over the stack it fails
    after exec's point of no return, and Linux kills the process with SIGSEGV; the harness
    refuses the file with one line."""
    path = build(tmp_path, "exit42", EXIT_42, text=0xFFFE0000)
    strace, _ = run_native(path, tmp_path)
    assert strace.splitlines()[-1] == "+++ killed by SIGSEGV +++", strace
    with pytest.raises(ElfError, match=r"meet the stack at \[0xfffdd000, 0xfffff?e000\)"):
        Guest(path.read_bytes(), argv=[str(path)])


def test_a_large_environment_makes_the_stack_larger():
    """setup_arg_pages: the stack VMA is the pages of the strings plus 128 KiB."""
    from harness.machine import Machine

    exit42 = (Path(__file__).resolve().parent.parent / "fixtures/programs/exit42.elf")
    m = Machine(exit42.read_bytes(), argv=["x"], envp=["A=" + "b" * 10000])
    stack = m.mem.region_at(TASK_SIZE - 1)
    assert stack.start == TASK_SIZE - 0x3000 - (128 << 10)  # 3 pages of strings


# ---------------------------------------------------------------------------- growth


GROWTH = {
    # name: (body, native end, what it shows)
    "pushes-4MiB": (_pushes(1 << 20) + EXIT_42, ("exited", 42),
                    "a deep stack grows page by page to 4 MiB"),
    "alloca-4MiB": ("""
        and     esp, 0xFFFFF000
        sub     esp, 0x400000
        mov     [esp], eax
""" + EXIT_42, ("exited", 42), "one access 4 MiB below grows the stack at once"),
    "past-rlimit": (_pushes(3 << 20) + EXIT_42, ("killed", L.SIGSEGV),
                    "the page past 8 MiB (RLIMIT_STACK) is SEGV_MAPERR"),
    "alloca-past-rlimit": ("""
        and     esp, 0xFFFFF000
        sub     esp, 0x900000
        mov     [esp], eax
""" + EXIT_42, ("killed", L.SIGSEGV), "an access 9 MiB down is SEGV_MAPERR at once"),
    "raised-rlimit": (_setrlimit_stack(16 << 20) + _pushes(3 << 20) + EXIT_42,
                      ("exited", 42), "RLIMIT_STACK is read at the fault: 12 MiB after setrlimit"),
    "guard-gap": (_mmap2(0xFFF00000, 0x1000, 3, 0x32) + _pushes(1 << 20) + EXIT_42,
                  ("killed", L.SIGSEGV),
                  "a MAP_FIXED mapping 0xDC000 below the stack: no growth into its guard gap"),
    "guard-gap-far": (_mmap2(0xFF800000, 0x1000, 3, 0x32) + _pushes(3 << 20) + EXIT_42,
                      ("killed", L.SIGSEGV),
                      "a MAP_FIXED mapping 8 MiB below: growth stops 1 MiB above it"),
    "exec-stack": ("""
        sub     esp, 64                 ; copy the routine to the stack and run it there
        mov     edi, esp
        mov     esi, routine
        mov     ecx, routine_end - routine
        rep movsb
        mov     eax, esp
        call    eax
""" + EXIT_42 + """
routine:                                ; grows the stack by 4 MiB while running on it
        mov     ebx, esp
        mov     ecx, 1 << 20
.l:     push    eax
        dec     ecx
        jnz     .l
        mov     esp, ebx
        ret
routine_end:
""", ("exited", 42), "code running on an executable stack while the stack grows"),
    "prot-none-below": (_mmap2(0xFFF00000, 0x1000, 0, 0x32) + _pushes(1 << 20) + EXIT_42,
                        ("killed", L.SIGSEGV),
                        "a PROT_NONE mapping keeps no gap: the stack grows to it, SEGV_ACCERR"),
    "kernel-copy": ("""
        and     esp, 0xFFFFF000
        sub     esp, 0x200000
        mov     eax, 355                ; getrandom(esp, 16, 0): copy_to_user grows it
        mov     ebx, esp
        mov     ecx, 16
        xor     edx, edx
        int     0x80
""" + EXIT_EAX, ("exited", 16), "copy_to_user below the stack grows it too"),
    "growsdown-mapping": (_mmap2(0x40010000, 0x1000, 3, 0x122) + """
        mov     dword [0x4000fffc], 1   ; below a MAP_GROWSDOWN mapping: it grows
        mov     dword [0x40000000], 1   ; a page further down
""" + EXIT_42, ("exited", 42), "MAP_GROWSDOWN mappings grow as the stack does"),
}


@native
@pytest.mark.native
@pytest.mark.parametrize("name", list(GROWTH))
def test_stack_growth_as_on_the_kernel(name, tmp_path):
    body, end, _what = GROWTH[name]
    path = build(tmp_path, name, body)
    strace, _ = run_native(path, tmp_path)
    run = parse_strace(strace)
    assert run.end == end, strace
    lines, guest, fault = run_harness(path)
    assert signal_lines(lines) == signal_lines(strace.splitlines())
    if end[0] == "killed":
        assert fault is not None and fault.signal == end[1]
    else:
        assert fault is None and guest.exit_status == end[1]
    assert guest.calls == run.calls


def test_growth_faults_where_linux_does(tmp_path):
    """The fault addresses of the SIGSEGV cases, pinned (the native comparison above
    checks them against the kernel where it can run)."""
    expect = {
        "past-rlimit": ("SEGV_MAPERR", 0xFFFFE000 - (8 << 20) - 4),
        "guard-gap": ("SEGV_MAPERR", 0xFFFDD000 - 4),
        "guard-gap-far": ("SEGV_MAPERR", 0xFF801000 + (1 << 20) - 4),
        "prot-none-below": ("SEGV_ACCERR", 0xFFF01000 - 4),
    }
    for name, (code, addr) in expect.items():
        lines, _, fault = run_harness(build(tmp_path, name, GROWTH[name][0]))
        assert f"si_code={code}, si_addr={addr:#x}}}" in signal_lines(lines)[0], name
        assert fault.address == addr


def _brk(addr: int) -> str:
    return f"        mov eax, 45\n        mov ebx, {addr:#x}\n        int 0x80\n"


#: Programs linked high whose break runs into the vDSO or the stack: brk keeps the old break.
BRK = {
    0xF7F00000: [0, 0xF7FF7000, 0xF7FF0000, 0xF7FF6000, 0xF7FF5000],
    0xFFF00000: [0, 0xFFFD0000, 0xFFF10000, 0xFFEDE000],
    0xFFFD0000: [0, 0xFFFD4000, 0xFFFDE000, 0xFFFFF000],
}


@native
@pytest.mark.native
@pytest.mark.parametrize("text", list(BRK), ids=[f"{t:#x}" for t in BRK])
def test_brk_into_another_mapping_keeps_the_old_break(text, tmp_path):
    path = build(tmp_path, "brk", "".join(_brk(a) for a in BRK[text]) + EXIT_42, text=text)
    strace, _ = run_native(path, tmp_path)
    run = parse_strace(strace)
    assert run.end == ("exited", 42), strace
    _, guest, fault = run_harness(path)
    assert fault is None and guest.calls == run.calls
