"""The emulator on small programs: exits, faults, budgets, blocking, bad pointers.

Every program here is also run on the real kernel where the host can (x86 Linux), and the
emulator must agree with it: same exit status, or death by the same signal.  The small
programs are written with our own encoder (tests may join generator and harness; the
harness itself never imports the generator).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.elf import link
from generator.x86 import AL, EAX, EBX, ECX, EDX, ESP, Assembler, Mem, dword
from harness import ElfError, Guest, GuestFault, GuestTimeout, HarnessError, UnsupportedSyscall
from support import FIXTURES, NATIVE

PROGRAMS = FIXTURES / "programs"
SIGSEGV, SIGILL, SIGFPE, SIGTRAP = 11, 4, 8, 5


def tiny(body) -> bytes:
    """A program: ``body(a)`` then exit(eax's errno, or eax itself), as an ELF."""
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    body(a)
    a.mov(EBX, EAX)          # exit status: the low byte of eax (a -errno shows as 256-errno)
    a.mov(EAX, 1)
    a.int_(0x80)
    return link(a, start)


def emulated(program: bytes, **kwargs) -> tuple[str, int]:
    """('exit', status) or ('signal', number), as the emulator sees it."""
    guest = Guest(program, **kwargs)
    try:
        stop = guest.start()
    except GuestFault as fault:
        return "signal", fault.signal
    assert stop.reason == "exited", stop
    return "exit", stop.status


def native(program: bytes, tmp_path: Path) -> tuple[str, int] | None:
    if not NATIVE:
        return None
    path = tmp_path / "p.elf"
    path.write_bytes(program)
    path.chmod(0o755)
    rc = subprocess.run([str(path)], stdin=subprocess.DEVNULL, capture_output=True, timeout=10).returncode
    return ("signal", -rc) if rc < 0 else ("exit", rc)


def agree(program: bytes, tmp_path: Path, expected: tuple[str, int]) -> None:
    assert emulated(program) == expected
    real = native(program, tmp_path)
    if real is not None:
        assert real == expected, "the kernel disagrees with the expectation itself"


# ---------------------------------------------------------------------- fixture programs

def test_hello_writes_to_stdout_and_exits_0():
    guest = Guest((PROGRAMS / "hello.elf").read_bytes())
    stop = guest.start()
    assert (stop.reason, stop.status) == ("exited", 0)
    assert guest.stdout == b"hello, world\n" and guest.stderr == b""


def test_exit42():
    assert emulated((PROGRAMS / "exit42.elf").read_bytes()) == ("exit", 42)


def test_c_program_built_by_gcc_runs():
    guest = Guest((PROGRAMS / "hello_c.elf").read_bytes())
    assert guest.start().reason == "exited"
    assert guest.exit_status == 0 and guest.stdout


def test_segfault_is_sigsegv_with_the_address_and_instruction():
    with pytest.raises(GuestFault) as info:
        Guest((PROGRAMS / "segfault.elf").read_bytes()).start()
    fault = info.value
    assert fault.signal == SIGSEGV
    assert fault.address == 0
    assert fault.disassembly.startswith("mov")
    assert "SIGSEGV" in str(fault) and "\n" not in str(fault)


def test_spin_runs_out_of_budget_without_hanging():
    guest = Guest((PROGRAMS / "spin.elf").read_bytes(), max_instructions=200_000)
    with pytest.raises(GuestTimeout) as info:
        guest.start()
    assert info.value.instruction.startswith("jmp")
    assert info.value.eip == guest.machine.image.entry or info.value.eip > 0


def test_socketcall_server_answers_over_the_fake_network():
    guest = Guest((PROGRAMS / "socketcall_server.elf").read_bytes(), record=True)
    stop = guest.start()
    assert (stop.reason, stop.syscall) == ("blocked", "accept")  # socketcall's accept
    assert guest.listening() == [("127.0.0.1", 8080)]
    response = guest.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    names = [name for name, _ in guest.calls]
    assert names[:4] == ["socket", "setsockopt", "bind", "listen"]
    assert "accept" in names


# ---------------------------------------------------------------------- blocking

def test_a_guest_waits_for_data_and_resumes_where_it_stopped():
    from generator import default_page, http_response, build_server

    response = http_response(default_page())
    guest = Guest(build_server(response))
    assert guest.start().syscall == "epoll_wait"
    client = guest.connect()
    stop = guest.run()
    assert (stop.reason, stop.syscall) == ("blocked", "epoll_wait"), "nothing was sent yet"
    assert client.recv_all() == b""
    client.send(b"GET / HTT")
    stop = guest.run()
    assert (stop.reason, stop.syscall) == ("blocked", "epoll_wait"), "half a head: it waits"
    assert client.recv_all() == b""
    client.send(b"P/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    stop = guest.run()
    assert (stop.syscall, client.closed_by_peer) == ("epoll_wait", True), \
        "sent, shut down, draining"
    assert client.recv_all() == response
    client.close()
    assert guest.run().syscall == "epoll_wait"
    assert guest.kernel.fds.open_fds() == [0, 1, 2, 3, 4], "the drain saw the end and closed"


def test_many_requests_through_one_guest():
    from generator import default_page, http_response, build_server

    response = http_response(default_page())
    guest = Guest(build_server(response))
    guest.start()
    for _ in range(1000):
        assert guest.request(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n") == response
    assert guest.kernel.fds.open_fds() == [0, 1, 2, 3, 4], "every client socket was closed"


# ---------------------------------------------------------------------- CPU exceptions

@pytest.mark.parametrize("name,body,signal", [
    ("divide by zero", lambda a: (a.xor(EDX, EDX), a.xor(ECX, ECX), a.div(ECX)), SIGFPE),
    ("int 0x81", lambda a: a.int_(0x81), SIGSEGV),
    ("int3", lambda a: a.int3(), SIGTRAP),
    ("hlt", lambda a: a.hlt(), SIGSEGV),
    ("undefined opcode", lambda a: a._emit(b"\x0f\x0b"), SIGILL),
    ("write to code", lambda a: a.mov(dword[0x08048000], EAX), SIGSEGV),
    ("read unmapped", lambda a: a.mov(EAX, dword[0x10]), SIGSEGV),
    ("jump to unmapped", lambda a: (a.mov(EAX, 0x12345678), a.jmp(EAX)), SIGSEGV),
    ("execute the stack", lambda a: (a.push(0xC3), a.jmp(ESP)), SIGSEGV),
])
def test_faults_give_the_signal_linux_gives(name, body, signal, tmp_path):
    agree(tiny(body), tmp_path, ("signal", signal))


# ---------------------------------------------------------------------- syscalls' errors

@pytest.mark.parametrize("name,body,errno", [
    ("write from a bad pointer", lambda a: (a.mov(EAX, 4), a.mov(EBX, 1), a.mov(ECX, 0x10),
                                            a.mov(EDX, 5), a.int_(0x80)), 14),
    ("read into code", lambda a: (a.mov(EAX, 3), a.mov(EBX, 0), a.mov(ECX, 0x08048000),
                                  a.mov(EDX, 5), a.int_(0x80)), 0),
    ("close a bad fd", lambda a: (a.mov(EAX, 6), a.mov(EBX, 99), a.int_(0x80)), 9),
    ("unknown syscall", lambda a: (a.mov(EAX, 1000), a.int_(0x80)), 38),
    ("socket of a bad family", lambda a: (a.mov(EAX, 359), a.mov(EBX, 12345), a.mov(ECX, 1),
                                          a.xor(EDX, EDX), a.int_(0x80)), 97),
    ("bind with a bad pointer", lambda a: (a.mov(EAX, 359), a.mov(EBX, 2), a.mov(ECX, 1),
                                           a.xor(EDX, EDX), a.int_(0x80), a.mov(EBX, EAX),
                                           a.mov(EAX, 361), a.mov(ECX, 0x10), a.mov(EDX, 16),
                                           a.int_(0x80)), 14),
    ("listen on a non-socket", lambda a: (a.mov(EAX, 363), a.mov(EBX, 1), a.mov(ECX, 1),
                                          a.int_(0x80)), 88),
])
def test_errors_are_the_errnos_linux_returns(name, body, errno, tmp_path):
    # stdin is empty in the emulator and /dev/null-like natively (capture_output), so a read
    # of fd 0 returns 0 before it could touch the read-only buffer: both say 0.
    agree(tiny(body), tmp_path, ("exit", -errno & 0xFF))


def test_strict_mode_raises_on_an_unknown_syscall():
    with pytest.raises(UnsupportedSyscall, match="1000"):
        Guest(tiny(lambda a: (a.mov(EAX, 1000), a.int_(0x80))), strict=True).start()


def test_unknown_syscalls_are_recorded():
    guest = Guest(tiny(lambda a: (a.mov(EAX, 1000), a.int_(0x80))))
    guest.start()
    assert guest.kernel.unsupported == [1000]


def test_a_bad_elf_is_an_elf_error():
    with pytest.raises(ElfError):
        Guest(b"\x7fELF" + bytes(100))


def test_registers_start_at_zero_like_linux(tmp_path):
    # ELF_PLAT_INIT zeroes every general register: exit(eax+ebx+ecx+edx) must be exit(0).
    def body(a):
        a.add(EAX, EBX)
        a.add(EAX, ECX)
        a.add(EAX, EDX)
        a.mov(AL, AL)

    agree(tiny(body), tmp_path, ("exit", 0))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=8),
       st.sampled_from(["hello.elf", "socketcall_server.elf", "segfault.elf"]))
def test_mutated_elfs_never_crash_or_hang_the_harness(flips, name):
    """Whatever bytes a file holds, the harness answers with a stop, an ElfError or a
    guest's death: never another exception, never a hang (the budget is small)."""
    data = bytearray((PROGRAMS / name).read_bytes())
    for offset, value in flips:
        data[offset % len(data)] = value
    try:
        guest = Guest(bytes(data), max_instructions=20_000)
    except ElfError:
        return
    try:
        stop = guest.start()
        if stop.reason == "blocked" and guest.listening():
            guest.request(b"GET / HTTP/1.1\r\n\r\n")
    except (GuestFault, GuestTimeout, HarnessError):
        pass


@pytest.mark.parametrize("result", ["value", "entry"])
def test_set_thread_area_gives_a_working_gs_segment(result, tmp_path):
    """What a C library's startup does for TLS: set_thread_area with entry -1, load gs
    with the selector of the slot it got, then use gs-relative memory."""
    def build():
        a = Assembler()
        tls = a.reserve(64, "tls")
        start = a.label("_start")
        a.bind(start)
        a.push(0x51)                   # seg_32bit | limit_in_pages | useable
        a.push(0xFFFFF)                # limit, in pages
        a.push(tls)                    # base
        a.push(-1)                     # entry_number: "pick one"
        a.mov(EBX, ESP)
        a.mov(EAX, 243)                # set_thread_area(esp)
        a.int_(0x80)
        a.mov(EAX, dword[ESP])         # the slot the kernel chose
        if result == "entry":
            a.mov(EBX, EAX)
        else:
            a.lea(EAX, Mem(index=EAX, scale=8, disp=3))
            a._emit(b"\x8e\xe8")        # mov gs, ax
            a._emit(b"\x65\xc7\x05\x04\x00\x00\x00\x2a\x00\x00\x00")  # mov dword gs:[4], 42
            a.mov(EBX, dword[tls + 4])
        a.mov(EAX, 1)
        a.int_(0x80)
        return link(a, start)

    agree(build(), tmp_path, ("exit", 12 if result == "entry" else 42))


def test_a_loop_of_system_calls_is_stopped_by_the_syscall_budget():
    def body(a):
        loop = a.label()
        a.bind(loop)
        a.mov(EAX, 6)           # close(99): -EBADF, forever
        a.mov(EBX, 99)
        a.int_(0x80)
        a.jmp(loop)

    guest = Guest(tiny(body), max_syscalls=5000)
    with pytest.raises(GuestTimeout, match="5,000 system calls"):
        guest.start()


def test_half_a_request_waits_for_the_rest():
    """The socketcall server reads until the blank line: after half a request it must be
    parked in recv/read, and the second half must complete the response."""
    guest = Guest((PROGRAMS / "socketcall_server.elf").read_bytes())
    guest.start()
    client = guest.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: exa")
    stop = guest.run()
    assert stop.reason == "blocked" and stop.syscall in ("read", "recv", "recvfrom")
    assert client.recv_all() == b""
    client.send(b"mple\r\n\r\n")
    guest.run()
    assert client.recv_all().startswith(b"HTTP/1.1 200 OK\r\n")
