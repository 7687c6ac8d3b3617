"""The address space (harness/kernel/sys_mm.py, harness/memory.py) against the real kernel.

One C program (no C library: raw ``int 0x80``) makes every memory call with good and bad
arguments; it runs natively under ``strace`` with address randomisation off and in the
harness, and the (call, result) sequences must be equal: every address mmap returns, every
errno, every break brk keeps.  Built with -DMODE=N it then ends in one of the faults a
protection change must cause, and the ``--- SIGSEGV {...} ---`` line (si_code, si_addr) must
be equal too.  A second run under ``strace -e raw=all`` judges trace.py's lines for the
memory calls.  A few harness-only tests pin what cannot be compared (root maps page 0).
"""

from __future__ import annotations

import ctypes
import resource
import subprocess
from pathlib import Path

import pytest

from harness import Guest, GuestFault
from harness import linux as L
from harness.memory import MAX_GUEST_MEMORY
from support import NATIVE, NATIVE_REASON, i386_gcc, i386_ld, i386_strace, nasm
from test_differential import parse_strace
from test_trace import GuestMemory, assert_lines_equal, run_twice

ADDR_NO_RANDOMIZE = 0x0040000  # include/uapi/linux/personality.h
MEMORY_CALLS = ("brk(", "mmap(", "mmap2(", "munmap(", "mprotect(", "mremap(", "madvise(")

MM_C = r"""/* Memory calls, raw int 0x80, no C library: built by tests/test_mm.py. */
typedef unsigned long u32;
static long sc6(long n, long a, long b, long c, long d, long e, long f) {
    long nf[2] = {n, f};
    long ret;
    __asm__ volatile ("push %%ebp\n\tmovl 4(%%eax), %%ebp\n\tmovl (%%eax), %%eax\n\tint $0x80\n\tpop %%ebp"
                      : "=a"(ret) : "a"(nf), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
    return ret;
}
#define sc(n, a, b, c) sc6(n, a, b, c, 0, 0, 0)
enum { BRK = 45, MMAP = 90, MUNMAP = 91, MPROTECT = 125, MREMAP = 163, MMAP2 = 192,
       MADVISE = 219, WRITE = 4, EXIT = 1 };
#define R 1
#define W 2
#define X 4
#define PRIV 2
#define SHARED 1
#define ANON 0x20
#define FIXED 0x10
#define NOREPLACE 0x100000
#define PAGE 4096
static long mmap2(long a, long len, long prot, long flags, long fd, long off) {
    return sc6(MMAP2, a, len, prot, flags, fd, off);
}
static long anon(long a, long len, long prot, long flags) {
    return mmap2(a, len, prot, flags | PRIV | ANON, -1, 0);
}
static void out(const char *p, long n) { sc(WRITE, 1, (long)p, n); }

/* In .rodata, where tests/test_mm.py's strace comparison finds them in the ELF. */
static const u32 old_args[6] = {0, PAGE, R | W, PRIV | ANON, (u32)-1, 0};
static const u32 old_args_bad[6] = {0, PAGE, R | W, PRIV | ANON, (u32)-1, 100};

#ifndef MODE
#define MODE 0
#endif

void _start(void) {
    long i;
    long brk0 = sc(BRK, 0, 0, 0);
    long a1 = anon(0, PAGE, R | W, 0);
    anon(0, 2 * PAGE, R | W, 0);
    anon(0, 1 << 20, R | W, 0);
    char *big = (char *)anon(0, 16 << 20, R | W, 0);
    for (i = 0; i < (16 << 20); i += PAGE) big[i] = (char)i + 1;
    long sum = 0;
    for (i = 0; i < (16 << 20); i += PAGE) sum += big[i];
    out((char *)&sum, 4);
    long three = anon(0, 3 * PAGE, R | W, 0);
    /* old mmap: a struct of six words */
    sc(MMAP, (long)old_args, 0, 0);
    sc(MMAP, (long)old_args_bad, 0, 0);         /* EINVAL: offset not page-aligned */
    sc(MMAP, 0x1234, 0, 0);                     /* EFAULT */
    /* mmap2's refusals */
    anon(0, 0, R, 0);                           /* EINVAL */
    mmap2(0, PAGE, R, ANON, -1, 0);             /* EINVAL: neither private nor shared */
    mmap2(0, PAGE, R, ANON | 3, -1, 0);         /* SHARED_VALIDATE on anon */
    mmap2(0, PAGE, R, ANON | 0xf, -1, 0);       /* bad type */
    anon(0x50000100, PAGE, R, FIXED);           /* EINVAL: unaligned fixed */
    anon(0, 0xfffff000, R, 0);                  /* ENOMEM */
    anon(0, 0xffffffff, R, 0);                  /* ENOMEM: len rounds to 0 */
    anon(0xfffff000, PAGE, R, FIXED);           /* ENOMEM: above TASK_SIZE */
    mmap2(0, PAGE, R, PRIV, 99, 0);             /* EBADF */
    mmap2(0, PAGE, R, PRIV, -1, 0);             /* EBADF */
    mmap2(0, PAGE, R, PRIV, 0, 0);              /* stdin: ENODEV */
    mmap2(0, PAGE, R, PRIV, 1, 0);              /* stdout, write-only: EACCES */
    mmap2(0, PAGE, R, SHARED | ANON | 0x100, -1, 0);  /* MAP_GROWSDOWN|MAP_SHARED: EINVAL */
    mmap2(0, PAGE, R | W, SHARED | ANON, -1, 0);      /* shared anonymous */
    anon(0x50000000, PAGE, R | W, 0);           /* a free hint: taken */
    anon(0x50000800, PAGE, R | W, 0);           /* a taken hint: top-down instead */
    anon(0x50000000, PAGE, R | W, NOREPLACE);   /* EEXIST */
    anon(0x50001000, PAGE, R | W, NOREPLACE);   /* free: there */
    anon(0x50000000, 2 * PAGE, R, FIXED);       /* replaces both */
    anon(0x1000, PAGE, R, 0);                   /* a hint below mmap_min_addr */
    /* munmap */
    sc(MUNMAP, three + 1, PAGE, 0);             /* EINVAL */
    sc(MUNMAP, three, 0, 0);                    /* EINVAL */
    sc(MUNMAP, 0x60000000, PAGE, 0);            /* nothing there: 0 */
    sc(MUNMAP, 0xfffff000, 0x2000, 0);          /* EINVAL: past TASK_SIZE */
    sc(MUNMAP, three + PAGE, PAGE, 0);          /* a hole in the middle */
    anon(0, PAGE, R | W, 0);                    /* where now? */
    anon(0, PAGE, R | W, 0);
    anon(0, PAGE, R | W, 0);
    sc(MUNMAP, 0x50000000, 2 * PAGE, 0);
    /* mprotect */
    sc(MPROTECT, a1 + 1, PAGE, R);              /* EINVAL */
    sc(MPROTECT, a1, 0, R);                     /* 0 */
    sc(MPROTECT, 0x60000000, PAGE, R);          /* ENOMEM */
    sc(MPROTECT, a1, PAGE, 0x10);               /* EINVAL */
    sc(MPROTECT, a1, PAGE, R | 0x01000000 | 0x02000000);  /* EINVAL */
    sc(MPROTECT, a1, PAGE, R | 0x01000000);     /* EINVAL: not a stack */
    sc(MPROTECT, a1, PAGE, R | 8);              /* PROT_SEM: 0 */
    sc(MPROTECT, a1, 0xfffff000, R);            /* ENOMEM: wraps */
    sc(MPROTECT, three, 3 * PAGE, R);           /* ENOMEM: the hole (first page changed) */
    sc(MPROTECT, a1, PAGE, R | W);
    /* a PROT_NONE buffer makes write fail with EFAULT */
    long none = anon(0, PAGE, 0, 0);
    sc(WRITE, 1, none, 1);
    sc(MPROTECT, none, PAGE, R);
    sc(WRITE, 1, none, 1);                      /* zero byte */
    /* mremap */
    char *m = (char *)anon(0x40000000, PAGE, R | W, 0);
    m[0] = 'M';
    sc6(MREMAP, (long)m, PAGE, 4 * PAGE, 0, 0, 0);          /* grows in place */
    m[4 * PAGE - 1] = 'm';
    sc6(MREMAP, (long)m, 4 * PAGE, 2 * PAGE, 0, 0, 0);      /* shrinks */
    anon(0x40003000, PAGE, R | W, FIXED);
    sc6(MREMAP, (long)m, 2 * PAGE, 4 * PAGE, 0, 0, 0);      /* ENOMEM: no room */
    char *moved = (char *)sc6(MREMAP, (long)m, 2 * PAGE, 4 * PAGE, 1, 0, 0);  /* moves */
    out(moved, 1);
    sc6(MREMAP, (long)moved + 1, PAGE, PAGE, 0, 0, 0);      /* EINVAL */
    sc6(MREMAP, (long)moved, PAGE, 0, 0, 0, 0);             /* EINVAL */
    sc6(MREMAP, (long)moved, PAGE, PAGE, 8, 0, 0);          /* EINVAL: flags */
    sc6(MREMAP, (long)moved, PAGE, PAGE, 2, 0x48000000, 0); /* EINVAL: FIXED without MAYMOVE */
    sc6(MREMAP, 0x60000000, PAGE, 2 * PAGE, 1, 0, 0);       /* EFAULT */
    sc6(MREMAP, (long)moved, PAGE, 2 * PAGE, 3, 0x48000000, 0);  /* to a fixed address */
    out((char *)0x48000000, 1);
    sc6(MREMAP, 0x48000000, PAGE, PAGE, 0, 0, 0);           /* same size: 0x48000000 */
    /* madvise */
    char *d = (char *)anon(0, 2 * PAGE, R | W, 0);
    d[0] = 'D'; d[PAGE] = 'E';
    sc(MADVISE, (long)d, PAGE, 4);              /* MADV_DONTNEED: zero */
    out(d, 1); out(d + PAGE, 1);
    sc(MADVISE, (long)d + 1, PAGE, 4);          /* EINVAL */
    sc(MADVISE, (long)d, PAGE, 77);             /* EINVAL */
    sc(MADVISE, 0x60000000, PAGE, 4);           /* ENOMEM */
    sc(MADVISE, (long)d, 0, 4);                 /* 0 */
    sc(MADVISE, (long)d, PAGE, 0);              /* MADV_NORMAL */
    sc(MADVISE, (long)d, PAGE, 3);              /* MADV_WILLNEED */
    sc(MADVISE, (long)d, PAGE, 25);             /* MADV_COLLAPSE */
    sc(MADVISE, (long)d, PAGE, 100);            /* MADV_HWPOISON */
    sc(MADVISE, (long)d, PAGE, 9);              /* MADV_REMOVE: private */
    sc(MADVISE, (long)d, PAGE, 8);              /* MADV_FREE */
    /* brk against a mapping just above the break */
    long top = sc(BRK, brk0 + PAGE, 0, 0);
    anon(brk0 + 4 * PAGE, PAGE, R | W, FIXED);
    sc(BRK, brk0 + 3 * PAGE, 0, 0);             /* leaves one page: allowed */
    sc(BRK, brk0 + 3 * PAGE + 1, 0, 0);         /* refused: the old break */
    sc(BRK, brk0 + 8 * PAGE, 0, 0);             /* refused */
    sc(BRK, brk0 + PAGE, 0, 0);                 /* shrinks */
    sc(BRK, brk0 - PAGE, 0, 0);                 /* below the start: refused */
    (void)top;
#if MODE == 1
    sc(MPROTECT, a1, PAGE, R);
    *(volatile char *)(a1 + 0x10) = 1;         /* SIGSEGV, SEGV_ACCERR */
#elif MODE == 2
    sc(MUNMAP, a1, PAGE, 0);
    (void)*(volatile char *)(a1 + 0x20);        /* SIGSEGV, SEGV_MAPERR */
#elif MODE == 3
    *(volatile char *)a1 = 0xc3;                /* ret */
    ((void (*)(void))a1)();                     /* SIGSEGV, SEGV_ACCERR: not executable */
#elif MODE == 4
    sc(MPROTECT, a1, PAGE, R | W | X);
    *(volatile char *)a1 = 0xc3;
    ((void (*)(void))a1)();                     /* runs */
    sc(MPROTECT, a1, PAGE, R);
    ((void (*)(void))a1)();                     /* SIGSEGV: no longer executable */
#elif MODE == 5
    sc(MPROTECT, a1, PAGE, 0);
    (void)*(volatile char *)(a1 + 4);           /* SIGSEGV, SEGV_ACCERR */
#endif
    sc(EXIT, 0, 0, 0);
}
"""

#: What each MODE ends with: the exit, or the signal and its si_code.
ENDINGS = {
    0: None,
    1: "SEGV_ACCERR",  # a write to a page made read-only
    2: "SEGV_MAPERR",  # a read of a page unmapped
    3: "SEGV_ACCERR",  # a call into a page that is not executable
    4: "SEGV_ACCERR",  # a call into a page that ran, then lost PROT_EXEC (cached code)
    5: "SEGV_ACCERR",  # a read of a page made PROT_NONE
}


def build(tmp_path: Path, mode: int) -> Path:
    gcc = i386_gcc()
    source = tmp_path / "mm.c"
    source.write_text(MM_C)
    out = tmp_path / f"mm{mode}"
    subprocess.run([gcc, "-m32", "-static", "-nostdlib", "-fno-pic", "-no-pie", "-O1",
                    "-fno-stack-protector", f"-DMODE={mode}", "-Wl,-z,noexecstack",
                    "-o", str(out), str(source)], check=True, capture_output=True)
    return out


def _in_child() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)


def run_native(path: Path, tmp_path: Path) -> tuple[str, bytes]:
    log = tmp_path / "strace.txt"
    proc = subprocess.run([i386_strace(), "-q", "-o", str(log), str(path)],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          preexec_fn=_in_child)
    return log.read_text(), proc.stdout


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("mode", list(ENDINGS))
def test_memory_calls_as_on_the_kernel(mode, tmp_path):
    path = build(tmp_path, mode)
    text, stdout = run_native(path, tmp_path)
    native = parse_strace(text)
    lines: list[str] = []
    guest = Guest(path.read_bytes(), record=True, strace=lines.append)
    try:
        guest.start()
        fault = None
    except GuestFault as exc:
        fault = exc
    assert guest.calls == native.calls
    assert guest.stdout == stdout
    native_signal = [line for line in text.splitlines() if line.startswith("--- ")]
    harness_signal = [line for line in lines if line.startswith("--- ")]
    assert harness_signal == native_signal
    if ENDINGS[mode] is None:
        assert fault is None and native.end == ("exited", 0)
    else:
        assert fault is not None and fault.signal == L.SIGSEGV
        assert native.end == ("killed", L.SIGSEGV)
        assert f"si_code={ENDINGS[mode]}," in native_signal[0]


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
def test_memory_call_lines_equal_strace(tmp_path):
    """trace.py's mmap2, mmap, munmap, mprotect, mremap, madvise and brk lines, from the raw
    numbers, equal strace's own lines (the other calls' buffers are not in the ELF)."""
    i386_strace()
    path = build(tmp_path, 0)
    default, raw, _ = run_twice([str(path)], tmp_path)
    keep = [i for i, line in enumerate(default) if i == 0 or line.startswith(MEMORY_CALLS)]
    assert len(keep) > 80
    assert_lines_equal([default[i] for i in keep], [raw[i] for i in keep],
                       GuestMemory.of(path.read_bytes()))


# ---------------------------------------------------------------------------- harness only

ASM_PRELUDE = """
BITS 32
section .text
global _start
_start:
"""


def _guest(tmp_path: Path, body: str) -> Guest:
    assembler, linker = nasm(), i386_ld()
    asm = tmp_path / "t.asm"
    asm.write_text(ASM_PRELUDE + body + "\n        mov eax, 1\n        xor ebx, ebx\n        int 0x80\n")
    subprocess.run([assembler, "-f", "elf32", "-o", str(tmp_path / "t.o"), str(asm)], check=True)
    subprocess.run([linker, "-m", "elf_i386", "-o", str(tmp_path / "t"), str(tmp_path / "t.o")],
                   check=True)
    return Guest((tmp_path / "t").read_bytes(), record=True)


def _mmap2(addr: int, length: int, prot: int, flags: int) -> str:
    return (f"        mov eax, 192\n        mov ebx, {addr}\n        mov ecx, {length}\n"
            f"        mov edx, {prot}\n        mov esi, {flags}\n        mov edi, -1\n"
            f"        xor ebp, ebp\n        int 0x80\n")


def test_fixed_mapping_below_mmap_min_addr_is_refused(tmp_path):
    """security_mmap_addr: EPERM for a process without CAP_SYS_RAWIO (the harness models an
    unprivileged one; root may map page 0, so this is not compared with the kernel)."""
    guest = _guest(tmp_path, _mmap2(0, 4096, 3, 0x32) + _mmap2(0xF000, 4096, 3, 0x32))
    guest.start()
    assert guest.calls[:2] == [("mmap2", -L.EPERM), ("mmap2", -L.EPERM)]


def test_guest_memory_is_bounded(tmp_path):
    """Mappings beyond MAX_GUEST_MEMORY fail with ENOMEM, untouched mappings cost the host
    nothing, and unmapping gives the room back."""
    gib = 1 << 30
    body = (_mmap2(0, gib, 3, 0x22) + _mmap2(0, gib, 3, 0x22)
            + "        mov eax, 91\n        mov ebx, 0x60000000\n        mov ecx, 0x40000000\n"
            "        int 0x80\n")
    guest = _guest(tmp_path, body)
    guest.start()
    (_, first), (_, second) = guest.calls[:2]
    assert first > 0 and second == -L.ENOMEM
    assert MAX_GUEST_MEMORY == 2 * gib
    assert guest.machine.mem.mapped < MAX_GUEST_MEMORY


def test_regions_stay_sorted_and_split(tmp_path):
    """A munmap and an mprotect in the middle of a mapping leave three pieces each, over the
    same host buffer, and the kernel's copy_in follows protections (PROT_NONE: EFAULT)."""
    guest = _guest(tmp_path, _mmap2(0x40000000, 5 * 4096, 3, 0x22))
    guest.start()
    mem = guest.machine.mem
    k = guest.kernel
    from harness.kernel import sys_mm

    assert sys_mm.sys_mprotect(k, 0x40001000, 4096, 0) == 0
    assert sys_mm.sys_munmap(k, 0x40003000, 4096) == 0
    # nasm's object has no .note.GNU-stack: READ_IMPLIES_EXEC makes PROT_READ executable.
    assert k.read_implies_exec
    rw = 7
    pieces = [(r.start, r.end, r.prot) for r in mem.overlapping(0x40000000, 0x40005000)]
    assert pieces == [(0x40000000, 0x40001000, rw), (0x40001000, 0x40002000, 0),
                      (0x40002000, 0x40003000, rw), (0x40004000, 0x40005000, rw)]
    assert [r.start for r in mem.regions] == sorted(r.start for r in mem.regions)
    assert k.copy_in(0x40001000, 1) == -L.EFAULT
    assert k.copy_in(0x40003000, 1) == -L.EFAULT
    assert k.copy_out(0x40002000, b"x") == 0
    assert k.copy_in(0x40002000, 1) == b"x"
    assert sys_mm.sys_mremap(k, 0x40004000, 4096, 8192, 0, 0) == 0x40004000
    assert k.copy_in(0x40005fff, 1) == b"\0"
