"""harness/trace.py: strace's format, judged by the real strace; capstone listings.

The differential tests run each program twice under ``/usr/bin/strace``: once with
``-n -X raw -e raw=all``, which prints every syscall's number and raw argument values, and
once with the default options.  Each raw line is fed to trace.py together with the guest's
memory, and what comes out must equal the default line: the real tool is the judge, and no
expected line is written by hand.  Guest memory is rebuilt from the ELF (addresses are
static), from what the program read or dumped, and, for a socketcall, from the argument
words strace shows.  The unit tests further down pin the rules that hold everywhere.
"""

from __future__ import annotations

import ctypes
import os
import re
import socket
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import linux as L
from harness import trace
from harness.elf import load
from support import (FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port, i386_ld, i386_strace,
                     missing, nasm, socketcall_server)

PROGRAMS = FIXTURES / "programs"
RUN_TIMEOUT = 20.0
#: Below vm.mmap_min_addr, so no real program maps it: where the tests put the argument
#: array of a socketcall, whose words strace prints in place of the pointer.
SCRATCH = 0x1000

ERRNO_BY_NAME = {name: errno for errno, name in {**L.ERRNO_NAMES, **L.KERNEL_ERRNO_NAMES}.items()}
SIGNAL_BY_NAME = {name: signo for signo, name in L.SIGNAL_NAMES.items()}
SOCKETCALL_BY_NAME = {name: call for call, name in L.SOCKETCALL_NAMES.items()}


# --- running strace -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _strace_problem() -> str | None:
    """Why the strace here is not one to judge by (not 6.x), or None.  Checked once per worker;
    support.i386_strace has already checked that it traces an i386 program."""
    version = subprocess.run([i386_strace(), "-V"], capture_output=True, text=True, timeout=10)
    match = re.search(r"version (\d+)\.", version.stdout)
    if not match or int(match.group(1)) < 6:
        return f"found {version.stdout[:40]!r}"
    return None


@pytest.fixture
def strace_ok() -> None:
    if not NATIVE:
        pytest.skip(NATIVE_REASON + "; the strace comparison needs x86 Linux and strace")
    i386_strace()
    problem = _strace_problem()
    if problem:
        missing("strace 6.x (the format trace.py ports)", f"apt-get install strace ({problem})")


ADDR_NO_RANDOMIZE = 0x0040000  # include/uapi/linux/personality.h


def _in_child() -> None:
    """Runs in the forked child before strace: no core files from the faulting programs, and
    no address randomisation (setarch -R), so brk returns the same address in both runs."""
    import resource  # POSIX only, like every test that forks a traced program

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    ctypes.CDLL(None, use_errno=True).personality(ADDR_NO_RANDOMIZE)


def strace_command(out: Path, raw: bool, argv: list[str]) -> list[str]:
    options = ["-n", "-X", "raw", "-e", "raw=all"] if raw else []
    return [i386_strace(), "-o", str(out), *options, *argv]


def read_log(path: Path) -> list[str]:
    return [line for line in path.read_text("utf-8", "backslashreplace").splitlines()
            if "runs in 32 bit mode" not in line]


def run_twice(argv: list[str], tmp: Path, stdin: bytes = b"") -> tuple[list[str], list[str], bytes]:
    """The default log, the raw log, and the stdout of the default run.  Both runs get the same
    stdin and a pipe for stdout: writing to /dev/null would not even read the buffer, so a
    bad pointer would fail in one run and not in the other."""
    logs, stdout = [], b""
    for raw in (False, True):
        out = tmp / ("raw.log" if raw else "default.log")
        proc = subprocess.run(strace_command(out, raw, argv), input=stdin, capture_output=True,
                              timeout=RUN_TIMEOUT, preexec_fn=_in_child)
        if not raw:
            stdout = proc.stdout
        logs.append(read_log(out))
    return logs[0], logs[1], stdout


# --- reading the raw log --------------------------------------------------------------------

_RAW_CALL = re.compile(r"^\[\s*(\d+)\] (\w+)\((.*)\)\s+= (.*)$")
_RAW_EVENT = re.compile(r"^\[\s*\d+\] ((?:\+\+\+|---) .*)$")


@dataclass
class Call:
    nr: int
    name: str
    args: tuple[int, ...]
    ret: int | None


def parse_ret(text: str) -> int | None:
    if text == "?":
        return None
    match = re.match(r"-1 (E\w+) \(", text)
    if match:
        return -ERRNO_BY_NAME[match.group(1)]
    match = re.match(r"-1 \(errno (\d+)\)", text)
    if match:
        return -int(match.group(1))
    return int(text, 0)


def parse_raw(line: str) -> Call | str:
    """A raw syscall line as a Call, or an event line (+++ / ---) as its text."""
    match = _RAW_CALL.match(line)
    if match:
        nr, name, args, ret = match.groups()
        values = tuple(int(a, 0) for a in args.split(", ")) if args else ()
        return Call(int(nr), name, values, parse_ret(ret))
    match = _RAW_EVENT.match(line)
    assert match, f"unexpected raw strace line: {line!r}"
    return match.group(1)


def render_event(raw: str) -> str:
    """The +++ and --- lines through trace.py, from the raw run's numbers."""
    match = re.fullmatch(r"\+\+\+ exited with (\d+) \+\+\+", raw)
    if match:
        return trace.exit_line(int(match.group(1)))
    match = re.fullmatch(r"\+\+\+ killed by (\w+) (\(core dumped\) )?\+\+\+", raw)
    if match:
        return trace.killed_line(SIGNAL_BY_NAME[match.group(1)], bool(match.group(2)))
    match = re.fullmatch(r"--- \w+ \{(.*)\} ---", raw)
    assert match, f"unexpected event line: {raw!r}"
    fields = dict(item.split("=", 1) for item in match.group(1).split(", "))
    code = int(fields["si_code"], 0)
    return trace.signal_line(
        int(fields["si_signo"]), code - (1 << 32) if code >= 1 << 31 else code,
        0 if fields.get("si_addr", "NULL") == "NULL" else int(fields["si_addr"], 0),
        pid=int(fields.get("si_pid", 0)), uid=int(fields.get("si_uid", 0)))


# --- guest memory ---------------------------------------------------------------------------


class GuestMemory:
    """Flat regions of guest memory, read the way the harness's peek reads: whole or None."""

    def __init__(self, regions: list[tuple[int, bytearray]] | None = None) -> None:
        self.regions = regions or []

    @classmethod
    def of(cls, elf: bytes) -> GuestMemory:
        image = load(elf)
        memory = cls([(m.start, bytearray(m.data.ljust(m.size, b"\0"))) for m in image.mappings])
        memory.regions.append((SCRATCH, bytearray(64)))
        return memory

    def copy(self) -> GuestMemory:
        return GuestMemory([(start, bytearray(data)) for start, data in self.regions])

    def write(self, address: int, data: bytes) -> None:
        for start, region in self.regions:
            if start <= address and address + len(data) <= start + len(region):
                region[address - start : address - start + len(data)] = data
                return
        raise AssertionError(f"{address:#x} is not mapped in the rebuilt guest memory")

    def read(self, address: int, size: int) -> bytes | None:
        for start, region in self.regions:
            if start <= address and address + size <= start + len(region):
                return bytes(region[address - start : address - start + size])
        return None


EntryValues = Callable[[Call], dict[int, int]]


def render(call: Call, after: GuestMemory, entry_values: EntryValues | None = None) -> str:
    """trace.py's line for a raw call: entry from memory as before the call, exit from after."""
    nr, args = call.nr, call.args
    if nr == L.SYS_socketcall and call.name != "socketcall":
        after.write(SCRATCH, struct.pack(f"<{len(args)}I", *args))
        args = (SOCKETCALL_BY_NAME[call.name], SCRATCH)
    before = after
    if entry_values is not None and (values := entry_values(call)):
        before = after.copy()
        for address, value in values.items():
            before.write(address, struct.pack("<i", value))
    pending = trace.syscall_enter(nr, args, before.read)
    return trace.syscall_exit(pending, call.ret, after.read)


def assert_lines_equal(default: list[str], raw: list[str], memory: GuestMemory,
                       entry_values: EntryValues | None = None) -> None:
    """Every line trace.py makes from the raw run equals the default run's line; the
    failure lists each disagreement with both lines.  execve (the tracer starting the
    program, never a guest syscall) is left out."""
    assert default[0].startswith("execve(") and "execve(" in raw[0], (default[:1], raw[:1])
    default, raw = default[1:], raw[1:]
    assert len(default) == len(raw), "the two strace runs differ:\n" + "\n".join(default)
    found = []
    for want, line in zip(default, raw):
        parsed = parse_raw(line)
        got = render_event(parsed) if isinstance(parsed, str) else render(parsed, memory,
                                                                          entry_values)
        if got != want:
            found.append(f"strace:   {want}\ntrace.py: {got}")
    assert not found, f"{len(found)} of {len(default)} lines differ:\n\n" + "\n\n".join(found)


# --- the differential tests -----------------------------------------------------------------


@pytest.mark.native
@pytest.mark.parametrize("name, status_line", [
    ("hello", "+++ exited with 0 +++"),
    ("exit42", "+++ exited with 42 +++"),
    ("segfault", "+++ killed by SIGSEGV +++"),
    ("hello_c", "+++ exited with 0 +++"),
])
def test_fixture_program_lines_equal_strace(strace_ok, tmp_path, name, status_line):
    elf = PROGRAMS / f"{name}.elf"
    default, raw, _stdout = run_twice([str(elf)], tmp_path)
    assert default[-1] == status_line
    assert_lines_equal(default, raw, GuestMemory.of(elf.read_bytes()))


ZOO_ASM = r"""
; zoo.asm - one of each syscall shape harness/trace.py formats, for comparison with strace.
; Every buffer is distinct, so the data dumped at the end is what each call left there.
BITS 32

%macro sys 1-7
        mov     eax, %1
%if %0 > 1
        mov     ebx, %2
%endif
%if %0 > 2
        mov     ecx, %3
%endif
%if %0 > 3
        mov     edx, %4
%endif
%if %0 > 4
        mov     esi, %5
%endif
%if %0 > 5
        mov     edi, %6
%endif
%if %0 > 6
        mov     ebp, %7
%endif
        int     0x80
%endmacro

section .text
global _start
handler:
        ret
_start:
        sys 45, 0                                   ; brk(NULL)
        sys 48, 13, 1                               ; signal(SIGPIPE, SIG_IGN)
        sys 48, 13, 0                               ; signal(SIGPIPE, SIG_DFL)
        sys 174, 2, act, oldact, 8                  ; rt_sigaction(SIGINT, &act, &oldact, 8)
        sys 174, 10, 0, oldact2, 8
        sys 174, 2, 0, oldact3, 8
        sys 174, 2, act, 0, 7                       ; EINVAL: sigsetsize
        sys 175, 0, set, oldset, 8                  ; rt_sigprocmask(SIG_BLOCK, ...)
        sys 175, 1, 0, oldset2, 8
        sys 175, 2, empty, 0, 8
        sys 175, 0, set, 0, 4                       ; EINVAL: sigsetsize
        sys 243, desc                               ; set_thread_area: entry_number -1 -> 12
        sys 359, 2, 0x80801, 6                      ; socket(INET, STREAM|CLOEXEC|NONBLOCK, TCP)
        sys 366, 3, 1, 2, one, 4                    ; setsockopt(SO_REUSEADDR)
        sys 366, 3, 6, 1, one, 4                    ; setsockopt(TCP_NODELAY)
        sys 366, 3, 1, 13, linger, 8                ; setsockopt(SO_LINGER)
        sys 366, 3, 6, 13, cong, 5                  ; setsockopt(TCP_CONGESTION, "cubic")
        sys 365, 3, 1, 3, optval1, optlen1          ; getsockopt(SO_TYPE)
        sys 365, 3, 1, 13, optval2, optlen2         ; getsockopt(SO_LINGER)
        sys 365, 3, 1, 4, optval3, optlen3          ; getsockopt(SO_ERROR)
        sys 365, 3, 6, 1, optval4, optlen4          ; getsockopt(TCP_NODELAY): [16 => 4]
        sys 361, 3, addr, 16                        ; bind(127.0.0.1:0)
        sys 361, 3, unix, 9                         ; EINVAL: already bound
        sys 361, 3, 0x10, 16                        ; EFAULT
        sys 361, 3, addr, 1                         ; EINVAL: too short
        sys 367, 3, gsn, gsnlen                     ; getsockname: [32 => 16]
        sys 363, 3, 5                               ; listen
        sys 364, 3, 0, 0, 0x80000                   ; accept4: EAGAIN, the socket is non-blocking
        sys 102, 1, sc_socket                       ; socketcall(SYS_SOCKET) = 4
        sys 102, 3, sc_connect                      ; socketcall(SYS_CONNECT) to gsn
        sys 364, 3, peer, peerlen, 0                ; accept4 = 5
        sys 369, 4, ping, 5, 0x4000, 0, 0           ; sendto(MSG_NOSIGNAL)
        sys 371, 5, rbuf, 64, 0, from, fromlen      ; recvfrom: TCP leaves from empty, [16 => 0]
        sys 102, 9, sc_send                         ; socketcall(SYS_SEND)
        sys 102, 10, sc_recv                        ; socketcall(SYS_RECV, MSG_WAITALL)
        sys 373, 4, 1                               ; shutdown(SHUT_WR)
        sys 102, 10, sc_recv_eof                    ; recv = 0
        sys 102, 7, sc_getpeername
        sys 102, 99, sc_bad                         ; socketcall(99, ...): EINVAL
        sys 102, 1, 0x10                            ; socketcall(SYS_SOCKET, 0x10): EFAULT
        sys 363, 99, 1                              ; listen: EBADF
        sys 3, 0, inbuf, 100                        ; read the test's bytes from stdin
        mov     edx, eax
        sys 4, 1, inbuf                             ; write them back
        sys 4, 1, 0x10, 5                           ; EFAULT
        sys 4, 1, inbuf, 0
        sys 3, 3, inbuf2, 10                        ; ENOTCONN: a listening socket
        sys 499, 1, 2, 3, 4, 5, 6                   ; no such syscall
        sys 222, 7                                  ; a hole in the table
        sys 199                                     ; getuid32: known, not decoded by trace.py
        sys 6, 5
        sys 6, 4
        sys 6, 3
        sys 6, 3                                    ; EBADF
        sys 4, 1, dump_start, dump_end - dump_start
        sys 252, 3

section .data
dump_start:
head:           db "the zoo's data, as it ends up", 0, 0, 0
act:            dd handler, 0x14000000, handler, 1 << 14, 0
oldact:         times 20 db 0
oldact2:        times 20 db 0
oldact3:        times 20 db 0
set:            dd 0xfffffffe, 0xffffffff
empty:          dd 0, 0
oldset:         dd 0, 0
oldset2:        dd 0, 0
desc:           dd -1, 0, 0xfffff, 0x51
one:            dd 1
linger:         dd 1, 0
cong:           db "cubic"
optval1:        dd 0
optlen1:        dd 4
optval2:        dd 0, 0
optlen2:        dd 8
optval3:        dd 0
optlen3:        dd 4
optval4:        dd 0, 0, 0, 0
optlen4:        dd 16
addr:           dw 2
                db 0, 0, 127, 0, 0, 1
                times 8 db 0
unix:           dw 1
                db "/tmp/x", 0
gsn:            times 32 db 0
gsnlen:         dd 32
sc_socket:      dd 2, 1, 0
sc_connect:     dd 4, gsn, 16
peer:           times 16 db 0
peerlen:        dd 16
ping:           db "p", 0, "7", 27, "g"
rbuf:           times 64 db 0
from:           times 16 db 0
fromlen:        dd 16
sc_send:        dd 5, pong, 4, 0
pong:           db "pong"
sc_recv:        dd 4, rbuf2, 4, 0x100
rbuf2:          times 64 db 0
sc_recv_eof:    dd 5, rbuf3, 64, 0
rbuf3:          times 64 db 0
sc_getpeername: dd 5, pn, pnlen
pn:             times 16 db 0
pnlen:          dd 16
sc_bad:         dd 0, 0, 0
inbuf:          times 100 db 0
inbuf2:         times 10 db 0
dump_end:

section .note.GNU-stack noalloc noexec nowrite progbits
"""

#: What the zoo reads from stdin: every kind of byte strace escapes differently, and more
#: than the 32 it shows.
ZOO_INPUT = b'GET / HTTP/1.1\r\nHost: x\r\n\t"q"\\ \x00\x01\x7f\x80\xff\x1b[0m 07\x0b\x0c\n'


def zoo_entry_values(call: Call) -> dict[int, int]:
    """The value-result fields the kernel rewrites, with the values zoo.asm gives them
    before the call; everywhere else memory before a call equals the final dump."""
    if call.name == "set_thread_area":
        return {call.args[0]: -1}
    if call.name == "getsockname":
        return {call.args[2]: 32}
    if call.name == "recvfrom":
        return {call.args[5]: 16}
    if call.name == "getsockopt" and call.args[2] == L.TCP_NODELAY:
        return {call.args[4]: 16}
    return {}


@pytest.mark.native
def test_syscall_zoo_lines_equal_strace(strace_ok, tmp_path):
    """Fifty-odd syscall shapes: value-result lengths, signals, masks, socketcall, errors,
    bad pointers, truncated strings, unknown numbers."""
    source = tmp_path / "zoo.asm"
    source.write_text(ZOO_ASM)
    subprocess.run([nasm(), "-f", "elf32", "-o", str(tmp_path / "zoo.o"), str(source)],
                   check=True, timeout=RUN_TIMEOUT)
    elf = tmp_path / "zoo.elf"
    subprocess.run([i386_ld(), "-m", "elf_i386", "-o", str(elf), str(tmp_path / "zoo.o")],
                   check=True, timeout=RUN_TIMEOUT)
    default, raw, stdout = run_twice([str(elf)], tmp_path, stdin=ZOO_INPUT)
    assert len(default) > 55 and default[-1] == "+++ exited with 3 +++"

    dump = parse_raw(raw[-3])
    assert isinstance(dump, Call) and dump.name == "write"
    assert stdout == ZOO_INPUT + stdout[len(ZOO_INPUT):]
    memory = GuestMemory.of(elf.read_bytes())
    memory.write(dump.args[1], stdout[-dump.args[2]:])
    assert_lines_equal(default, raw, memory, zoo_entry_values)


SERVER_REQUEST = (b"GET /zoo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                  b"X-Odd: \x01\x7f\t\"quoted\" back\\slash \xff\r\n\r\n")


def serve_one_request(tmp: Path, raw: bool, program: Path, port: int) -> list[str]:
    """Run the server under strace, send one request once it listens, wait until it is back
    in accept, then end it with SIGTERM from this process (so si_pid is the same in both
    runs).  Every process started here is killed and reaped before returning."""
    out = tmp / ("raw.log" if raw else "default.log")
    proc = subprocess.Popen(strace_command(out, raw, [str(program)]),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=_in_child)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client = socket.create_connection((LOOPBACK, port), timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"socketcall_server.elf did not listen on {port}: "
                                f"{out.read_text() if out.exists() else proc.returncode}")
                time.sleep(0.02)
        with client:
            client.sendall(SERVER_REQUEST)
            while client.recv(65536):
                pass
        while out.read_text().count("accept(") < 2:
            assert time.monotonic() < deadline, "the server did not come back to accept"
            time.sleep(0.02)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert children, "strace has no tracee"
        os.kill(int(children[0]), 15)
        proc.wait(timeout=RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=RUN_TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    return read_log(out)


@pytest.mark.native
def test_socketcall_server_lines_equal_strace(strace_ok, tmp_path):
    """strace shows each socketcall as the call it stands for; so must trace.py, reading the
    argument array from guest memory.  Also the read buffer, the interrupted accept and the
    SIGTERM that ends the server."""
    port = free_port()
    data = socketcall_server(port)
    program = tmp_path / "socketcall_server.elf"
    program.write_bytes(data)
    program.chmod(0o755)
    default = serve_one_request(tmp_path, False, program, port)
    raw = serve_one_request(tmp_path, True, program, port)
    names = [re.split(r"[({]", line)[0] for line in default]
    raw_names = [re.split(r"[({]", re.sub(r"^\[\s*\d+\] ", "", line))[0] for line in raw]
    assert names == raw_names, "the two runs took different paths"
    assert f"bind(3, {{sa_family=AF_INET, sin_port=htons({port}), " \
           "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0" in default

    memory = GuestMemory.of(data)
    received = 0
    for line in raw:
        call = parse_raw(line)
        if isinstance(call, Call) and call.name == "read" and call.ret and call.ret > 0:
            memory.write(call.args[1], SERVER_REQUEST[received : received + call.ret])
            received += call.ret
    assert received == len(SERVER_REQUEST)
    assert_lines_equal(default, raw, memory)


# --- the rules, everywhere ------------------------------------------------------------------


def memory_at(base: int, data: bytes) -> Callable[[int, int], bytes | None]:
    def read(address: int, size: int) -> bytes | None:
        if base <= address and address + size <= base + len(data):
            return data[address - base : address - base + size]
        return None
    return read


NOTHING = memory_at(0, b"")


def test_results_align_at_column_40_and_long_calls_take_one_space():
    assert trace.strace_line(L.SYS_exit_group, (1,), None, NOTHING) == \
        "exit_group(1)                           = ?"
    assert trace.strace_line(L.SYS_close, (4,), 0, NOTHING).index("= 0") == trace.COLUMN
    line = trace.strace_line(L.SYS_accept4, (3, 0, 0, 0), 4, NOTHING)
    assert line == "accept4(3, NULL, NULL, 0)               = 4"


def test_bind_prints_the_sockaddr_from_guest_memory():
    sockaddr = struct.pack("<H", L.AF_INET) + struct.pack(">H", 8080) + bytes([127, 0, 0, 1]) \
        + bytes(8)
    line = trace.strace_line(L.SYS_bind, (3, 0x804A000, 16), 0, memory_at(0x804A000, sockaddr))
    assert line == ('bind(3, {sa_family=AF_INET, sin_port=htons(8080), '
                    'sin_addr=inet_addr("127.0.0.1")}, 16) = 0')


def test_errors_print_name_and_glibc_text():
    line = trace.strace_line(L.SYS_listen, (3, 16), -L.EADDRINUSE, NOTHING)
    assert line.endswith("= -1 EADDRINUSE (Address already in use)")
    assert trace.strace_line(L.SYS_close, (3,), -200, NOTHING).endswith("= -1 (errno 200)")
    assert trace.strace_line(L.SYS_read, (3, 0x1000, 10), -L.ERESTARTSYS, NOTHING).endswith(
        "= ? ERESTARTSYS (To be restarted if SA_RESTART is set)")


def test_a_bad_pointer_prints_as_its_address():
    assert trace.strace_line(L.SYS_write, (1, 0x1234, 5), -L.EFAULT, NOTHING).startswith(
        "write(1, 0x1234, 5)")
    assert trace.strace_line(L.SYS_write, (1, 0, 5), -L.EFAULT, NOTHING).startswith(
        "write(1, NULL, 5)")


def test_buffers_show_32_bytes_then_an_ellipsis():
    data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    line = trace.strace_line(L.SYS_read, (4, 0x2000, 1024), len(data), memory_at(0x2000, data))
    assert line == 'read(4, "GET / HTTP/1.1\\r\\nHost: 127.0.0.1:"..., 1024) = 40'
    short = trace.strace_line(L.SYS_write, (1, 0x2000, 5), 5, memory_at(0x2000, data))
    assert short.startswith('write(1, "GET /", 5)')


def test_quote_uses_named_then_shortest_octal_escapes():
    assert trace.quote(b'a\t\n\r\v\f"\\') == '"a\\t\\n\\r\\v\\f\\"\\\\"'
    assert trace.quote(b"\x00x\x1b\xff") == '"\\0x\\33\\377"'
    assert trace.quote(b"\x007\x01") == '"\\0007\\1"'  # a digit after: three digits
    assert trace.quote(b"\x80", force_hex=True) == '"\\x80"'


def unquote(text: str) -> bytes:
    """Read a string back the way a C compiler would read strace's escapes."""
    assert text[0] == text[-1] == '"'
    body, out, i = text[1:-1], bytearray(), 0
    named = {"t": 9, "n": 10, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92}
    while i < len(body):
        if body[i] != "\\":
            out.append(ord(body[i]))
            i += 1
        elif body[i + 1] in named:
            out.append(named[body[i + 1]])
            i += 2
        else:
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :]).group(0)
            out.append(int(digits, 8))
            i += 1 + len(digits)
    return bytes(out)


@given(st.binary(max_size=64))
def test_quote_is_unambiguous(data):
    assert unquote(trace.quote(data)) == data


def test_socketcall_is_shown_as_the_call_it_multiplexes():
    words = struct.pack("<3I", 3, 0, 0)
    line = trace.strace_line(L.SYS_socketcall, (L.SOCKETCALL_ACCEPT, 0x3000), 4,
                             memory_at(0x3000, words))
    assert line == "accept(3, NULL, NULL)                   = 4"
    socket_words = struct.pack("<3I", L.AF_INET, L.SOCK_STREAM, 0)
    assert trace.strace_line(L.SYS_socketcall, (L.SOCKETCALL_SOCKET, 0x3000), 3,
                             memory_at(0x3000, socket_words)) == \
        "socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 3"
    unreadable = trace.strace_line(L.SYS_socketcall, (L.SOCKETCALL_ACCEPT, 0x10), -L.EFAULT,
                                   NOTHING)
    assert unreadable.startswith("socketcall(SYS_ACCEPT, 0x10)")


def test_unknown_numbers_print_like_strace_stub():
    line = trace.strace_line(0x1F3, (1, 2, 3, 0, 0, 0), -L.ENOSYS, NOTHING)
    assert line == "syscall_0x1f3(0x1, 0x2, 0x3, 0, 0, 0)   = -1 ENOSYS (Function not implemented)"


def test_memory_before_the_call_is_what_entry_arguments_show():
    """set_thread_area's struct goes in with entry_number -1 and comes out with the slot the
    kernel chose: printed from the two memories, as strace does."""
    desc = struct.pack("<iIII", -1, 0, 0xFFFFF, 0x51)
    pending = trace.syscall_enter(L.SYS_set_thread_area, (0x4000,), memory_at(0x4000, desc))
    after = struct.pack("<iIII", 12, 0, 0xFFFFF, 0x51)
    line = trace.syscall_exit(pending, 0, memory_at(0x4000, after))
    assert line == ("set_thread_area({entry_number=-1, base_addr=00000000, limit=0x0fffff, "
                    "seg_32bit=1, contents=0, read_exec_only=0, limit_in_pages=1, "
                    "seg_not_present=0, useable=1}) = 0 (entry_number=12)")


def test_a_call_that_never_returns_is_unfinished():
    pending = trace.syscall_enter(L.SYS_read, (0, 0x1000, 10), NOTHING)
    assert trace.syscall_exit(pending, None, NOTHING) == \
        "read(0,  <unfinished ...>)              = ?"


def test_process_end_and_signal_lines():
    assert trace.exit_line(1) == "+++ exited with 1 +++"
    assert trace.exit_line(256 + 7) == "+++ exited with 7 +++"
    assert trace.killed_line(L.SIGSEGV) == "+++ killed by SIGSEGV +++"
    assert trace.signal_line(L.SIGSEGV, L.SEGV_MAPERR, 0) == \
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"
    assert trace.signal_line(L.SIGFPE, L.FPE_INTDIV, 0x8048085) == \
        "--- SIGFPE {si_signo=SIGFPE, si_code=FPE_INTDIV, si_addr=0x8048085} ---"
    assert trace.signal_line(L.SIGSEGV, L.SI_KERNEL) == \
        "--- SIGSEGV {si_signo=SIGSEGV, si_code=SI_KERNEL, si_addr=NULL} ---"


FAULTS_ASM = {
    "hlt": "hlt",  # privileged: a general protection fault, SIGSEGV with SI_KERNEL
    "ud2": "ud2",  # SIGILL, ILL_ILLOPN
    "div": "xor ecx, ecx\n        div ecx",  # SIGFPE, FPE_INTDIV
    "rodata": "mov dword [_start], 1",  # writing the text: SEGV_ACCERR
    "int3": "int3",  # SIGTRAP, SI_KERNEL
}


@pytest.mark.native
@pytest.mark.parametrize("name", sorted(FAULTS_ASM))
def test_fault_signal_lines_equal_strace(strace_ok, tmp_path, name):
    """The --- line and the +++ line of each fault the harness turns into a signal."""
    source = tmp_path / f"{name}.asm"
    source.write_text("BITS 32\nsection .text\nglobal _start\n_start:\n"
                      f"        {FAULTS_ASM[name]}\n"
                      "section .note.GNU-stack noalloc noexec nowrite progbits\n")
    subprocess.run([nasm(), "-f", "elf32", "-o", str(tmp_path / "f.o"), str(source)],
                   check=True, timeout=RUN_TIMEOUT)
    elf = tmp_path / f"{name}.elf"
    subprocess.run([i386_ld(), "-m", "elf_i386", "-o", str(elf), str(tmp_path / "f.o")],
                   check=True, timeout=RUN_TIMEOUT)
    default, raw, _stdout = run_twice([str(elf)], tmp_path)
    assert default[-2].startswith("--- SIG") and default[-1].startswith("+++ killed by SIG")
    assert_lines_equal(default, raw, GuestMemory.of(elf.read_bytes()))


# --- capstone ---------------------------------------------------------------------------------


def test_insn_text_is_capstones_text_or_bad():
    assert trace.insn_text(b"\xf7\xd8", 0x8048094) == "neg eax"
    assert trace.insn_text(b"\xc7\x05\x00\x00\x00\x00\xef\xbe\xad\xde", 0) == \
        "mov dword ptr [0], 0xdeadbeef"
    assert trace.insn_text(b"\xff\xff", 0) == "(bad)"
    assert trace.insn_text(b"", 0) == "(bad)"


def test_trace_insn_line_shape_and_one_cached_decoder():
    assert trace.trace_insn(0x8048094, b"\xf7\xd8\x90\x90") == \
        "08048094:  f7d8                  neg eax"
    assert trace.trace_insn(0x10, b"\xff\xff") == "00000010:  ff                    (bad)"
    assert trace._capstone() is trace._capstone()


def test_listing_of_hello_skips_headers_and_marks_the_entry_point():
    image = load((PROGRAMS / "hello.elf").read_bytes())
    text = trace.listing(image)
    lines = text.splitlines()
    assert lines[0] == "; segment 0: 0x08048000-0x080480ad r-x"
    assert lines[1] == "; 0x08048000-0x08048034: ELF header, not code"
    assert lines[2] == "; 0x08048034-0x08048074: program headers (2 x 32 bytes), not code"
    entry = lines.index("; entry point")
    assert lines[entry + 1] == "08048080:  b804000000            mov eax, 4"
    assert "08048094:  cd80                  int 0x80" in lines
    assert text.endswith("\n") and text == trace.listing(image)


def test_listing_covers_every_byte_and_marks_undecodable_ones():
    """Addresses and byte counts of the listed lines tile each segment exactly."""
    for name in ("hello", "hello_c", "socketcall_server", "spin"):
        image = load((PROGRAMS / f"{name}.elf").read_bytes())
        position = None
        for line in trace.listing(image).splitlines():
            if line.startswith("; segment"):
                position = int(line.split()[3].split("-")[0], 16)
            elif line.startswith("; 0x"):
                start, end = (int(x, 16) for x in line[2:].split(":")[0].split("-"))
                assert start == position
                position = end
            elif line and not line.startswith(";"):
                address, code = line.split()[0].rstrip(":"), line.split()[1]
                assert int(address, 16) == position, line
                position += len(code) // 2
    junk = trace.listing(_image_with_code(b"\x90\xff\xff\x90"))
    assert "08048001:  ff                    .byte 0xff" in junk


def _image_with_code(code: bytes):
    from harness.elf import PF_R, PF_X, Image, Segment

    segment = Segment(index=0, vaddr=0x8048000, memsz=len(code), filesz=len(code),
                      offset=0x1000, align=0x1000, flags=PF_R | PF_X, data=code)
    return Image(entry=0x8048000, segments=(segment,), mappings=(), phdr=0, phnum=1, phent=32,
                 stack_executable=False, read_implies_exec=False, brk=0x8049000)
