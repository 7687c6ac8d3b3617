"""Fault injection, receive timeouts and misbehaving clients, on small guest programs.

The programs are written here with our own encoder (tests may join generator and harness;
the harness never imports the generator).  Each does a fixed list of system calls, and the
tests read what every call returned from ``guest.calls``.  Where a real kernel can say what
the right answer is cheaply (a receive timeout), it is asked too.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time

import pytest

from generator.site import Response
from generator import build_server, default_page, http_response
from generator.elf import link
from generator.x86 import EAX, EBP, EBX, ECX, EDI, EDX, ESI, Assembler, dword
from harness import Guest, GuestFault, HarnessError
from harness import linux as L
from harness.kernel import x86_64 as x86_64_table
from harness.faults import INJECTABLE, SHORTABLE, Fault, Faults, FaultSpecError, parse_fault
from harness.kernel import Kernel
from support import FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port

_ARGS = (EBX, ECX, EDX, ESI, EDI, EBP)


class Prog:
    """An assembler with a few conveniences: ``listener``/``conn`` (dword slots for two fds),
    ``buf`` (256 bytes of bss) and ``call(nr, *args)``, which loads ebx, ecx ... in turn
    (None leaves a register as it is) and makes the system call."""

    def __init__(self) -> None:
        self.a = a = Assembler()
        fds = a.reserve(8, "fds")
        self.listener, self.conn = dword[fds], dword[fds + 4]
        self.buf = a.reserve(256, "buf")
        self.start = a.label("_start")
        a.bind(self.start)

    def call(self, nr: int, *args) -> None:
        for reg, value in zip(_ARGS, args):
            if value is not None:
                self.a.mov(reg, value)
        self.a.mov(EAX, nr)
        self.a.int_(0x80)

    def serve(self, *, bind_port: int | None = None,
              listener_timeout: tuple[int, int] | None = None, accept: bool = True) -> None:
        """socket, [setsockopt SO_REUSEADDR, bind 127.0.0.1:port], [SO_RCVTIMEO], listen,
        [accept4 into ``conn``].  Without bind_port, listen picks a port."""
        a = self.a
        self.call(L.SYS_socket, L.AF_INET, L.SOCK_STREAM, 0)
        a.mov(self.listener, EAX)
        if bind_port is not None:
            one = a.data(struct.pack("<i", 1))
            self.call(L.SYS_setsockopt, self.listener, L.SOL_SOCKET, L.SO_REUSEADDR, one, 4)
            addr = a.data(struct.pack("<H", L.AF_INET) + bind_port.to_bytes(2, "big")
                          + bytes([127, 0, 0, 1]) + bytes(8))
            self.call(L.SYS_bind, self.listener, addr, 16)
        if listener_timeout is not None:
            self.set_timeout(self.listener, *listener_timeout)
        self.call(L.SYS_listen, self.listener, 8)
        if accept:
            self.call(L.SYS_accept4, self.listener, 0, 0, 0)
            a.mov(self.conn, EAX)

    def set_timeout(self, fd, sec: int, usec: int = 0) -> None:
        """setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){sec, usec}, 8): the
        i386 option number 20 and two 32-bit fields."""
        tv = self.a.data(struct.pack("<ii", sec, usec))
        self.call(L.SYS_setsockopt, fd, L.SOL_SOCKET, L.SO_RCVTIMEO, tv, 8)

    def exit_with_eax(self) -> bytes:
        self.a.mov(EBX, EAX)
        self.a.mov(EAX, L.SYS_exit)
        self.a.int_(0x80)
        return link(self.a, self.start)


def results(guest: Guest, name: str) -> list[int]:
    return [ret for call, ret in guest.calls if call == name]


def write_n_times(n: int, fd: int = 1) -> bytes:
    p = Prog()
    msg = p.a.data(b"x")
    for _ in range(n):
        p.call(L.SYS_write, fd, msg, 1)
    p.a.xor(EAX, EAX)
    return p.exit_with_eax()


# ---------------------------------------------------------------------- parsing

@pytest.mark.parametrize("text,fault", [
    ("write=EPIPE@1", Fault("write", errno=L.EPIPE, first=1, last=1)),
    ("accept4=EMFILE@2", Fault("accept4", errno=L.EMFILE, first=2, last=2)),
    ("read=EINTR@1", Fault("read", errno=L.EINTR, first=1, last=1)),
    ("read=short:1@*", Fault("read", short=1, first=1, last=None)),
    ("write=short:7@2", Fault("write", short=7, first=2, last=2)),
    ("recv=ECONNRESET@3-5", Fault("recv", errno=L.ECONNRESET, first=3, last=5)),
    ("send=EAGAIN@4-", Fault("send", errno=L.EAGAIN, first=4, last=None)),
    ("recvfrom=EWOULDBLOCK@1", Fault("recvfrom", errno=L.EAGAIN, first=1, last=1)),
    ("  close=eintr@1  ", Fault("close", errno=L.EINTR, first=1, last=1)),
])
def test_good_specs_parse(text, fault):
    assert parse_fault(text) == fault


@pytest.mark.parametrize("text", ["write=EPIPE@1", "read=short:1@*", "recv=ECONNRESET@3-5",
                                  "send=EAGAIN@4-", "accept=EMFILE@2"])
def test_a_spec_prints_back_as_itself(text):
    assert str(parse_fault(text)) == text


@pytest.mark.parametrize("text,words", [
    ("write", "expected NAME=ACTION@WHEN"),
    ("write=EPIPE", "expected NAME=ACTION@WHEN"),
    ("=EPIPE@1", "expected NAME=ACTION@WHEN"),
    ("write=@1", "expected NAME=ACTION@WHEN"),
    ("write=EPIPE@", "expected NAME=ACTION@WHEN"),
    ("wrte=EPIPE@1", "unknown system call 'wrte'"),
    ("unlink=ENOENT@1", "does not model unlink"),
    ("exit=EINTR@1", "exit never returns"),
    ("exit_group=EINTR@1", "exit_group never returns"),
    ("write=EPIPEX@1", "unknown errno 'EPIPEX'"),
    ("write=32@1", "unknown errno '32'"),
    ("write=short:0@1", "at least 1, not '0'"),
    ("write=short:x@1", "at least 1, not 'x'"),
    ("accept4=short:1@1", "not to accept4"),
    ("write=EPIPE@0", "calls count from 1"),
    ("write=EPIPE@x", "bad call count 'x'"),
    ("write=EPIPE@-3", "bad call count '-3'"),
    ("write=EPIPE@5-3", "ends before it starts"),
    ("write=EPIPE@1-2-3", "bad call count '1-2-3'"),
])
def test_bad_specs_say_what_is_wrong_in_one_line(text, words):
    with pytest.raises(FaultSpecError) as info:
        parse_fault(text)
    message = str(info.value)
    assert words in message and "\n" not in message
    assert isinstance(info.value, HarnessError)


def test_injectable_names_are_the_calls_the_kernel_models():
    kernel = Kernel()
    direct = {L.SYSCALL_NAMES[nr] for nr in kernel.table}
    via_socketcall = {L.SOCKETCALL_NAMES[call] for call in kernel.socketcalls}
    x86_64 = {entry.name for entry in x86_64_table.TABLE}  # an x86-64 guest's calls too
    assert INJECTABLE == (direct | via_socketcall | x86_64) - {
        "exit", "exit_group", "socketcall", "sigreturn", "rt_sigreturn"}
    assert {"arch_prctl", "newfstatat"} <= INJECTABLE
    assert SHORTABLE <= INJECTABLE


def test_faults_count_per_name_and_take_the_first_match():
    faults = Faults(["write=EIO@2", parse_fault("write=EPERM@*"), "read=EINTR@1"])
    assert [getattr(faults.check("write"), "errno", 0) for _ in range(3)] == [
        L.EPERM, L.EIO, L.EPERM]
    assert faults.check("close") is None
    assert faults.counts == {"write": 3, "read": 0}
    assert faults.names == {"write", "read"} and bool(faults) and not Faults()


@pytest.mark.parametrize("kwargs", [{}, {"errno": L.EIO, "short": 1}, {"errno": L.EIO, "first": 0}])
def test_a_fault_built_by_hand_is_checked_too(kwargs):
    with pytest.raises(FaultSpecError):
        Fault("write", **kwargs)


def test_a_bad_spec_given_to_a_guest_raises_before_it_runs():
    with pytest.raises(FaultSpecError, match="unknown errno"):
        Guest(write_n_times(1), faults=["write=NOPE@1"])


# ---------------------------------------------------------------------- errno faults

def test_an_injected_errno_is_returned_recorded_and_traced_like_a_real_one():
    lines: list[str] = []
    p = Prog()
    p.call(L.SYS_signal, L.SIGPIPE, L.SIG_IGN)
    msg = p.a.data(b"hello")
    p.call(L.SYS_write, 1, msg, 5)
    p.call(L.SYS_write, 1, msg, 5)
    guest = Guest(p.exit_with_eax(), faults=["write=EPIPE@1"], record=True, strace=lines.append)
    assert guest.start().status == 5
    assert guest.calls[:3] == [("signal", 0), ("write", -L.EPIPE), ("write", 5)]
    assert guest.stdout == b"hello", "the failed write had no effect"
    assert lines[1] == 'write(1, "hello", 5)                    = -1 EPIPE (Broken pipe)'
    # An ignored signal still reaches a tracer (sig_ignored is false for a ptraced task), so
    # strace shows the SIGPIPE before it is dropped.
    assert lines[2] == "--- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=1000, si_uid=0} ---"
    assert lines[3].endswith("= 5")


def test_an_injected_epipe_kills_with_sigpipe_unless_it_is_ignored():
    guest = Guest(write_n_times(2), faults=["write=EPIPE@2"], record=True)
    with pytest.raises(GuestFault) as info:
        guest.start()
    assert info.value.signal == L.SIGPIPE
    assert results(guest, "write") == [1, -L.EPIPE]
    assert guest.stdout == b"x"


@pytest.mark.parametrize("flags,dies", [(0, True), (L.MSG_NOSIGNAL, False)])
def test_an_injected_epipe_on_send_honours_msg_nosignal(flags, dies):
    p = Prog()
    p.serve()
    msg = p.a.data(b"hi")
    p.call(L.SYS_sendto, p.conn, msg, 2, flags, 0, 0)
    guest = Guest(p.exit_with_eax(), faults=["sendto=EPIPE@1"], record=True)
    guest.start()
    client = guest.connect()
    if dies:
        with pytest.raises(GuestFault) as info:
            guest.run()
        assert info.value.signal == L.SIGPIPE
    else:
        assert guest.run().status == -L.EPIPE & 0xFF
    assert results(guest, "sendto") == [-L.EPIPE]
    assert client.recv_all() == b""


def test_an_injected_epipe_on_read_raises_no_signal():
    p = Prog()
    p.call(L.SYS_read, 0, p.buf, 10)
    guest = Guest(p.exit_with_eax(), faults=["read=EPIPE@1"])
    assert guest.start().status == -L.EPIPE & 0xFF


def test_counts_are_per_name_and_one_based_and_ranges_and_star_work():
    p = Prog()
    msg = p.a.data(b"x")
    for _ in range(6):
        p.call(L.SYS_write, 1, msg, 1)
        p.call(L.SYS_close, 99)
    guest = Guest(p.exit_with_eax(), record=True,
                  faults=["write=EIO@2", "write=ENOSPC@4-5", "close=EINTR@*"])
    guest.start()
    assert results(guest, "write") == [1, -L.EIO, 1, -L.ENOSPC, -L.ENOSPC, 1]
    assert results(guest, "close") == [-L.EINTR] * 6
    assert guest.stdout == b"xxx"
    assert guest.kernel.faults.counts == {"write": 6, "close": 6}


def test_an_open_range_lasts_to_the_end():
    guest = Guest(write_n_times(5), record=True, faults=["write=EAGAIN@3-"])
    guest.start()
    assert results(guest, "write") == [1, 1, -L.EAGAIN, -L.EAGAIN, -L.EAGAIN]


def test_calls_through_socketcall_count_under_the_same_name():
    """socket(2) through its own number and through socketcall(SYS_SOCKET): one name."""
    p = Prog()
    a = p.a
    p.call(L.SYS_socket, L.AF_INET, L.SOCK_STREAM, 0)
    args = a.data(struct.pack("<3i", L.AF_INET, L.SOCK_STREAM, 0))
    p.call(L.SYS_socketcall, L.SOCKETCALL_SOCKET, args)
    p.call(L.SYS_socketcall, L.SOCKETCALL_SOCKET, args)
    guest = Guest(p.exit_with_eax(), record=True, faults=["socket=EMFILE@2"])
    guest.start()
    assert results(guest, "socket") == [3, -L.EMFILE, 4]


def test_eintr_on_read_is_retried_by_a_program_that_retries():
    p = Prog()
    a = p.a
    p.serve()
    again = a.label()
    a.bind(again)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    a.cmp(EAX, -L.EINTR)
    a.j("e", again)
    guest = Guest(p.exit_with_eax(), record=True, faults=["read=EINTR@1-2"])
    guest.start()
    guest.connect().send(b"hello")
    assert guest.run().status == 5
    assert results(guest, "read") == [-L.EINTR, -L.EINTR, 5]


# ---------------------------------------------------------------------- short reads and writes

def test_short_reads_and_writes_move_at_most_n_bytes():
    p = Prog()
    p.serve()
    for i in range(3):
        p.call(L.SYS_read, p.conn, p.buf + i, 100)
    p.call(L.SYS_write, p.conn, p.buf, 3)
    p.call(L.SYS_write, p.conn, p.buf, 3)
    guest = Guest(p.exit_with_eax(), record=True, faults=["read=short:1@*", "write=short:2@1"])
    guest.start()
    client = guest.connect()
    client.send(b"hello")
    assert guest.run().status == 3
    assert results(guest, "read") == [1, 1, 1]
    assert results(guest, "write") == [2, 3]
    assert client.recv_all() == b"he" + b"hel"


def test_short_recv_through_socketcall():
    p = Prog()
    p.serve()
    args = p.a.reserve(16)
    p.a.mov(EAX, p.conn)
    p.a.mov(dword[args], EAX)
    p.a.mov(dword[args + 4], p.buf)
    p.a.mov(dword[args + 8], 100)
    p.a.mov(dword[args + 12], 0)
    p.call(L.SYS_socketcall, L.SOCKETCALL_RECV, args)
    guest = Guest(p.exit_with_eax(), record=True, faults=["recv=short:2@1"])
    guest.start()
    guest.connect().send(b"hello")
    assert guest.run().status == 2
    assert results(guest, "recv") == [2]


def test_a_call_that_blocks_counts_once_and_keeps_its_fault():
    """The first read waits for data; resumed, it is still the first read."""
    p = Prog()
    p.serve()
    p.call(L.SYS_read, p.conn, p.buf, 100)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    guest = Guest(p.exit_with_eax(), record=True, faults=["read=short:2@1", "read=EINTR@2"])
    guest.start()
    client = guest.connect()
    assert guest.run().syscall == "read"
    assert guest.run().syscall == "read", "resumed with nothing new: still waiting"
    client.send(b"hello")
    assert guest.run().status == 3
    assert results(guest, "read") == [2, -L.EINTR, 3]
    assert guest.kernel.faults.counts["read"] == 3


# ---------------------------------------------------------------------- the generated server

@pytest.fixture(scope="module")
def site():
    """The server of one page, and what an HTTP/1.1 request that does not ask to close
    gets from it: the kept-alive answer (the server closes once it reads end of file)."""
    response = http_response(default_page())
    kept = Response(response, response.index(b"\r\n\r\n") + 4).sent(keep_alive=True)
    return build_server(response), kept


REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("spec", ["writev=EPIPE@1", "accept4=EMFILE@1", "accept4=EMFILE@2",
                                  "writev=short:7@*", "writev=ECONNRESET@1"])
def test_the_generated_server_survives_and_answers_the_next_request(site, spec):
    program, response = site
    guest = Guest(program, faults=[spec], record=True)
    assert guest.start().syscall == "epoll_wait"
    first = guest.request(REQUEST)
    assert not guest.exited
    assert guest.request(REQUEST) == response
    name, errno_or_short = spec.split("@")[0].split("=")
    if not errno_or_short.startswith("short"):
        assert (name, -getattr(L, errno_or_short)) in guest.calls
    if spec.startswith("writev=short"):
        assert first == response
    elif spec.startswith("writev"):
        assert first == b""


@pytest.mark.parametrize("when", ["before accept", "after sending"])
def test_the_generated_server_survives_a_client_that_resets(site, when):
    program, response = site
    guest = Guest(program)
    guest.start()
    client = guest.connect()
    if when == "after sending":
        client.send(REQUEST)
    client.reset()
    guest.run()
    assert not guest.exited
    assert guest.request(REQUEST) == response


# ---------------------------------------------------------------------- SO_RCVTIMEO

def reader(timeout: tuple[int, int], reads: int = 1) -> bytes:
    """Accept, set SO_RCVTIMEO on the connection, read ``reads`` times, exit(last result)."""
    p = Prog()
    p.serve()
    p.set_timeout(p.conn, *timeout)
    for _ in range(reads):
        p.call(L.SYS_read, p.conn, p.buf, 100)
    return p.exit_with_eax()


def test_a_read_under_so_rcvtimeo_gives_up_with_eagain_after_the_timeout():
    guest = Guest(reader((5, 0)), record=True)
    guest.start()
    guest.connect()
    assert guest.run().syscall == "read"
    assert guest.kernel.timeout_at == 5.0
    assert guest.stall(4.999).reason == "blocked", "not yet: still waiting"
    assert guest.run().reason == "blocked", "running again does not make time pass"
    stop = guest.stall(0.001)
    assert (stop.reason, stop.status) == ("exited", -L.EAGAIN & 0xFF)
    assert results(guest, "read") == [-L.EAGAIN]
    assert ("setsockopt", 0) in guest.calls


def test_each_read_gets_its_own_timeout():
    guest = Guest(reader((5, 0), reads=2), record=True)
    guest.start()
    client = guest.connect()
    guest.run()
    guest.stall(3)
    client.send(b"abc")
    assert guest.run().syscall == "read", "the first read returned; the second waits"
    assert guest.kernel.timeout_at == 8.0
    assert guest.stall(4.5).reason == "blocked"
    assert guest.stall(0.5).status == -L.EAGAIN & 0xFF
    assert results(guest, "read") == [3, -L.EAGAIN]


def test_microseconds_count():
    guest = Guest(reader((0, 250_000)))
    guest.start()
    guest.connect()
    guest.run()
    assert guest.stall(0.2).reason == "blocked"
    assert guest.stall(0.05).status == -L.EAGAIN & 0xFF


def test_small_steps_add_up_to_the_timeout():
    guest = Guest(reader((1, 0)))
    guest.start()
    guest.connect()
    guest.run()
    for _ in range(9):
        assert guest.stall(0.1).reason == "blocked"
    assert guest.stall(0.1).status == -L.EAGAIN & 0xFF, "0.1 * 10 is 0.9999999999999999"


def test_a_zero_timeout_is_no_timeout():
    guest = Guest(reader((0, 0)))
    guest.start()
    guest.connect()
    guest.run()
    assert guest.kernel.timeout_at is None
    assert guest.stall(1e6).reason == "blocked"


def test_a_negative_timeout_never_waits():
    guest = Guest(reader((-1, 0)))
    guest.start()
    guest.connect()
    assert guest.run().status == -L.EAGAIN & 0xFF


def test_data_or_end_of_file_before_the_timeout_is_returned():
    guest = Guest(reader((5, 0)), record=True)
    guest.start()
    client = guest.connect()
    guest.run()
    client.shutdown_write()
    assert guest.stall(4).status == 0


def test_accept_under_so_rcvtimeo_gives_up_with_eagain():
    p = Prog()
    p.serve(listener_timeout=(2, 500_000))
    guest = Guest(p.exit_with_eax(), record=True)
    assert guest.start().syscall == "accept4"
    assert guest.stall(2.4).reason == "blocked"
    assert guest.stall(0.1).status == -L.EAGAIN & 0xFF


def test_an_accepted_socket_inherits_the_listeners_timeout():
    p = Prog()
    p.serve(listener_timeout=(1, 0))
    p.call(L.SYS_read, p.conn, p.buf, 100)
    guest = Guest(p.exit_with_eax())
    guest.start()
    guest.connect()
    assert guest.run().syscall == "read"
    assert guest.stall(1).status == -L.EAGAIN & 0xFF


def test_msg_waitall_that_times_out_returns_what_it_has():
    p = Prog()
    p.serve()
    p.set_timeout(p.conn, 1)
    p.call(L.SYS_recvfrom, p.conn, p.buf, 10, L.MSG_WAITALL, 0, 0)
    guest = Guest(p.exit_with_eax())
    guest.start()
    guest.connect().send(b"abc")
    assert guest.run().syscall == "recvfrom", "MSG_WAITALL waits for all 10 bytes"
    assert guest.stall(1).status == 3


def test_a_timed_out_call_and_a_fault_on_it_count_once():
    guest = Guest(reader((1, 0), reads=2), record=True, faults=["read=EINTR@2"])
    guest.start()
    guest.connect()
    guest.run()
    assert guest.stall(1).status == -L.EINTR & 0xFF
    assert results(guest, "read") == [-L.EAGAIN, -L.EINTR]


@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("where,timeout", [("read", (0, 200_000)), ("accept4", (0, 200_000)),
                                           ("inherited", (1, 0))])
def test_the_real_kernel_agrees_on_so_rcvtimeo(where, timeout, tmp_path):
    """On Linux a read with no data, an accept with no client, and a read on a socket
    accepted from a listener with the timeout all return EAGAIN after the timeout (the
    program exits with 256 - 11); the emulator says the same after as much virtual time.
    ("inherited" waits a whole second so that the real client surely connects before the
    listener's own timeout ends the accept.)"""
    port = free_port()
    p = Prog()
    if where == "read":
        p.serve(bind_port=port)
        p.set_timeout(p.conn, *timeout)
    else:
        p.serve(bind_port=port, listener_timeout=timeout, accept=where == "inherited")
        if where == "accept4":
            p.call(L.SYS_accept4, p.listener, 0, 0, 0)
    if where != "accept4":
        p.call(L.SYS_read, p.conn, p.buf, 100)
    program = p.exit_with_eax()
    seconds = timeout[0] + timeout[1] / 1e6

    path = tmp_path / "t.elf"
    path.write_bytes(program)
    path.chmod(0o755)
    proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL)
    conn = None
    try:
        if where != "accept4":
            deadline = time.monotonic() + 5
            while conn is None:
                try:
                    conn = socket.create_connection((LOOPBACK, port), timeout=1)
                except OSError:
                    assert time.monotonic() < deadline, "the program never listened"
                    time.sleep(0.01)
        assert proc.wait(timeout=10) == -L.EAGAIN & 0xFF
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if conn is not None:
            conn.close()

    guest = Guest(program)
    guest.start()
    if where != "accept4":
        guest.connect()
        assert guest.run().syscall == "read"
    assert guest.stall(seconds * 0.9).reason == "blocked"
    assert guest.stall(seconds * 0.1).status == -L.EAGAIN & 0xFF


# ---------------------------------------------------------------------- shutdown and drain

def drainer() -> bytes:
    """Read a request, answer, shutdown(SHUT_WR), read until end of file (or the 2 s
    timeout), close, exit(0): what a server does so that its client never gets a reset."""
    p = Prog()
    a = p.a
    p.serve()
    p.set_timeout(p.conn, 2)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    answer = a.data(b"answer")
    p.call(L.SYS_write, p.conn, answer, 6)
    p.call(L.SYS_shutdown, p.conn, L.SHUT_WR)
    drain = a.label()
    a.bind(drain)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    a.test(EAX, EAX)
    a.j("g", drain)
    p.call(L.SYS_close, p.conn)
    a.xor(EAX, EAX)
    return p.exit_with_eax()


def test_shutdown_wr_half_closes_and_the_server_drains_what_follows():
    guest = Guest(drainer(), record=True)
    guest.start()
    client = guest.connect()
    client.send(b"request")
    assert guest.run().syscall == "read", "draining"
    assert client.recv_all() == b"answer"
    assert client.closed_by_peer and not client.was_reset, "FIN, not RST"
    client.send(b"late bytes")
    assert guest.run().syscall == "read", "the guest can still read after SHUT_WR"
    client.close()
    assert guest.run().status == 0
    assert not client.was_reset
    assert results(guest, "shutdown") == [0]
    assert results(guest, "read") == [7, 10, 0]


def test_a_drain_bounded_by_the_timeout_ends_without_a_reset():
    guest = Guest(drainer(), record=True)
    guest.start()
    client = guest.connect()
    client.send(b"request")
    guest.run()
    assert guest.stall(2).status == 0
    assert client.recv_all() == b"answer" and not client.was_reset
    assert results(guest, "read") == [7, -L.EAGAIN]


# ---------------------------------------------------------------------- misbehaving clients

SOCKETCALL_SERVER = FIXTURES / "programs" / "socketcall_server.elf"


@pytest.mark.parametrize("sizes", [1, 5, [1, 2, 3], [100]])
def test_fragment_sends_in_pieces_and_runs_the_guest_between(sizes):
    guest = Guest(SOCKETCALL_SERVER.read_bytes(), record=True)
    guest.start()
    client = guest.connect()
    guest.fragment(client, REQUEST, sizes)
    assert client.recv_all().startswith(b"HTTP/1.1 200 OK\r\n")
    reads = [ret for name, ret in guest.calls if name in ("read", "recv", "recvfrom") and ret > 0]
    expected = len(REQUEST) if sizes == 1 else None
    if expected is not None:
        assert len(reads) == expected, "one read per byte"
    assert sum(reads) == len(REQUEST)


def test_fragment_stops_when_the_guest_closes_and_rejects_empty_pieces(site):
    program, response = site
    guest = Guest(program)
    guest.start()
    client = guest.connect()
    closing = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    guest.fragment(client, closing + b"trailing", [len(closing), 1])
    assert client.closed_by_peer, "the response came after the first piece"
    assert client.recv_all() == http_response(default_page())
    with pytest.raises(HarnessError, match="at least 1 byte"):
        guest.fragment(guest.connect(), b"x", 0)


def test_half_close_gives_the_guest_end_of_file():
    p = Prog()
    a = p.a
    p.serve()
    more = a.label()
    a.bind(more)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    a.test(EAX, EAX)
    a.j("g", more)
    bye = a.data(b"bye")
    p.call(L.SYS_write, p.conn, bye, 3)
    guest = Guest(p.exit_with_eax())
    guest.start()
    client = guest.connect()
    client.send(b"x")
    assert guest.run().syscall == "read"
    client.shutdown_write()
    assert guest.run().status == 3
    assert client.recv_all() == b"bye"


def test_reset_at_any_point_is_econnreset_then_end_of_file():
    p = Prog()
    p.serve()
    p.call(L.SYS_read, p.conn, p.buf, 100)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    p.call(L.SYS_read, p.conn, p.buf, 100)
    guest = Guest(p.exit_with_eax(), record=True)
    guest.start()
    client = guest.connect()
    client.send(b"hi")
    assert guest.run().syscall == "read"
    client.reset()
    assert guest.run().status == 0
    assert results(guest, "read") == [2, -L.ECONNRESET, 0]



def test_a_reset_while_the_guest_drains_ends_the_drain():
    guest = Guest(drainer(), record=True)
    guest.start()
    client = guest.connect()
    client.send(b"request")
    guest.run()
    assert client.recv_all() == b"answer"
    client.reset()
    assert guest.run().status == 0
    assert results(guest, "read") == [7, -L.ECONNRESET]
    assert results(guest, "close") == [0]
