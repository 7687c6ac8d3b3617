"""The process, identity, time, file and prctl calls (issue 8) against the real kernel and strace.

One C program (built at test time with ``gcc -m32 -static -nostdlib``) makes each call with
good and bad arguments.  It runs natively under the real ``strace`` and in the harness with
``--strace``; the two logs must be equal line for line, which checks at once the harness's
results and errnos (the kernel's are the specification) and its strace rendering (strace's
is).  Both runs read the same stdin through a pipe, write stdout into a pipe, start with
Debian's default RLIMIT_NOFILE (1024/4096, the harness's fd limit) and run without address
randomisation.

A few values legitimately differ and are compared masked, each for the reason given in
:data:`DIFFERENT`: the host name, the thread id, random bytes and clock readings.  Unit
tests below pin the exact bytes the harness writes for the structs.
"""

from __future__ import annotations

import ctypes
import re
import resource
import struct
import subprocess
from pathlib import Path

import pytest

from harness import Guest, Network
from harness import linux as L
from harness.kernel import Kernel
from harness.kernel.sys_stat import stat64_bytes, statx_bytes, getattr_fd
from harness.kernel.sys_utsname import UTSNAME_BYTES
from support import NATIVE, NATIVE_REASON, i386_gcc, i386_strace

STRACE = "/usr/bin/strace"
ADDR_NO_RANDOMIZE = 0x0040000
STDIN = b"abcdefgh"

PROGRAM = r"""static long sc(long n, long a, long b, long c, long d, long e) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e) : "memory");
    return r;
}
struct iov { const void *base; unsigned long len; };
static char buf[512], uts[390], small[8];
static unsigned st[24], stx[64], rl[4], ids[3], ts[4];
static struct iov iov[3] = {{"hi ", 3}, {"", 0}, {"there\n", 6}};
static struct iov badiov[2] = {{"ok", 2}, {(void *)16, 4}};
static struct iov neg[1] = {{"x", 0x80000000UL}};
static struct iov rv[2] = {{buf, 3}, {buf + 100, 10}};
static int one = 1, zero = 0;
static int pfd[2], pfd2[2];
static unsigned long long ev = 5, evbig = 0xfffffffffffffffeULL, evmax = ~0ULL;
void _start(void) {
    sc(146, 1, (long)iov, 3, 0, 0);            /* writev = 9 */
    sc(146, 1, (long)iov, 0, 0, 0);            /* 0 */
    sc(146, 1, (long)iov, 1025, 0, 0);         /* EINVAL */
    sc(146, 1, 16, 1, 0, 0);                   /* EFAULT */
    sc(146, 1, (long)neg, 1, 0, 0);            /* EINVAL */
    sc(146, 0, (long)iov, 1, 0, 0);            /* EBADF: stdin is read-only */
    sc(146, 9, (long)iov, 1, 0, 0);            /* EBADF */
    sc(146, 1, (long)badiov, 2, 0, 0);         /* 2: the bytes before the fault */
    sc(145, 0, (long)rv, 2, 0, 0);             /* readv stdin */
    sc(145, 0, (long)rv, 2, 0, 0);             /* end of file: 0 */
    sc(145, 1, (long)rv, 2, 0, 0);             /* EBADF */
    sc(122, (long)uts, 0, 0, 0, 0);
    sc(4, 1, (long)(uts + 4 * 65), 65, 0, 0);
    sc(122, 16, 0, 0, 0, 0);                   /* EFAULT */
    sc(258, (long)small, 0, 0, 0, 0);          /* set_tid_address: tid differs */
    sc(311, (long)small, 12, 0, 0, 0);
    sc(311, (long)small, 24, 0, 0, 0);         /* EINVAL */
    sc(199, 0, 0, 0, 0, 0); sc(200, 0, 0, 0, 0, 0); sc(201, 0, 0, 0, 0, 0); sc(202, 0, 0, 0, 0, 0);
    sc(24, 0, 0, 0, 0, 0); sc(47, 0, 0, 0, 0, 0);
    sc(209, (long)ids, (long)(ids + 1), (long)(ids + 2), 0, 0);
    sc(211, (long)ids, (long)(ids + 1), 16, 0, 0);   /* EFAULT */
    sc(205, 0, 0, 0, 0, 0);
    sc(205, -1, 0, 0, 0, 0);                   /* EINVAL */
    sc(340, 0, 3, 0, (long)rl, 0);             /* prlimit64 STACK */
    sc(340, 0, 4, 0, (long)rl, 0);             /* CORE */
    sc(340, 0, 99, 0, (long)rl, 0);            /* EINVAL */
    sc(340, 0x7ffffff0, 3, 0, (long)rl, 0);    /* ESRCH */
    sc(340, 0, 3, 0, 16, 0);                   /* EFAULT */
    sc(191, 3, (long)rl, 0, 0, 0);
    sc(76, 3, (long)rl, 0, 0, 0);
    sc(191, 16, (long)rl, 0, 0, 0);            /* EINVAL */
    rl[0] = 100; rl[1] = 50;
    sc(75, 4, (long)rl, 0, 0, 0);              /* EINVAL: soft > hard */
    rl[0] = 0; rl[1] = 0;
    sc(75, 4, (long)rl, 0, 0, 0);              /* core 0/0 */
    sc(191, 4, (long)rl, 0, 0, 0);
    sc(355, (long)buf, 16, 0, 0, 0);
    sc(355, (long)buf, 16, 8, 0, 0);           /* EINVAL */
    sc(355, (long)buf, 16, 6, 0, 0);           /* EINVAL */
    sc(355, 16, 16, 0, 0, 0);                  /* EFAULT */
    sc(355, (long)buf, 0, 1, 0, 0);            /* 0 */
    sc(265, 1, (long)ts, 0, 0, 0);
    sc(403, 0, (long)ts, 0, 0, 0);
    sc(265, 10, (long)ts, 0, 0, 0);            /* EINVAL: SGI_CYCLE */
    sc(265, 99, (long)ts, 0, 0, 0);            /* EINVAL */
    sc(265, 1, 16, 0, 0, 0);                   /* EFAULT */
    sc(266, 1, (long)ts, 0, 0, 0);
    sc(266, 6, (long)ts, 0, 0, 0);
    sc(406, 2, (long)ts, 0, 0, 0);
    sc(266, 1, 0, 0, 0, 0);
    sc(78, (long)ts, (long)(ts + 2), 0, 0, 0);
    sc(78, 16, 0, 0, 0, 0);                    /* EFAULT */
    sc(13, 0, 0, 0, 0, 0);
    sc(13, 16, 0, 0, 0, 0);                    /* EFAULT */
    sc(54, 1, 0x5401, (long)buf, 0, 0);        /* TCGETS: ENOTTY */
    sc(54, 1, 0x5413, (long)buf, 0, 0);        /* TIOCGWINSZ: ENOTTY */
    sc(54, 9, 0x5401, (long)buf, 0, 0);        /* EBADF */
    sc(54, 0, 0x541B, (long)&one, 0, 0);       /* FIONREAD stdin */
    sc(54, 1, 0x5421, (long)&one, 0, 0);       /* FIONBIO */
    sc(55, 1, 3, 0, 0, 0);                     /* F_GETFL */
    sc(54, 1, 0x5421, (long)&zero, 0, 0);
    sc(54, 1, 0x5421, 16, 0, 0);               /* EFAULT */
    sc(221, 0, 3, 0, 0, 0);
    sc(221, 1, 1, 0, 0, 0);                    /* F_GETFD */
    sc(221, 1, 2, 1, 0, 0);                    /* F_SETFD */
    sc(221, 1, 1, 0, 0, 0);
    sc(221, 1, 4, 0x800, 0, 0);                /* F_SETFL O_NONBLOCK */
    sc(221, 1, 3, 0, 0, 0);
    sc(221, 1, 4, 0, 0, 0);
    sc(221, 1, 0, 10, 0, 0);                   /* F_DUPFD = 10 */
    sc(221, 1, 1030, 0, 0, 0);                 /* F_DUPFD_CLOEXEC = 3 */
    sc(221, 3, 1, 0, 0, 0);
    sc(6, 3, 0, 0, 0, 0);
    sc(6, 10, 0, 0, 0, 0);
    sc(221, 1, 0, 5000, 0, 0);                 /* EINVAL */
    sc(221, 9, 1, 0, 0, 0);                    /* EBADF */
    sc(221, 1, 9999, 0, 0, 0);                 /* EINVAL */
    sc(197, 1, (long)st, 0, 0, 0);
    sc(197, 0, (long)st, 0, 0, 0);
    sc(197, 9, (long)st, 0, 0, 0);             /* EBADF */
    sc(197, 1, 16, 0, 0, 0);                   /* EFAULT */
    sc(300, 1, (long)"", (long)st, 0x1000, 0);
    sc(300, 1, (long)"", (long)st, 0, 0);      /* ENOENT */
    sc(300, 1, (long)"", (long)st, 0x10000, 0);/* EINVAL */
    sc(383, 1, (long)"", 0x1000, 0x7ff, (long)stx);
    sc(383, 1, (long)"", 0x6000, 0x7ff, (long)stx);  /* EINVAL */
    sc(383, 1, (long)"", 0x1000, 0x80000000, (long)stx);  /* EINVAL */
    sc(383, 9, (long)"", 0x1000, 0x7ff, (long)stx);  /* EBADF */
    sc(383, 1, (long)"x", 0, 0x7ff, (long)stx);      /* ENOTDIR */
    sc(195, (long)"/nonexistent/webelf", (long)st, 0, 0, 0);
    sc(196, 16, (long)st, 0, 0, 0);
    sc(183, (long)buf, 1, 0, 0, 0);            /* ERANGE */
    sc(183, 16, 100, 0, 0, 0);                 /* EFAULT */
    sc(85, (long)"/nonexistent/webelf", (long)buf, 100, 0, 0);
    sc(85, (long)"/proc/self/exe", (long)buf, 0, 0, 0);   /* EINVAL */
    sc(85, (long)"", (long)buf, 10, 0, 0);     /* ENOENT */
    sc(85, (long)"/", (long)buf, 10, 0, 0);    /* EINVAL */
    sc(305, 1, (long)"x", (long)buf, 10, 0);   /* ENOTDIR */
    sc(172, 16, (long)buf, 0, 0, 0);           /* PR_GET_NAME: the executable's name */
    sc(172, 15, (long)"renamed-task-long-name", 0, 0, 0);  /* PR_SET_NAME keeps 15 bytes */
    sc(172, 16, (long)buf, 0, 0, 0);
    sc(172, 3, 0, 0, 0, 0);                    /* PR_GET_DUMPABLE: 1 */
    sc(172, 4, 0, 0, 0, 0);                    /* PR_SET_DUMPABLE */
    sc(172, 4, 7, 0, 0, 0);                    /* EINVAL */
    sc(172, 3, 0, 0, 0, 0);                    /* 0 */
    sc(172, 16, 16, 0, 0, 0);                  /* EFAULT */
    sc(172, 1000, 1, 2, 3, 4);                 /* EINVAL: no such option */
    sc(331, (long)pfd, 0x80800, 0, 0, 0);      /* pipe2(O_CLOEXEC|O_NONBLOCK) */
    sc(4, pfd[1], (long)"ab", 2, 0, 0);        /* 2 into the pipe */
    sc(3, pfd[0], (long)buf, 10, 0, 0);        /* 2 out */
    sc(3, pfd[0], (long)buf, 10, 0, 0);        /* EAGAIN: empty, writer open */
    sc(221, pfd[0], 3, 0, 0, 0);               /* F_GETFL */
    sc(221, pfd[1], 3, 0, 0, 0);
    sc(221, pfd[0], 1, 0, 0, 0);               /* F_GETFD: FD_CLOEXEC */
    sc(41, pfd[0], 0, 0, 0, 0);                /* dup */
    sc(63, pfd[0], 20, 0, 0, 0);               /* dup2 */
    sc(63, pfd[0], pfd[0], 0, 0, 0);           /* the same fd, open: itself */
    sc(63, 99, 21, 0, 0, 0);                   /* EBADF */
    sc(63, pfd[0], 5000, 0, 0, 0);             /* EBADF: past RLIMIT_NOFILE */
    sc(330, pfd[0], pfd[0], 0, 0, 0);          /* EINVAL: the same fd */
    sc(330, pfd[0], 21, 0x80000, 0, 0);        /* dup3(O_CLOEXEC) */
    sc(330, pfd[0], 21, 1, 0, 0);              /* EINVAL: a flag other than O_CLOEXEC */
    sc(330, pfd[1], 20, 0, 0, 0);              /* replaces 20 */
    sc(331, (long)pfd, 0x40, 0, 0, 0);         /* EINVAL: O_CREAT */
    sc(331, 16, 0, 0, 0, 0);                   /* EFAULT */
    sc(42, (long)pfd2, 0, 0, 0, 0);            /* pipe */
    sc(48, 13, 1, 0, 0, 0);                    /* signal(SIGPIPE, SIG_IGN) */
    sc(6, pfd2[0], 0, 0, 0, 0);                /* the only reader goes */
    sc(4, pfd2[1], (long)"x", 1, 0, 0);        /* EPIPE */
    sc(6, pfd[1], 0, 0, 0, 0);
    sc(6, 20, 0, 0, 0, 0);                     /* the last writer goes */
    sc(3, pfd[0], (long)buf, 10, 0, 0);        /* end of file: 0 */
    int e = sc(328, 3, 0x80800, 0, 0, 0);      /* eventfd2(3, EFD_CLOEXEC|EFD_NONBLOCK) */
    sc(4, e, (long)&ev, 8, 0, 0);              /* 8: the counter is 8 */
    sc(3, e, (long)buf, 8, 0, 0);              /* 8: the counter, and it is zeroed */
    sc(3, e, (long)buf, 8, 0, 0);              /* EAGAIN */
    sc(3, e, (long)buf, 4, 0, 0);              /* EINVAL: fewer than 8 bytes */
    sc(4, e, (long)&evmax, 8, 0, 0);           /* EINVAL: ULLONG_MAX */
    sc(4, e, (long)&evbig, 8, 0, 0);           /* 8: the counter is full */
    sc(4, e, (long)&ev, 8, 0, 0);              /* EAGAIN */
    sc(221, e, 3, 0, 0, 0);                    /* F_GETFL: O_RDWR|O_NONBLOCK */
    sc(328, 0, 2, 0, 0, 0);                    /* EINVAL */
    sc(328, 2, 1, 0, 0, 0);                    /* EFD_SEMAPHORE */
    sc(323, 0, 0, 0, 0, 0);                    /* eventfd */
    sc(1, 0, 0, 0, 0, 0);
}
"""

#: Lines whose numbers differ between the kernel and the harness, and why; in these, every
#: number and quoted string is masked before comparing, so the call, its errno and the
#: shape of what strace prints are still checked.
DIFFERENT = {
    "uname": "the host name: the harness's is fixed (webelf), the machine's is its own",
    "set_tid_address": "the thread id: the harness's is fixed, the kernel's is the pid",
    "getrandom": "random bytes (the harness's are reproducible, the kernel's are not)",
    "clock_gettime": "clock readings: the harness runs on its virtual clock",
    "clock_gettime64": "as clock_gettime",
    "gettimeofday": "as clock_gettime",
    "time": "as clock_gettime",
    "---": "a signal's si_pid: the harness's process is pid 1000, the kernel's any",
}


def _mask(line: str) -> str:
    return re.sub(r'"[^"]*"|\b\d+\b|\([^)]*\d{4}-[^)]*\)', "#", line)


def _preexec() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (L.INR_OPEN_CUR, L.INR_OPEN_MAX))
    ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Path:
    if not NATIVE:
        pytest.skip(NATIVE_REASON)
    gcc = i386_gcc()
    tmp = tmp_path_factory.mktemp("calls")
    (tmp / "calls.c").write_text(PROGRAM)
    subprocess.run([gcc, "-m32", "-static", "-nostdlib", "-fno-pie", "-no-pie", "-O1",
                    "-fno-stack-protector", "-o", str(tmp / "calls"), str(tmp / "calls.c")],
                   check=True, capture_output=True)
    return tmp / "calls"


def native_log(program: Path) -> tuple[list[str], bytes]:
    log = program.with_suffix(".log")
    proc = subprocess.run([i386_strace(), "-o", str(log), str(program)], input=STDIN,
                          capture_output=True, timeout=20, preexec_fn=_preexec)
    lines = [line for line in log.read_text().splitlines()
             if "runs in 32 bit mode" not in line]
    assert lines[0].startswith("execve(")
    return lines[1:], proc.stdout


def harness_log(program: Path) -> tuple[list[str], Guest]:
    lines: list[str] = []
    guest = Guest.load(program, strace=lines.append, record=True)
    guest.kernel.fds.stdin.data += STDIN
    guest.run()
    return lines, guest


@pytest.mark.native
def test_every_call_answers_and_prints_as_on_the_kernel(program):
    native, stdout = native_log(program)
    emulated, guest = harness_log(program)
    assert bytes(guest.kernel.fds.stdout.output) == stdout
    assert len(native) == len(emulated), "\n".join(emulated)
    found = []
    for want, got in zip(native, emulated):
        name = "---" if want.startswith("--- ") else want.split("(", 1)[0]
        if name in DIFFERENT:
            want, got = _mask(want), _mask(got)
        if want != got:
            found.append(f"kernel:  {want}\nharness: {got}")
    assert not found, "\n\n".join(found)
    assert guest.kernel.unsupported == []


@pytest.mark.native
def test_the_machine_field_is_what_a_32_bit_program_sees(program):
    """uname's machine field: a 32-bit program on a 64-bit kernel reads x86_64."""
    _lines, stdout = native_log(program)
    assert stdout[9:9 + 65] == UTSNAME_BYTES[4 * 65:5 * 65]


# --- unit tests: the bytes the harness writes ------------------------------------------------


def test_utsname_is_six_nul_padded_fields():
    assert len(UTSNAME_BYTES) == 390
    fields = [UTSNAME_BYTES[i * 65:(i + 1) * 65].rstrip(b"\0") for i in range(6)]
    assert fields == [b"Linux", b"webelf", b"6.1.0-webelf", b"#1 SMP PREEMPT_DYNAMIC webelf",
                      b"x86_64", b"(none)"]


def test_stat64_of_stdout_is_a_pipe_in_the_i386_layout():
    k = Kernel()
    data = stat64_bytes(getattr_fd(k, k.fds.stdout))
    assert len(data) == 96
    dev, ino32, mode, nlink, uid, gid = struct.unpack_from("<Q4xIIIII", data)
    assert (mode, nlink, uid, gid) == (L.S_IFIFO | 0o600, 1, 0, 0)
    assert dev == 13 and ino32 == 1001
    assert struct.unpack_from("<qI", data, 44) == (0, 4096)  # st_size, st_blksize
    assert struct.unpack_from("<Q", data, 88)[0] == 1001  # st_ino


def test_statx_of_a_pipe_has_linux_s_mask():
    k = Kernel()
    data = statx_bytes(getattr_fd(k, k.fds.stdin))
    assert len(data) == 256
    mask, blksize = struct.unpack_from("<II", data)
    assert mask == L.STATX_BASIC_STATS | L.STATX_MNT_ID and blksize == 4096
    assert struct.unpack_from("<H", data, 28)[0] == L.S_IFIFO | 0o600
    assert struct.unpack_from("<II", data, 136) == (0, 13)  # stx_dev_major, _minor


def test_an_unprivileged_network_makes_an_ordinary_user():
    assert (Kernel().uid, Kernel(Network(privileged=False)).uid) == (0, 1000)



def test_nofile_limit_moves_the_fd_table_limit():
    from harness.kernel.sys_rlimit import do_prlimit
    k = Kernel()
    assert do_prlimit(k, L.RLIMIT_NOFILE, (3, 4096)) == (1024, 4096)
    assert k.fds.limit == 3
    assert k.fds.socket(L.AF_INET, L.SOCK_STREAM, 0) == -L.EMFILE


def test_raising_a_hard_limit_needs_root():
    from harness.kernel.sys_rlimit import do_prlimit
    k = Kernel(Network(privileged=False))
    assert do_prlimit(k, L.RLIMIT_CORE, (0, 10)) == (0, L.RLIM64_INFINITY)
    assert do_prlimit(k, L.RLIMIT_CORE, (0, 11)) == -L.EPERM
    assert do_prlimit(k, L.RLIMIT_NOFILE, (1, 10**7)) == -L.EPERM


def test_getrandom_is_reproducible_from_the_at_random_bytes():
    from harness.kernel.sys_random import RandomStream
    one, two = RandomStream(b"x" * 16), RandomStream(b"x" * 16)
    assert one.take(10) + one.take(5000) == two.take(5010)
    assert RandomStream(b"y" * 16).take(16) != RandomStream(b"x" * 16).take(16)


def test_dup_keeps_a_socket_open_until_its_last_fd_closes():
    k = Kernel()
    fd = k.fds.socket(L.AF_INET, L.SOCK_STREAM, 0)
    copy = k.fds.dup(fd, 10)
    sock = k.fds.get(fd)
    assert copy == 10 and k.fds.get(copy) is sock
    assert k.fds.close(fd) == 0 and k.fds.get(copy) is sock
    assert k.fds.dup(fd) == -L.EBADF
    assert k.fds.dup(copy, L.INR_OPEN_CUR) == -L.EINVAL


class _Flat:
    """Guest memory for handler tests: one writable region at 0x1000."""

    def __init__(self) -> None:
        self.data = bytearray(0x2000)

    def read(self, address: int, size: int) -> bytes:
        from harness.kernel import BadAddress
        if not 0x1000 <= address <= address + size <= 0x3000:
            raise BadAddress(address)
        return bytes(self.data[address - 0x1000:address - 0x1000 + size])

    def write(self, address: int, data: bytes) -> None:
        from harness.kernel import BadAddress
        if not 0x1000 <= address <= address + len(data) <= 0x3000:
            raise BadAddress(address)
        self.data[address - 0x1000:address - 0x1000 + len(data)] = data


def _connected_pair():
    from harness.kernel import sys_socket  # noqa: F401
    net = Network()
    k = Kernel(net)
    k.mem = _Flat()
    listener = k.fds.socket(L.AF_INET, L.SOCK_STREAM, 0)
    sock = k.fds.get(listener)
    assert sock.bind(0x7F000001, 8080) == 0 and sock.listen(5) == 0
    client = net.connect(8080)
    fd = k.fds.accept4(listener)
    return k, fd, client, listener


def test_writev_and_readv_on_a_socket():
    from harness.kernel.sys_file import sys_ioctl, sys_readv, sys_writev, sys_fcntl64
    k, fd, client, listener = _connected_pair()
    k.mem.write(0x1000, b"hello world")
    k.mem.write(0x1800, struct.pack("<IIII", 0x1000, 5, 0x1005, 6))
    assert sys_writev(k, fd, 0x1800, 2) == 11
    assert client.recv() == b"hello world"
    client.send(b"abcdef")
    assert sys_ioctl(k, fd, L.FIONREAD, 0x1900) == 0
    assert struct.unpack("<i", k.mem.read(0x1900, 4))[0] == 6
    assert sys_ioctl(k, listener, L.FIONREAD, 0x1900) == -L.EINVAL
    k.mem.write(0x1800, struct.pack("<IIII", 0x1100, 2, 0x1200, 10))
    assert sys_readv(k, fd, 0x1800, 2) == 6
    assert k.mem.read(0x1100, 2) == b"ab" and k.mem.read(0x1200, 4) == b"cdef"
    assert sys_fcntl64(k, fd, L.F_GETFL, 0) == L.O_RDWR
    k.mem.write(0x1900, struct.pack("<i", 1))
    assert sys_ioctl(k, fd, L.FIONBIO, 0x1900) == 0
    assert sys_fcntl64(k, fd, L.F_GETFL, 0) == L.O_RDWR | L.O_NONBLOCK
    assert sys_readv(k, fd, 0x1800, 2) == -L.EAGAIN
    assert sys_ioctl(k, fd, L.TCGETS, 0x1900) == -L.ENOTTY


def test_readv_that_faults_part_way_leaves_the_rest_queued():
    from harness.kernel.sys_file import sys_readv
    k, fd, client, _listener = _connected_pair()
    client.send(b"0123456789")
    k.mem.write(0x1800, struct.pack("<IIII", 0x1100, 4, 0x10, 6))
    assert sys_readv(k, fd, 0x1800, 2) == 4
    assert bytes(k.fds.get(fd).rx) == b"456789"


def test_fstat_of_a_socket():
    from harness.kernel.sys_stat import sys_fstat64
    k, fd, _client, _listener = _connected_pair()
    assert sys_fstat64(k, fd, 0x1000) == 0
    mode = struct.unpack("<I", k.mem.read(0x1000 + 16, 4))[0]
    assert mode == L.S_IFSOCK | 0o777


def test_rseq_is_enosys_and_prints_as_strace_prints_it():
    """strace 6.1 has no rseq decoder (printargs): four hex arguments."""
    from harness import trace
    k = Kernel()
    assert k.syscall(L.SYS_rseq, 0x804B3C0, 32, 0, 0x53053053, 0, 0) == -L.ENOSYS
    assert k.unsupported == []
    line = trace.strace_line(L.SYS_rseq, (0x804B3C0, 32, 0, 0x53053053, 0, 0), -L.ENOSYS,
                             lambda a, n: None)
    assert line == ("rseq(0x804b3c0, 0x20, 0, 0x53053053)    "
                    "= -1 ENOSYS (Function not implemented)")
