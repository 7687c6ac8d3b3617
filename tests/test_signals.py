"""Signals for one process, judged by the real kernel under the real strace (x86 Linux).

Each case of SIGZOO (one C program, ``gcc -m32 -static -nostdlib``, one scenario per
``-DCASE=N``) runs natively under ``strace -o`` and in the harness with ``--strace``: stdout,
the exit status or killing signal, and every strace line must agree, ``---`` signal lines and
``rt_sigreturn({mask=...})`` included.  The handlers print what Linux put in the frame
(siginfo fields, the offsets of info, ucontext and the FPU state from the frame, the
alignment, the saved eax and masks, the altstack flags), so the frame layout is checked
against the kernel too.  Before comparing, the native pid and ppid become the harness's
1000 and 999, and runs of spaces before `` = `` one space (a shorter pid moves the column).
"""

from __future__ import annotations

import re
import signal
import subprocess

import pytest

from harness import Guest, GuestFault
from harness import linux as L
from harness.kernel.sigframe import RT_SIGFRAME_SIZE, SIGFRAME_SIZE
from support import NATIVE, NATIVE_REASON, i386_gcc, i386_strace

SIGZOO = r"""
/* Built with -DCASE=N: one signal scenario per program. */
typedef unsigned int u32;
static inline int sys(int n, int a, int b, int c, int d) {
    int r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d) : "memory");
    return r;
}
static char buf[512]; static int len;
static void out(const char *s) {
    while (*s) { buf[len++] = *s; if (*s++ == '\n') { sys(4, 1, (int)buf, len, 0); len = 0; } }
}
static void num(long v) {
    char b[24]; int i = 23; int neg = v < 0; unsigned long u = neg ? -v : v; b[i] = 0;
    do { b[--i] = '0' + u % 10; u /= 10; } while (u);
    if (neg) b[--i] = '-';
    out(b + i);
}
static void kv(const char *k, long v) { out(k); out("="); num(v); out(" "); }
struct ksa { u32 handler, flags, restorer; u32 mask[2]; };
struct osa { u32 handler, mask, flags, restorer; };
extern void restore_rt(void), restore_old(void);
__asm__(".text\nrestore_rt:\n movl $173, %eax\n int $0x80\n"
        "restore_old:\n popl %eax\n movl $119, %eax\n int $0x80\n");
#define SA_SIGINFO 4
#define SA_RESTORER 0x04000000
#define SA_ONSTACK 0x08000000
#define SA_NODEFER 0x40000000
#define SA_RESETHAND 0x80000000u
static int act(int sig, void *h, u32 flags, u32 mask) {
    struct ksa a = {(u32)h, flags | SA_RESTORER,
                    (u32)(flags & SA_SIGINFO ? restore_rt : restore_old), {mask, 0}};
    return sys(174, sig, (int)&a, 0, 8);
}
static int count;
static char altstack[8192];

static void info_handler(int sig, int *info, u32 *uc) {
    char *frame = (char *)__builtin_frame_address(0) + 4;
    count++;
    out("handler "); kv("sig", sig); kv("si_signo", info[0]); kv("si_code", info[2]);
    kv("si_pid_is_me", info[3] == sys(20, 0, 0, 0, 0));
    kv("info-frame", (char *)info - frame); kv("uc-frame", (char *)uc - frame);
    kv("align", ((u32)frame + 4) & 15);
    u32 *sc = uc + 5;
    kv("fpstate-frame", (char *)sc[19] - frame); kv("oldmask", sc[20]); kv("sc_eax", sc[11]);
    kv("ss_flags", uc[3]); kv("uc_sigmask", uc[27]);
    kv("on_alt", (char *)&sig > altstack && (char *)&sig <= altstack + sizeof altstack);
    out("\n");
}
static void plain_handler(int sig) { count++; out("plain "); kv("sig", sig); out("\n"); }
static void segv_handler(int sig, int *info, void *uc) {
    out("segv "); kv("si_code", info[2]); kv("si_addr", info[3]); out("\n");
    sys(1, info[3] + 1, 0, 0, 0);
}
static int pipe_seen;
static void pipe_handler(int sig) { pipe_seen = sig; }

void _start(void) {
    int pid = sys(20, 0, 0, 0, 0);
#if CASE == 1   /* SA_SIGINFO handler, tgkill, then main goes on */
    act(10, info_handler, SA_SIGINFO, 1 << 11);
    kv("tgkill", sys(270, pid, sys(224, 0, 0, 0, 0), 10, 0));
    kv("count", count); out("\n");
    kv("kill", sys(37, pid, 10, 0, 0)); kv("tkill", sys(238, pid, 10, 0, 0));
    kv("count", count); out("\n");
#elif CASE == 2 /* SA_RESETHAND: the second signal kills */
    act(12, plain_handler, SA_RESETHAND, 0);
    struct ksa old; sys(174, 12, 0, (int)&old, 8);
    kv("handler_set", old.handler == (u32)plain_handler); kv("flags", old.flags); out("\n");
    sys(37, pid, 12, 0, 0);
    sys(174, 12, 0, (int)&old, 8);
    kv("after_handler", old.handler); kv("flags", old.flags); out("\n");
    sys(37, pid, 12, 0, 0);
    out("not reached\n");
#elif CASE == 3 /* blocked: pending until unblocked */
    act(10, info_handler, SA_SIGINFO, 0);
    u32 set[2] = {1 << 9, 0}, pend[2] = {0, 0}, old[2];
    kv("block", sys(175, 0, (int)set, (int)old, 8));
    kv("kill", sys(37, pid, 10, 0, 0)); kv("count", count);
    kv("pending", sys(176, (int)pend, 8, 0, 0)); kv("set", pend[0]); out("\n");
    kv("unblock", sys(175, 1, (int)set, 0, 8)); kv("count", count);
    kv("pending", sys(176, (int)pend, 8, 0, 0)); kv("set", pend[0]);
    kv("oldsigprocmask", sys(126, 0, 0, (int)old, 0)); kv("old", old[0]); out("\n");
#elif CASE == 4 /* SIGSEGV handler on a NULL dereference */
    act(11, segv_handler, SA_SIGINFO, 0);
    out("before\n");
    *(volatile int *)0x41 = 1;
    out("not reached\n");
#elif CASE == 5 /* default SIGABRT kills */
    out("abort\n");
    sys(37, pid, 6, 0, 0);
    out("not reached\n");
#elif CASE == 6 /* ignored */
    kv("signal", sys(48, 12, 1, 0, 0)); kv("again", sys(48, 12, 1, 0, 0));
    kv("kill", sys(37, pid, 12, 0, 0)); out("alive\n");
    kv("kill0", sys(37, 0, 28, 0, 0)); out("winch ignored\n");
#elif CASE == 7 /* errnos */
    kv("esrch", sys(37, 99999, 0, 0, 0)); kv("einval", sys(37, pid, 99, 0, 0));
    kv("exists", sys(37, pid, 0, 0, 0)); kv("neg", sys(37, pid, -1, 0, 0));
    kv("pgrp_einval", sys(37, 0, 65, 0, 0)); kv("other_pgrp", sys(37, -99999, 1, 0, 0));
    kv("tg0", sys(270, 0, 1, 10, 0)); kv("tk_neg", sys(238, -1, 10, 0, 0));
    kv("tg_other", sys(270, pid, 99999, 10, 0)); kv("tk_other", sys(238, 99999, 10, 0, 0));
    kv("tg_bad", sys(270, pid, pid, 65, 0)); kv("tk_zero", sys(238, pid, 0, 0, 0));
    kv("ppid_positive", sys(64, 0, 0, 0, 0) > 0); kv("tid_is_pid", sys(224, 0, 0, 0, 0) == pid);
    out("\n");
    struct ksa a = {0, 0, 0, {0, 0}};
    kv("act_kill", sys(174, 9, (int)&a, 0, 8)); kv("act_size", sys(174, 10, (int)&a, 0, 4));
    kv("act_fault", sys(174, 10, 16, 0, 8)); kv("act_65", sys(174, 65, 0, (int)&a, 8));
    kv("mask_how", sys(175, 7, (int)&a, 0, 8)); kv("pend_size", sys(176, (int)&a, 9, 0, 0));
    u32 ss[3] = {(u32)altstack, 0, 100};
    kv("alt_small", sys(186, (int)ss, 0, 0, 0)); ss[1] = 5;
    kv("alt_flags", sys(186, (int)ss, 0, 0, 0)); kv("alt_fault", sys(186, 16, 0, 0, 0));
    u32 os[3]; kv("alt_query", sys(186, 0, (int)os, 0, 0)); kv("sp", os[0]); kv("fl", os[1]);
    kv("size", os[2]); out("\n");
    kv("flags_probe", sys(174, 10, (int)&(struct ksa){(u32)plain_handler, 0x400 | SA_RESTORER, (u32)restore_rt, {0, 0}}, (int)&a, 8));
    sys(174, 10, 0, (int)&a, 8); kv("probed", a.flags); out("\n");
#elif CASE == 8 /* SIGPIPE with a handler: write returns EPIPE */
    struct ksa a = {(u32)pipe_handler, SA_RESTORER, (u32)restore_old, {0, 0}};
    sys(174, 13, (int)&a, 0, 8);
    int fd = sys(359, 2, 1, 0, 0);
    kv("write", sys(4, fd, (int)"x", 1, 0)); kv("seen", pipe_seen); out("\n");
#elif CASE == 9 /* sigaltstack and SA_ONSTACK; old sigaction and sigreturn */
    u32 ss[3] = {(u32)altstack, 0, sizeof altstack}, os[3];
    kv("alt", sys(186, (int)ss, (int)os, 0, 0)); kv("oldfl", os[1]); out("\n");
    act(10, info_handler, SA_SIGINFO | SA_ONSTACK, 0);
    sys(37, pid, 10, 0, 0);
    struct osa o = {(u32)plain_handler, 1 << 11, SA_RESTORER | SA_NODEFER, (u32)restore_old}, oo;
    kv("sigaction", sys(67, 12, (int)&o, (int)&oo, 0)); kv("oldh", oo.handler); out("\n");
    sys(37, pid, 12, 0, 0);
    sys(67, 12, 0, (int)&oo, 0); kv("h_is", oo.handler == (u32)plain_handler);
    kv("mask", oo.mask); kv("flags", oo.flags); out("\n");
#endif
    kv("end", count); out("\n");
    sys(1, 0, 0, 0, 0);
}
"""

#: What each case must end with, so that two sides going wrong alike cannot agree.
CASES = {
    1: ("exited", 0),  # SA_SIGINFO handler for tgkill, kill and tkill, then main goes on
    2: ("killed", signal.SIGUSR2),  # SA_RESETHAND: the second SIGUSR2 kills
    3: ("exited", 0),  # blocked: pending (rt_sigpending) until rt_sigprocmask unblocks it
    4: ("exited", 0x42),  # SIGSEGV handler exits with si_addr + 1
    5: ("killed", signal.SIGABRT),  # kill(getpid(), SIGABRT) with the default action
    6: ("exited", 0),  # SIG_IGN, and SIGWINCH ignored by default (kill(0, ...))
    7: ("exited", 0),  # errnos of kill, tkill, tgkill, rt_sigaction, sigaltstack, ...
    8: ("exited", 0),  # SIGPIPE with a handler: write returns EPIPE after it ran
    9: ("exited", 0),  # sigaltstack + SA_ONSTACK; old sigaction, SA_NODEFER, sigreturn
}
native_only = pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)


def build(tmp_path, case: int):
    source = tmp_path / "sigzoo.c"
    source.write_text(SIGZOO)
    elf = tmp_path / f"sigzoo{case}"
    subprocess.run([i386_gcc(), "-m32", "-static", "-nostdlib", "-O0", "-fno-omit-frame-pointer",
                    "-fno-pie", "-no-pie", "-fno-stack-protector", f"-DCASE={case}", "-o",
                    str(elf), str(source)], check=True, timeout=60, capture_output=True)
    return elf


def _no_core() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _normal(line: str) -> str:
    line = re.sub(r"0xff[0-9a-f]{6}", "STACK", line)
    return re.sub(r"\)\s+= ", ") = ", line)


def run_native(elf, tmp_path) -> tuple[list[str], bytes, tuple[str, int]]:
    log = tmp_path / "native.log"
    proc = subprocess.run([i386_strace(), "-o", str(log), str(elf)], capture_output=True,
                          timeout=60, preexec_fn=_no_core)
    lines = [line for line in log.read_text().splitlines()
             if not line.startswith("execve(") and "runs in 32 bit mode" not in line]
    text = "\n".join(lines)
    pid = re.search(r"getpid\(\)\s+= (\d+)", text).group(1)
    text = re.sub(rf"\b{pid}\b", "1000", text)
    text = re.sub(r"(getppid\(\)\s+= )\d+", r"\g<1>999", text)
    end = ("exited", proc.returncode) if proc.returncode >= 0 else ("killed", -proc.returncode)
    return [_normal(line) for line in text.splitlines()], proc.stdout, end


def run_harness(elf) -> tuple[list[str], bytes, tuple[str, int], Guest]:
    lines: list[str] = []
    guest = Guest(elf.read_bytes(), strace=lines.append, record=True)
    try:
        stop = guest.start()
        end = ("exited", stop.status)
    except GuestFault as fault:
        end = ("killed", fault.signal)
    return [_normal(line) for line in lines], guest.stdout, end, guest


@native_only
@pytest.mark.native
@pytest.mark.parametrize("case", sorted(CASES))
def test_signal_case_runs_as_on_the_kernel(case, tmp_path):
    elf = build(tmp_path, case)
    native_lines, native_out, native_end = run_native(elf, tmp_path)
    lines, out, end, guest = run_harness(elf)
    assert native_end == end == CASES[case]
    assert out == native_out
    assert lines == native_lines
    # record=True sees the same calls, rt_sigreturn with the restored eax as its result.
    names = [line.split("(")[0] for line in lines if not line.startswith(("---", "+++"))]
    assert [name for name, _ in guest.calls] == names


@native_only
def test_handler_output_shows_the_frame(tmp_path):
    """The values case 1 prints are Linux's, so they pin the layout here as well."""
    _lines, out, _end, _guest = run_harness(build(tmp_path, 1))
    first = out.split(b"\n")[0].decode()
    assert "si_code=-6" in first and "info-frame=16 uc-frame=144 align=0" in first
    assert "fpstate-frame=276" in first and "uc_sigmask=0" in first


@native_only
def test_abort_is_exit_status_134_from_webelf_run(tmp_path):
    import sys

    elf = build(tmp_path, 5)
    result = subprocess.run([sys.executable, "-m", "webelf", "run", str(elf), "--strace"],
                            capture_output=True, timeout=60)
    assert result.returncode == 128 + signal.SIGABRT
    err = result.stderr.decode()
    assert "--- SIGABRT {si_signo=SIGABRT, si_code=SI_USER, si_pid=1000, si_uid=0} ---" in err
    assert "+++ killed by SIGABRT +++" in err


def test_frame_sizes_are_the_kernels():
    """sizeof(struct rt_sigframe_ia32) and sizeof(struct sigframe_ia32) on x86-64."""
    assert (RT_SIGFRAME_SIZE, SIGFRAME_SIZE) == (268, 732)


def test_identity():
    from harness.kernel import Kernel

    k = Kernel()
    assert (k.pid, k.tid, k.ppid) == (1000, 1000, 999)
    assert k.table[L.SYS_getpid](0, 0, 0, 0, 0, 0) == 1000
    assert k.table[L.SYS_gettid](0, 0, 0, 0, 0, 0) == 1000
    assert k.table[L.SYS_getppid](0, 0, 0, 0, 0, 0) == 999
    assert k.table[L.SYS_kill](-1, 0, 0, 0, 0, 0) == -L.ESRCH  # nobody else to signal
