"""socketpair(2) for AF_UNIX SOCK_STREAM and the calls a connected pair answers (issue 10,
item 2), natively and in the harness (harness/kernel/unix.py)."""

from __future__ import annotations

import re
import subprocess

from cprograms import build
from harness import Guest
from harness import linux as L
from harness.kernel.unix import UNIX_CAPACITY, UnixSocket
from harness.net import WOULD_BLOCK
from support import i386_strace


def test_socketpair_as_natively(tmp_path):
    build("glibc", "socketpair", tmp_path)
    native = subprocess.run([str(tmp_path / "socketpair")], capture_output=True, timeout=30)
    guest = Guest(build("glibc", "socketpair"))
    assert guest.run().reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)
    assert guest.kernel.unsupported == []
    assert b"unix = 0 [3 4]" in native.stdout


_CALLS = re.compile(r"(socketpair|getsockname|getpeername|getsockopt|setsockopt|shutdown|"
                    r"sendto|recvfrom|listen|accept4|connect|poll|--- SIGPIPE)\b")


def _socket_lines(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = re.sub(r"^\d+ +", "", line.strip())
        if _CALLS.match(line):
            line = re.sub(r"\b(si_)?pid=\d+", "pid=PID", line)
            out.append(re.sub(r"0xff[0-9a-f]{6}", "STACK", line))  # no ASLR asked for
    return out


def test_socketpair_prints_as_strace_prints_it(tmp_path):
    strace = i386_strace()
    build("glibc", "socketpair", tmp_path)
    log = tmp_path / "native.log"
    subprocess.run([strace, "-o", str(log), str(tmp_path / "socketpair")],
                   capture_output=True, timeout=30, check=True)
    lines: list[str] = []
    Guest(build("glibc", "socketpair"), strace=lines.append).run()
    native = _socket_lines(log.read_text().splitlines())
    assert "socketpair(AF_UNIX, SOCK_STREAM, 0, [3, 4]) = 0" in [
        re.sub(r"\s+", " ", x) for x in native]
    assert _socket_lines(lines) == native


def test_a_full_pair_makes_a_blocking_writer_wait_and_carry_on():
    a, b = UnixSocket.pair(False, (1, 2, 3))
    data = bytes(UNIX_CAPACITY + 10)
    assert a.write(data) is WOULD_BLOCK and a.wdone == UNIX_CAPACITY
    assert not a.poll() & L.POLLOUT  # more than a quarter of the buffer in flight
    assert b.recv(UNIX_CAPACITY) == bytes(UNIX_CAPACITY)
    assert a.write(data) == len(data) and a.wdone == 0
    assert b.recv(100, L.MSG_WAITALL) is WOULD_BLOCK  # 10 bytes are not 100
    b.nonblock = True
    assert a.send(bytes(UNIX_CAPACITY), L.MSG_DONTWAIT) == UNIX_CAPACITY - 10
    assert a.send(b"x", L.MSG_DONTWAIT) == -L.EAGAIN


def test_a_child_asleep_in_read_on_its_end_wakes_when_the_parent_writes(tmp_path):
    build("glibc", "pair_fork", tmp_path)
    native = subprocess.run([str(tmp_path / "pair_fork")], capture_output=True, timeout=30)
    guest = Guest(build("glibc", "pair_fork"))
    assert guest.run().reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)
    assert native.stdout == b"parent read 4 'pong', then 0; child exited 0\n"
