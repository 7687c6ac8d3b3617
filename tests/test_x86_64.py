"""x86-64 programs built from C here (glibc, glibc static-pie, musl), on the real kernel and in
the harness: issue 13's harness side.

Each program runs natively, which is the referee, and in the harness with the same argv,
environment and stdin; what a user sees must be equal: stdout, stderr, the exit status, the
bytes each client receives.  For the programs that exit, the (system call, result) sequence
``strace`` sees natively (with address randomisation off, ``setarch -R``) must also be what
the harness records, with the differences the harness chooses and documents named here one by
one (:func:`_harness_view`).  No expected output is written down.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys

import pytest
from cprograms import build
from cprograms64 import LIBCS64, build64
from rundiff import TIMEOUT, natives, run_in_harness, unmodelled  # noqa: F401 - a fixture
from support import (
    FIXTURES,
    LOOPBACK,
    NATIVE,
    NATIVE_REASON,
    free_port,
    i386_setarch,
    i386_strace,
)
from test_cprograms import ARGV, CONNECTIONS, ENV, REQUEST, STDIN, _native_fetch
from test_differential import parse_strace
from test_fs import PROBES as FS_PROBES
from test_fs import REQUESTS as FS_REQUESTS
from test_fs import SITE as FS_SITE
from test_fs import _chrooted as fs_chrooted
from test_fs import _tree as fs_tree
from test_readiness import SERVERS, native_responses, requests
from test_serve import FORK_REQUESTS, exchange, serving  # noqa: F401 - a fixture

from harness import Guest, GuestFault
from harness import linux as L
from harness import linux64 as L64
from harness.elf import load
from harness.linux import ENOSYS

native = pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)


# ---------------------------------------------------------------------------- loading


@pytest.mark.parametrize("libc", LIBCS64)
def test_the_loader_places_the_image_where_linux_does(libc):
    """ET_EXEC at its link address; a static-pie, which Linux maps with load_bias 0 and no
    MAP_FIXED, at the top of the mmap area (0x7ffff7fff000 less its extent) with its brk at
    ELF_ET_DYN_BASE: the addresses ``setarch -R`` shows in /proc/self/maps on Linux 6.x."""
    image = load(build64(libc, "hello"))
    assert image.arch == "x86_64" and image.word == 8 and image.phent == 56
    if libc == "glibc-pie":
        assert image.mappings[-1].end == 0x7FFF_F7FF_F000
        assert image.load_bias == image.mappings[0].start
        assert image.brk == 0x5555_5555_5000
        assert image.entry > image.load_bias
    else:
        assert image.load_bias == 0 and image.mappings[0].start == 0x400000
        assert image.brk == image.mappings[-1].end
    assert not image.read_implies_exec and not image.stack_executable


# ---------------------------------------------------------------------------- outcomes


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", LIBCS64)
@pytest.mark.parametrize(("program", "end"), [
    ("hello", ("exited", 0)), ("filter", ("exited", 0)), ("abort", ("killed", signal.SIGABRT)),
    ("sig_handlers", ("killed", signal.SIGTERM)),
])
def test_program_runs_as_on_linux(natives, tmp_path, libc, program, end):  # noqa: F811
    """Among them sig_handlers.c: handlers run on x86-64's rt_sigframe and return through
    the C library's restorer (rt_sigreturn), SIGCHLD ignored, a default action kills."""
    data = build64(libc, program, tmp_path)
    native_run = natives.run(tmp_path / program, ARGV, ENV, STDIN)
    assert native_run.end == end, native_run  # the referee ran it as meant
    emulated, guest, how = run_in_harness(data, ARGV, ENV, STDIN)
    context = f"{program} with {libc}: {how}; unmodelled calls: {unmodelled(guest)}"
    assert emulated.end == native_run.end, context
    assert emulated.stdout == native_run.stdout, context
    assert emulated.stderr == native_run.stderr, context


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_the_blog_posts_hello_world_from_inline_assembly(
        natives, tmp_path, libc):  # noqa: F811
    """The post's last hello world: ``syscall`` from inline assembly in main, with rax,
    rdi, rsi, rdx set by hand (and rcx, r11 left undeclared, as the post leaves them)."""
    data = build64(libc, "hello_asm64", tmp_path)
    native_run = natives.run(tmp_path / "hello_asm64", ["hello"], {}, b"")
    assert native_run.stdout == b"Hello, World!" and native_run.end == ("exited", 0)
    emulated, _guest, how = run_in_harness(data, ["hello"], {}, b"")
    assert (emulated.stdout, emulated.end) == (native_run.stdout, native_run.end), how


def _serve(natives, tmp_path, libc: str, program: str) -> None:  # noqa: F811
    data = build64(libc, program, tmp_path)
    port = free_port()
    argv = [program, str(port), str(CONNECTIONS)]
    proc = natives.start(tmp_path / program, argv, ENV, stdin=subprocess.DEVNULL)
    native_responses = [_native_fetch(proc, port, REQUEST) for _ in range(CONNECTIONS)]
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert native_responses[0].startswith(b"HTTP/1.")

    guest = Guest(data, argv=argv, env=ENV)
    try:
        stop = guest.start()
    except GuestFault as fault:
        pytest.fail(f"{program} with {libc}: killed by {fault}; "
                    f"unmodelled calls: {unmodelled(guest)}")
    context = f"{program} with {libc}; unmodelled calls: {unmodelled(guest)}"
    assert guest.waiting_in_accept, f"{context}; it stopped: {stop}, stderr {guest.stderr!r}"
    assert guest.listening() == [(LOOPBACK, port)], context
    emulated = [guest.request(REQUEST) for _ in range(CONNECTIONS)]
    assert emulated == native_responses, context
    assert guest.exited and guest.exit_status == 0, context
    assert (guest.stdout, guest.stderr) == (stdout, stderr), context


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", LIBCS64)
def test_libc_server_answers_as_on_linux(natives, tmp_path, libc):  # noqa: F811
    _serve(natives, tmp_path, libc, "server")


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_forking_server_answers_as_on_linux(natives, tmp_path, libc):  # noqa: F811
    """A child per connection (glibc forks with clone and x86-64's argument order, musl
    with fork); the parent reaps them with wait4."""
    _serve(natives, tmp_path, libc, "fork_server")


# ---------------------------------------------------------------------------- strace


def _harness_view(native_calls: list[tuple[str, int | None]], pid: int,
                  harness_pid: int) -> list[tuple[str, int | None]]:
    """What the harness is meant to record for the calls strace saw natively: the same,
    but for the harness's documented choices (kernel/x86_64.py's notes):

    * rseq is -ENOSYS ("as before Linux 4.18"), and C libraries run on without it;
    * the calls that return the caller's pid or tid return the harness's (1000)."""
    out = []
    for name, ret in native_calls:
        if name == "rseq":
            ret = -ENOSYS
        elif name in ("set_tid_address", "getpid", "gettid") and ret == pid:
            ret = harness_pid
        out.append((name, ret))
    return out


@native
@pytest.mark.native
@pytest.mark.parametrize(("libc", "program"), [
    ("musl", "hello"), ("musl", "filter"), ("musl", "hello_asm64"),
    ("glibc", "hello"), ("glibc", "filter"), ("glibc-pie", "hello"), ("glibc", "hello_asm64"),
])
def test_calls_are_those_strace_sees(tmp_path, libc, program):
    """The (call, result) pairs of the whole run, brk's and mmap's addresses included: the
    harness lays out the address space as Linux does with randomisation off."""
    build64(libc, program, tmp_path)
    strace, setarch = i386_strace(), i386_setarch()
    path = tmp_path / program
    log = tmp_path / "strace.txt"
    proc = subprocess.run([setarch, "-R", strace, "-q", "-o", str(log), str(path), *ARGV[1:]],
                          input=STDIN, env=ENV, capture_output=True, timeout=TIMEOUT,
                          check=False)
    run = parse_strace(log.read_text())
    assert run.end == ("exited", 0) and proc.returncode == 0, proc.stderr
    pid = next((ret for name, ret in run.calls if name == "set_tid_address"), None)

    guest = Guest(path.read_bytes(), argv=[str(path), *ARGV[1:]], env=ENV, stdin=STDIN,
                  record=True, exe_path=str(path))
    stop = guest.start()
    assert stop.reason == "exited", stop
    assert guest.kernel.calls == _harness_view(run.calls, pid, guest.kernel.pid), (
        f"unmodelled calls: {unmodelled(guest)}")
    assert (guest.stdout, guest.stderr) == (proc.stdout, proc.stderr)


# ---------------------------------------------------------------------------- webelf


def _webelf(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def test_webelf_check_names_the_blog_servers_content_length_flaw(tmp_path):
    """The post's first C server, built for x86-64: ``webelf check`` of its response exits 1
    and names the mismatch, 138 announced and 155 bytes sent (the body and the string's
    NUL), though the bytes are exactly the ones expected."""
    build64("glibc", "blog_server", tmp_path)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 138\r\n\r\n"
    body = (b"<!DOCTYPE html><html><head><title>Elves and CSS</title><style>body { "
            b"background-color: #f0f0f0; }</style></head><body><h1>Elves and CSS</h1>"
            b"</body></html>\0")
    assert len(body) == 155
    (tmp_path / "request").write_bytes(REQUEST)
    (tmp_path / "expect").write_bytes(head + body)
    result = _webelf("check", str(tmp_path / "blog_server"), "--request",
                     str(tmp_path / "request"), "--expect", str(tmp_path / "expect"))
    assert result.returncode == 1, result.stderr
    assert b"Content-Length 138 but the body has 155 bytes" in result.stderr
    assert result.stderr.count(b"\n") == 1, result.stderr  # no byte difference: only that


def test_webelf_run_runs_an_x86_64_program(tmp_path):
    build64("musl", "hello", tmp_path)
    result = _webelf("run", str(tmp_path / "hello"), "--", "a", "b")
    assert result.returncode == 0, result.stderr
    assert b"argc=3\n" in result.stdout and b"argv[2]=b\n" in result.stdout


def test_webelf_refuses_a_64_bit_program_of_another_machine(tmp_path):
    data = bytearray(build64("musl", "hello"))
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    (tmp_path / "arm").write_bytes(bytes(data))
    result = _webelf("run", str(tmp_path / "arm"))
    assert result.returncode == 125
    assert result.stderr.count(b"\n") == 1 and b"EM_AARCH64 (183) in e_machine" in result.stderr


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_kernel_entry_and_arch_prctl_as_on_linux(natives, tmp_path, libc):  # noqa: F811
    """rcx and r11 after ``syscall`` (the return address and rflags, as the CPU leaves them)
    and arch_prctl's answers to each code, printed by the program itself."""
    data = build64(libc, "arch64", tmp_path)
    native_run = natives.run(tmp_path / "arch64", ["arch64"], {}, b"")
    assert native_run.end == ("exited", 0)
    assert b"rcx is the next instruction: 1\nr11 is rflags: 1\n" in native_run.stdout
    emulated, _guest, how = run_in_harness(data, ["arch64"], {}, b"")
    assert (emulated.stdout, emulated.end) == (native_run.stdout, native_run.end), how


# ---------------------------------------------------------------------------- readiness


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
@pytest.mark.parametrize("program", SERVERS)
def test_multiplexing_servers_send_the_kernels_bytes(tmp_path, libc, program):
    """poll, select (fd_set in 64-bit longs, a timeval of longs) and epoll (the packed
    12-byte epoll_event of x86-64 too): eight clients, each sending half its request in
    order and the rest in reverse order, natively and in the harness."""
    data = build64(libc, program, tmp_path)
    n = 8
    guest = Guest(data, argv=[program, "8080", str(n)])
    guest.start()
    clients = [guest.connect() for _ in range(n)]
    for client, req in zip(clients, requests(n), strict=True):
        client.send(req[:len(req) // 2])
        guest.run()
    for client, req in reversed(list(zip(clients, requests(n), strict=True))):
        client.send(req[len(req) // 2:])
        guest.run()
    assert guest.exited and guest.exit_status == 0, (guest.stderr, unmodelled(guest))
    emulated = [client.recv_all() for client in clients]
    assert emulated == native_responses(tmp_path / program, n)


# ---------------------------------------------------------------------------- execve


def _exec_tree(tmp_path, hello: bytes):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "hello").write_bytes(hello)
    os.chmod(tree / "hello", 0o755)
    (tree / "noexec").write_bytes(hello)
    os.chmod(tree / "noexec", 0o644)
    (tree / "garbage").write_bytes(b"not a program\n")
    os.chmod(tree / "garbage", 0o755)
    return tree


@native
@pytest.mark.native
@pytest.mark.parametrize(("parent", "child"), [("x86_64", "x86_64"), ("i386", "x86_64"),
                                               ("x86_64", "i386")])
def test_execve_of_either_architecture_as_natively(tmp_path, parent, child):
    """exec_parent.c's execve answers, then a child that execs hello: an x86-64 program's
    argv and envp are arrays of 8-byte pointers, and the new image brings its own CPU mode
    and system call table, whichever architecture made the call."""
    def built(arch: str, program: str) -> bytes:
        directory = tmp_path / arch
        directory.mkdir(exist_ok=True)
        if arch == "x86_64":
            return build64("glibc", program, directory)
        return build("glibc", program, directory)

    tree = _exec_tree(tmp_path, built(child, "hello"))
    parent_elf = built(parent, "exec_parent")
    native_run = subprocess.run([str(tmp_path / parent / "exec_parent"), str(tree)],
                                capture_output=True, timeout=TIMEOUT, check=False)
    guest = Guest(parent_elf, argv=["exec_parent", "/"], root=tree)
    assert guest.run().reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native_run.stdout, native_run.returncode)
    assert b"argv[2]=b c\nenv=X=1\nenv=Y=two\n" in guest.stdout


def test_readme_lists_the_x86_64_table():
    from harness.kernel.x86_64 import markdown

    text = (FIXTURES.parent / "README.md").read_text()
    block = re.search(r"<!-- syscalls x86_64: generated by python -m harness.kernel x86_64 -->"
                      r"\n(.*?)\n<!-- end of syscalls x86_64 -->", text, re.DOTALL)
    assert block, "the README lost its generated table of x86-64 system calls"
    assert block.group(1) == markdown(), "run python -m harness.kernel x86_64 into the README"


# ---------------------------------------------------------------------------- --strace


def _comparable(lines: list[str], pid: int) -> list[str]:
    """strace lines with what legitimately differs made equal: the pid (the harness's is
    1000), stack addresses (Linux's auxiliary vector has the vDSO's and more entries, so its
    stack sits a few words lower), getrandom's bytes, and rseq, which the harness answers
    with ENOSYS (kernel/x86_64.py's note)."""
    out = []
    for line in lines:
        line = re.sub(rf"\b{pid}\b", "PID", line)
        line = re.sub(r"0x7fff[0-9a-f]{8}", "STACK", line)
        line = re.sub(r'^getrandom\("[^"]*"', 'getrandom("BYTES"', line)
        if line.startswith("rseq("):
            line = line.split(" = ")[0]
        out.append(re.sub(r"\s+= ", " = ", line))
    return out


@native
@pytest.mark.native
@pytest.mark.parametrize(("libc", "program"), [
    ("musl", "hello"), ("musl", "filter"), ("musl", "arch64"), ("glibc", "hello"),
    ("glibc", "filter"), ("glibc-pie", "hello"), ("glibc", "hello_asm64"), ("glibc", "arch64"),
])
def test_strace_lines_are_the_real_straces(tmp_path, libc, program):
    """``--strace`` in strace's x86-64 spelling: arch_prctl, newfstatat's struct stat,
    writev's 16-byte iovecs, 64-bit pointers, prlimit64, readlink... equal to what the real
    strace prints for the same program with randomisation off, line for line."""
    build64(libc, program, tmp_path)
    strace, setarch = i386_strace(), i386_setarch()
    path = tmp_path / program
    log = tmp_path / "strace.txt"
    subprocess.run([setarch, "-R", strace, "-q", "-o", str(log), str(path), *ARGV[1:]],
                   input=STDIN, env=ENV, capture_output=True, timeout=TIMEOUT, check=False)
    native_lines = log.read_text().splitlines()
    assert native_lines[0].startswith("execve(")
    pid = int(re.search(r"set_tid_address\([^)]*\)\s+= (\d+)", log.read_text())[1])
    lines: list[str] = []
    guest = Guest(path.read_bytes(), argv=[str(path), *ARGV[1:]], env=ENV, stdin=STDIN,
                  strace=lines.append, exe_path=str(path))
    guest.start()
    assert _comparable(lines, guest.kernel.pid) == _comparable(native_lines[1:], pid)


# ---------------------------------------------------------------------------- faults, coverage


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_faults_reach_an_x86_64_program_by_name(libc):
    """filter.c exits 3 after perror when read fails: an injected EIO on x86-64's read
    (number 0, not i386's 3), named as strace names it."""
    guest = Guest(build64(libc, "filter"), stdin=STDIN, faults=["read=EIO@1"])
    assert guest.start().reason == "exited"
    text = {"glibc": b"Input/output error", "musl": b"I/O error"}[libc]  # their strerror
    assert (guest.exit_status, guest.stderr) == (3, b"read: " + text + b"\n")
    fine = Guest(build64(libc, "filter"), stdin=STDIN, faults=["newfstatat=EIO@*"])
    assert fine.start().reason == "exited" and fine.exit_status == 0


def test_coverage_counts_an_x86_64_programs_blocks():
    guest = Guest(build64("musl", "hello"), coverage=True)
    guest.start()
    assert guest.machine.covered and all(address >= 0x400000
                                         for address, _size in guest.machine.covered)


def _memory(blocks: dict[int, bytes]):
    """A guest memory of a few blocks, each padded to a page as guest memory is, for
    strace_line's ``read``."""
    blocks = {start: data.ljust(4096, b"\0") for start, data in blocks.items()}

    def read(address: int, size: int) -> bytes | None:
        for start, data in blocks.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start:address - start + size]
        return None
    return read


@pytest.mark.parametrize(("name", "args", "ret", "blocks", "line"), [
    ("gettimeofday", (0x7FFF_0000_1000, 0), 0,
     {0x7FFF_0000_1000: struct.pack("<qq", 1704067200, 5)},
     "gettimeofday({tv_sec=1704067200, tv_usec=5}, NULL) = 0"),
    ("nanosleep", (0x7FFF_0000_1000, 0), 0, {0x7FFF_0000_1000: struct.pack("<qq", 2, 500)},
     "nanosleep({tv_sec=2, tv_nsec=500}, NULL) = 0"),
    ("getrlimit", (L.RLIMIT_NOFILE, 0x7FFF_0000_1000), 0,
     {0x7FFF_0000_1000: struct.pack("<QQ", 1024, (1 << 64) - 1)},
     "getrlimit(RLIMIT_NOFILE, {rlim_cur=1024, rlim_max=RLIM64_INFINITY}) = 0"),
    ("sigaltstack", (0x7FFF_0000_1000, 0), 0,
     {0x7FFF_0000_1000: struct.pack("<Qi4xQ", 0x7FFF_F000_0000, 0, 8192)},
     "sigaltstack({ss_sp=0x7ffff0000000, ss_flags=0, ss_size=8192}, NULL) = 0"),
    ("mmap", (0, 8192, 3, 0x22, (1 << 64) - 1, 0), 0x7FFF_F7FF_D000, {},
     ("mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) "
      "= 0x7ffff7ffd000")),
    ("clone", (0x1200011, 0, 0, 0x4AF650, 0), 1001, {},
     ("clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
      "child_tidptr=0x4af650) = 1001")),
    ("rt_sigaction", (L.SIGINT, 0x7FFF_0000_1000, 0, 8), 0,
     {0x7FFF_0000_1000: struct.pack("<QQQQ", 0x401260, 0x04000004, 0x401C42, 0)},
     ("rt_sigaction(SIGINT, {sa_handler=0x401260, sa_mask=[], "
      "sa_flags=SA_RESTORER|SA_SIGINFO, sa_restorer=0x401c42}, NULL, 8) = 0")),
    ("write", (1, 0x7FFF_0000_1000, 3), (1 << 64) - L.EBADF, {0x7FFF_0000_1000: b"abc"},
     'write(1, "abc", 3) = -1 EBADF (Bad file descriptor)'),
    ("execve", (0x7FFF_0000_1000, 0x7FFF_0000_1010, 0), (1 << 64) - L.ENOENT,
     {0x7FFF_0000_1000: b"/bin/sh\0" + bytes(8) + struct.pack("<QQQ", 0x7FFF_0000_1000,
                                                                 0x7FFF_0000_1028, 0)
      + b"-c\0"},
     'execve("/bin/sh", ["/bin/sh", "-c"], NULL) = -1 ENOENT (No such file or directory)'),
    ("setitimer", (L.ITIMER_REAL, 0x7FFF_0000_1000, 0), 0,
     {0x7FFF_0000_1000: struct.pack("<qqqq", 0, 0, 2, 500000)},
     ("setitimer(ITIMER_REAL, {it_interval={tv_sec=0, tv_usec=0}, "
      "it_value={tv_sec=2, tv_usec=500000}}, NULL) = 0")),
    ("waitid", (L.P_ALL, 0, 0x7FFF_0000_1000, L.WEXITED, 0), 0,
     {0x7FFF_0000_1000: struct.pack("<iii4xiIi4xqq", L.SIGCHLD, 0, L.CLD_EXITED, 1001, 0,
                                    3, 0, 0).ljust(128, b"\0")},
     ("waitid(P_ALL, 0, {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=1001, si_uid=0, "
      "si_status=3, si_utime=0, si_stime=0}, WEXITED, NULL) = 0")),
    ("select", (65, 0x7FFF_0000_1000, 0, 0, 0), 1,
     {0x7FFF_0000_1000: (1 << 64 | 1 << 3).to_bytes(16, "little")},
     "select(65, [3 64], NULL, NULL, NULL) = 1 (in [3 64])"),
])
def test_strace_decodes_x86_64s_structs_of_longs(name, args, ret, blocks, line):
    """The x86-64 decoders no test program above reaches natively, on memory laid out as
    the x86-64 kernel's structs are: 8-byte pointers in argv, longs in itimerval and
    fd_set, siginfo's union at 16."""
    from harness.trace import strace_line

    got = strace_line(L64.SYSCALL_NUMBERS[name], args, ret, _memory(blocks), "x86_64")
    assert re.sub(r"\s+= ", " = ", got) == line


# ---------------------------------------------------------------------------- webelf serve


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_an_x86_64_forking_server_through_serve_answers_as_natively(
        natives, serving, tmp_path, libc):  # noqa: F811
    """``webelf serve`` bridges a real port to the x86-64 guest's: the forking server's
    bytes are the native program's, and serve ends with the guest's own status, 0."""
    build64(libc, "fork_server", tmp_path)
    elf = tmp_path / "fork_server"
    port = free_port()
    count = str(len(FORK_REQUESTS))
    proc = natives.start(elf, ["fork_server", str(port), count], {}, stdin=subprocess.DEVNULL)
    native_responses_ = [_native_fetch(proc, port, r) for r in FORK_REQUESTS]
    assert proc.wait(timeout=TIMEOUT) == 0
    served = serving(elf, "--", str(free_port()), count)
    emulated = [exchange(served.port, r, half_close=False) for r in FORK_REQUESTS]
    assert emulated == native_responses_
    status, _log, err = served.stop(None)
    assert status == 0, err


def test_webelf_disasm_lists_x86_64_code(tmp_path):
    build64("glibc", "hello_asm64", tmp_path)
    result = _webelf("disasm", str(tmp_path / "hello_asm64"))
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "\n; entry point\n" in text and re.search(r"  0f05 +syscall\n", text)
    assert re.search(r"  4889e2 +mov rdx, rsp\n", text)  # decoded as 64-bit code


@native
@pytest.mark.native
def test_a_crash_is_the_kernels_signal_with_the_64_bit_instruction(natives, tmp_path):  # noqa: F811
    """crash_server.c writes through a null pointer on /crash: SIGSEGV natively and in the
    harness, where the fault names the faulting x86-64 instruction."""
    data = build64("glibc", "crash_server", tmp_path)
    port = free_port()
    proc = natives.start(tmp_path / "crash_server", ["crash_server", str(port)], {},
                         stdin=subprocess.DEVNULL)
    assert _native_fetch(proc, port, b"GET /crash HTTP/1.0\r\n\r\n") == b""
    assert proc.wait(timeout=TIMEOUT) == -signal.SIGSEGV
    guest = Guest(data, argv=["crash_server", "8080"])
    guest.start()
    with pytest.raises(GuestFault) as info:
        guest.request(b"GET /crash HTTP/1.0\r\n\r\n")
    fault = info.value
    assert fault.signal == signal.SIGSEGV and fault.address == 0
    assert "(bad)" not in str(fault) and "ptr [" in str(fault)


@native
@pytest.mark.native
@pytest.mark.parametrize("case", [0, 1, 2, 3, 5, 6])
def test_privileged_instructions_fault_as_at_cpl_3(natives, tmp_path, case):  # noqa: F811
    """The guest runs in ring 3 with Linux's 64-bit segments (harness/cpu64.py): hlt, cli,
    in and a read of cr0 are #GP (SIGSEGV), ud2 SIGILL, int3 SIGTRAP, as natively."""
    data = build64("glibc", "privileged64", tmp_path)
    argv = ["privileged64", str(case)]
    native_run = natives.run(tmp_path / "privileged64", argv, {}, b"")
    assert native_run.end[0] == "killed" and native_run.stdout == b"start\n"
    emulated, _guest, how = run_in_harness(data, argv, {}, b"")
    assert (emulated.end, emulated.stdout) == (native_run.end, native_run.stdout), how


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_int_0x80_from_a_64_bit_program_is_the_ia32_table(natives, tmp_path, libc):  # noqa: F811
    """compat64.c: write, getpid and read through int 0x80 with i386 numbers, EFAULT for a
    pointer cut to 32 bits, ENOSYS sign-extended into rax: as natively."""
    data = build64(libc, "compat64", tmp_path)
    native_run = natives.run(tmp_path / "compat64", ["compat64"], {}, b"in\n")
    assert native_run.end == ("exited", 0)
    assert b"stack pointer cut to 32 bits: -14\n" in native_run.stdout
    emulated, _guest, how = run_in_harness(data, ["compat64"], {}, b"in\n")
    assert (emulated.stdout, emulated.end) == (native_run.stdout, native_run.end), how


# ---------------------------------------------------------------------------- the file tree


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_file_server_serves_the_tree_as_natively(natives, tmp_path, libc):  # noqa: F811
    """open, newfstatat (struct stat's mtime and inode in Last-Modified and ETag), sendfile
    with a 64-bit offset, from --root the same directory the native program serves."""
    data = build64(libc, "file_server", tmp_path)
    port = free_port()
    count = str(len(FS_REQUESTS))
    proc = natives.start(tmp_path / "file_server", ["file_server", str(port), count,
                                                    str(FS_SITE)], {}, stdin=subprocess.DEVNULL)
    native_responses_ = [_native_fetch(proc, port, request) for request in FS_REQUESTS]
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0 and native_responses_[0].startswith(b"HTTP/1.0 200 OK\r\n")
    guest = Guest(data, argv=["file_server", str(port), count, "/"], root=FS_SITE)
    guest.start()
    assert guest.waiting_in_accept, unmodelled(guest)
    assert [guest.request(request) for request in FS_REQUESTS] == native_responses_
    assert guest.exited and guest.exit_status == 0


@native
@pytest.mark.native
@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_paths_resolve_as_in_a_chroot(tmp_path, libc):
    """fs_probe.c's open, openat, stat, lstat, readlink, access, chdir, getdents64, mmap,
    lseek, pread64 and sendfile on paths in and out of the tree, chroot'ed natively."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root, _secret = fs_tree(tmp_path)
    build64(libc, "fs_probe", root)
    guest = Guest((root / "fs_probe").read_bytes(), argv=["/fs_probe", *FS_PROBES], root=root,
                  exe_path="/fs_probe")
    assert guest.start().reason == "exited", unmodelled(guest)
    assert guest.stdout == fs_chrooted(root, FS_PROBES)
    assert b"SECRET" not in guest.stdout
