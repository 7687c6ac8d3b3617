"""Bounded buffers (issue 9, harness defect 3): what a guest writes is never held without end.

Linux bounds every writer.  A pipe holds 64 KiB and then blocks the writer (pipe(7)); a TCP
socket queues up to its send buffer plus the peer's receive window and then blocks the writer
until the peer reads (tcp(7), socket(7)).  The harness does the same: the guest's stdout and
stderr stream out as written (``webelf run``), or fill a pipe of 64 MiB that blocks the guest
when full (the Python API); a socket write waits for the client to read.  The tests measure
the peak RSS of ``webelf run`` (``ru_maxrss`` of a child process) for a guest that floods
stdout and one that floods a client, and check that blocked writers resume with every byte,
in order.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from generator.elf import link
from generator.x86 import EAX, EBX, ECX, EDI, EDX, ESI, Assembler, dword
from harness import Guest, GuestFault, GuestTimeout, HarnessError
from harness.kernel.files import STD_CAPACITY
from harness import linux as L

ROOT = Path(__file__).resolve().parent.parent
PORT = 8080
#: The most a flood may make ``webelf run`` hold (the issue's bound).
RSS_LIMIT = 300 << 20


# ---------------------------------------------------------------------------- guests

def _sys(a: Assembler, nr: int, *args) -> None:
    for reg, value in zip((EBX, ECX, EDX, ESI, EDI), args):
        a.mov(reg, value)
    a.mov(EAX, nr)
    a.int_(0x80)


def _exit(a: Assembler, status: int = 0) -> None:
    _sys(a, L.SYS_exit, status)


def stdout_writer(count: int | None, size: int = 4096, fd: int = 1, byte: bytes = b"x") -> bytes:
    """write(fd, buf, size) ``count`` times (None: for ever), then exit(0)."""
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    buf = a.data(byte * size)
    a.mov(ESI, 0)
    loop = a.label("loop")
    a.bind(loop)
    a.mov(EBX, fd)
    a.mov(ECX, buf)
    a.mov(EDX, size)
    a.mov(EAX, L.SYS_write)
    a.int_(0x80)
    if count is None:
        a.jmp(loop)
    else:
        a.inc(ESI)
        a.cmp(ESI, count)
        a.j("ne", loop)
        _exit(a)
    return link(a, start)


def server(body) -> bytes:
    """socket, bind 127.0.0.1:PORT, listen, accept4 (the connection in edi), ``body(a)``,
    exit(0)."""
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    addr = a.data(bytes([2, 0]) + PORT.to_bytes(2, "big") + bytes([127, 0, 0, 1]) + bytes(8))
    _sys(a, L.SYS_socket, 2, 1, 0)
    a.mov(EDI, EAX)
    a.mov(EBX, EDI)
    a.mov(ECX, addr)
    a.mov(EDX, 16)
    a.mov(EAX, L.SYS_bind)
    a.int_(0x80)
    a.mov(EBX, EDI)
    a.mov(ECX, 5)
    a.mov(EAX, L.SYS_listen)
    a.int_(0x80)
    a.mov(EBX, EDI)
    a.mov(ECX, 0)
    a.mov(EDX, 0)
    a.mov(ESI, 0)
    a.mov(EAX, L.SYS_accept4)
    a.int_(0x80)
    a.mov(EDI, EAX)
    body(a)
    _exit(a)
    return link(a, start)


def socket_flood() -> bytes:
    """A server that writes 4 KiB to its client in a loop, for ever."""
    def body(a: Assembler) -> None:
        buf = a.data(b"y" * 4096)
        loop = a.label("flood")
        a.bind(loop)
        a.mov(EBX, EDI)
        a.mov(ECX, buf)
        a.mov(EDX, 4096)
        a.mov(EAX, L.SYS_write)
        a.int_(0x80)
        a.jmp(loop)
    return server(body)


def pattern(size: int) -> bytes:
    """The bytes :func:`big_response` sends: the little-endian dwords 0, 1, 2, ..."""
    return b"".join(i.to_bytes(4, "little") for i in range(size // 4))


def big_response(size: int) -> bytes:
    """A server that fills a buffer with :func:`pattern` and sends it with one write(2),
    then closes the connection and exits with 0 if the write returned ``size``, else 1."""
    def body(a: Assembler) -> None:
        buf = a.reserve(size, "buf")
        a.mov(ECX, 0)
        a.mov(EDX, buf)
        fill = a.label("fill")
        a.bind(fill)
        a.mov(dword[EDX], ECX)
        a.add(EDX, 4)
        a.inc(ECX)
        a.cmp(ECX, size // 4)
        a.j("ne", fill)
        a.mov(EBX, EDI)
        a.mov(ECX, buf)
        a.mov(EDX, size)
        a.mov(EAX, L.SYS_write)
        a.int_(0x80)
        a.mov(ESI, EAX)
        _sys(a, L.SYS_close, EDI)
        a.cmp(ESI, size)
        ok = a.label("ok")
        a.j("e", ok)
        _exit(a, 1)
        a.bind(ok)
    return server(body)


# ---------------------------------------------------------------------------- peak RSS

#: Runs ``python -m MODULE ARGS`` or ``python -c CODE ARGS`` (after the report file) and, as
#: it exits, writes its own peak RSS there: VmHWM, the high-water mark of its address space.
#: ru_maxrss from wait4 would not do: exec hands the parent's high-water mark on to the
#: child (fs/exec.c, exec_mmap's setmax_mm_hiwater_rss), so a child of a pytest worker that
#: has grown past the limit would fail whatever it did itself.
PEAK_REPORTER = textwrap.dedent("""
    import atexit, runpy, sys
    report, how, what, *rest = sys.argv[1:]

    def _report():
        with open("/proc/self/status") as status:
            peak = next(line for line in status if line.startswith("VmHWM:"))
        with open(report, "w") as out:
            out.write(peak.split()[1])

    atexit.register(_report)
    if how == "-m":
        sys.argv = [what, *rest]
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})
""")


def _peak_rss(argv: list[str], seconds: float = 120) -> tuple[int, int, str]:
    """(exit status, peak RSS in bytes, stderr) of a child process ``python -m ...`` or
    ``python -c ...`` whose stdout is /dev/null (its own peak: :data:`PEAK_REPORTER`); it
    is killed after ``seconds``, and then its ru_maxrss stands in."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(os.devnull, "wb") as null, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as report:
        proc = subprocess.Popen([argv[0], "-c", PEAK_REPORTER, report.name, *argv[1:]],
                                stdout=null, stderr=err, env=env)
        deadline = time.monotonic() + seconds
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        peak = report.read().strip()
        rss = int(peak) * 1024 if peak else usage.ru_maxrss * 1024
        return proc.returncode, rss, err.read().decode(errors="replace")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_a_guest_flooding_stdout_for_5_s_stays_under_300_mib(tmp_path):
    """Before: 890 MiB after 2 s, 2-6 GiB after 10 s, all of it the guest's stdout kept."""
    elf = tmp_path / "flood.elf"
    # 64 KiB writes, not the 4 KiB: a million 4 KiB writes (the system-call budget)
    # take a fast host less than 5 s; a million of these take longer, so 5 s it is.
    elf.write_bytes(stdout_writer(None, size=65536))
    started = time.monotonic()
    status, rss, err = _peak_rss([sys.executable, "-m", "webelf", "run", str(elf),
                                  "--max-seconds", "5"])
    assert status == 124, err
    assert "time budget of 5 s" in err, err
    assert time.monotonic() - started >= 5
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_a_guest_flooding_its_client_through_webelf_run_stays_under_300_mib(tmp_path):
    """webelf run's client reads as the guest writes and streams the response to stdout; the
    guest never waits for anything else, so the time budget ends it.  Before: 490 MiB after
    2 s, 8.5 GiB after 10 s."""
    elf = tmp_path / "flood.elf"
    elf.write_bytes(socket_flood())
    status, rss, err = _peak_rss([sys.executable, "-m", "webelf", "run", str(elf),
                                  "--max-seconds", "5"])
    assert status == 124, err
    assert "time budget of 5 s" in err
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"


CLIENT_NEVER_READS = textwrap.dedent("""
    import sys, time
    from harness import Guest
    guest = Guest.load(sys.argv[1], max_seconds=5)
    guest.start()
    client = guest.connect()
    end = time.monotonic() + 5
    runs = 0
    while time.monotonic() < end:
        stop = guest.run()
        assert (stop.reason, stop.syscall, stop.fd) == ("blocked", "write", 4), stop
        runs += 1
    held = len(client.rx)
    assert 0 < held < 8 << 20, held
    print(runs, held)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_a_guest_flooding_a_client_that_never_reads_stays_under_300_mib(tmp_path):
    """The guest fills the connection and waits in write; run again and again for 5 s, it
    waits again at once.  Before: the write never waited, and the guest ran its budget out
    holding GiBs."""
    elf = tmp_path / "flood.elf"
    elf.write_bytes(socket_flood())
    status, rss, err = _peak_rss([sys.executable, "-c", CLIENT_NEVER_READS, str(elf)])
    assert status == 0, err
    assert rss < RSS_LIMIT, f"peak RSS {rss >> 20} MiB"


# ---------------------------------------------------------------------------- stdout as a pipe

def test_collected_stdout_is_a_pipe_that_blocks_the_writer_when_full():
    """Nobody reads a collected stdout until the guest stops: at 64 MiB the pipe is full and
    the guest waits in write on fd 1; reading it (take_stdout) lets the guest go on."""
    guest = Guest(stdout_writer(STD_CAPACITY // 4096 + 3))
    stop = guest.start()
    assert (stop.reason, stop.syscall, stop.fd) == ("blocked", "write", 1)
    assert len(guest.stdout) == STD_CAPACITY
    assert guest.run() == stop  # nobody read: still full
    taken = guest.take_stdout()
    assert len(taken) == STD_CAPACITY and guest.stdout == b""
    assert guest.run().reason == "exited" and guest.exit_status == 0
    assert len(guest.stdout) == 3 * 4096


def test_a_write_larger_than_the_room_left_resumes_where_it_stopped():
    """pipe_write stores what fits and sleeps for the rest; the count returned is the
    whole write, and the bytes arrive once each, in order."""
    program = stdout_writer(3, size=5000, byte=b"a")
    guest = Guest(program, record=True)
    guest.kernel.fds.stdout.capacity = 7000
    stop = guest.start()
    assert (stop.reason, stop.syscall, stop.fd) == ("blocked", "write", 1)
    out = guest.take_stdout()
    assert len(out) == 7000  # the first write and 2000 bytes of the second
    stop = guest.run()
    assert stop.syscall == "write"  # the third does not fit in what is left
    out += guest.take_stdout()
    assert guest.run().reason == "exited"
    out += guest.take_stdout()
    assert out == b"a" * 15000
    assert [ret for name, ret in guest.calls if name == "write"] == [5000, 5000, 5000]


def test_a_non_blocking_stdout_returns_what_fitted_then_eagain():
    def body(a: Assembler) -> None:
        _sys(a, L.SYS_fcntl64, 1, L.F_SETFL, L.O_NONBLOCK)
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    buf = a.data(b"z" * 5000)
    body(a)
    for _ in range(3):
        _sys(a, L.SYS_write, 1, buf, 5000)
    _exit(a)
    guest = Guest(link(a, start), record=True)
    guest.kernel.fds.stdout.capacity = 7000
    assert guest.start().reason == "exited"
    writes = [ret for name, ret in guest.calls if name == "write"]
    assert writes == [5000, 2000, -L.EAGAIN]
    assert guest.stdout == b"z" * 7000


def test_a_streamed_stdout_goes_to_the_sink_as_written_and_is_not_kept():
    seen = []
    guest = Guest(stdout_writer(4, size=10, byte=b"q"), stdout=seen.append)
    assert guest.start().reason == "exited"
    assert seen == [b"q" * 10] * 4
    assert guest.stdout == b""


def test_a_sink_that_fails_gives_the_guest_its_errno():
    """Our stdout closed under us: the guest's write fails with EPIPE and SIGPIPE kills it,
    as for a pipe whose reader has gone."""
    def closed(_data: bytes) -> None:
        raise BrokenPipeError(32, "Broken pipe")
    guest = Guest(stdout_writer(1), stdout=closed)
    with pytest.raises(GuestFault) as fault:
        guest.start()
    assert fault.value.signal == L.SIGPIPE


def test_a_binary_file_sink_is_written_and_flushed(tmp_path):
    target = tmp_path / "out"
    with open(target, "wb") as f:
        guest = Guest(stdout_writer(2, size=3, byte=b"k"), stdout=f)
        guest.start()
        assert target.read_bytes() == b"kkkkkk"  # flushed before the guest exited


# ---------------------------------------------------------------------------- sockets

def test_a_guest_blocked_writing_to_a_full_socket_resumes_when_the_client_reads():
    size = 4 << 20
    guest = Guest(big_response(size))
    guest.start()
    client = guest.connect()
    stop = guest.run()
    assert (stop.reason, stop.syscall) == ("blocked", "write")
    held = len(client.rx)
    assert held < size
    assert guest.run() == stop  # nobody read: it waits on
    received = client.recv()
    assert len(received) == held
    resumed = 0
    while not guest.exited:
        guest.run()
        received += client.recv()
        resumed += 1
    assert resumed >= 1
    assert guest.exit_status == 0  # write returned the whole size
    assert received == pattern(size)


def test_a_4_mib_response_through_request_arrives_complete_and_in_order():
    size = 4 << 20
    guest = Guest(big_response(size))
    guest.start()
    response = guest.request(b"GET / HTTP/1.1\r\n\r\n")
    assert len(response) == size and response == pattern(size)
    assert guest.response_size == size and guest.exit_status == 0


def test_a_response_streamed_to_a_sink_is_not_kept():
    size = 4 << 20
    guest = Guest(big_response(size))
    guest.start()
    chunks: list[bytes] = []
    assert guest.request(b"GET / HTTP/1.1\r\n\r\n", sink=chunks.append) == b""
    assert len(chunks) > 1 and b"".join(chunks) == pattern(size)
    assert guest.response_size == size


def test_a_response_longer_than_the_limit_is_an_error_naming_it():
    guest = Guest(big_response(4 << 20))
    guest.start()
    with pytest.raises(HarnessError, match="longer than 1,000,000 bytes"):
        guest.request(b"GET /\r\n\r\n", limit=1_000_000)


def test_a_guest_writing_to_a_reading_client_without_end_runs_out_of_its_time_budget():
    guest = Guest(socket_flood(), max_seconds=1)
    guest.start()
    started = time.monotonic()
    with pytest.raises(GuestTimeout, match="time budget of 1 s"):
        guest.request(b"GET / HTTP/1.1\r\n\r\n", sink=lambda _chunk: None)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------------- webelf run

def _webelf(*args: str, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          env=env, timeout=120, **kwargs)


def test_webelf_run_streams_stdout_as_the_guest_writes_it(tmp_path):
    """The first line is on our stdout while the guest still runs (before: only once the
    guest stopped)."""
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    hello = a.data(b"hello\n")
    _sys(a, L.SYS_write, 1, hello, 6)
    spin = a.label("spin")
    a.bind(spin)
    a.jmp(spin)
    elf = tmp_path / "spin.elf"
    elf.write_bytes(link(a, start))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "webelf", "run", str(elf),
                             "--max-seconds", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "nothing on stdout within 30 s"
        assert proc.stdout.readline() == b"hello\n"
        assert proc.poll() is None  # the guest is still running
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_strace_lines_cost_nothing_per_byte_of_output(tmp_path):
    """Before, every strace line copied everything the guest had written so far: 4,000
    writes of 32 KiB (125 MiB) took minutes.  Now each line costs the same."""
    elf = tmp_path / "writes.elf"
    elf.write_bytes(stdout_writer(4000, size=32768))
    with open(os.devnull, "wb") as null:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "webelf", "run", str(elf), "--strace"],
                                stdout=null, stderr=subprocess.PIPE, timeout=120,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0
    lines = result.stderr.decode().splitlines()
    assert sum(line.startswith("write(1, ") for line in lines) == 4000
    assert time.monotonic() - started < 60


def test_strace_lines_start_on_their_own_line_after_the_guests_stderr(tmp_path):
    a = Assembler()
    start = a.label("_start")
    a.bind(start)
    text = a.data(b"abc")
    _sys(a, L.SYS_write, 2, text, 3)
    _sys(a, L.SYS_write, 2, text, 3)
    _exit(a)
    elf = tmp_path / "err.elf"
    elf.write_bytes(link(a, start))
    result = _webelf("run", str(elf), "--strace")
    assert result.returncode == 0
    lines = [" ".join(line.split()) for line in result.stderr.decode().splitlines()]
    assert lines[-6:] == ["abc", 'write(2, "abc", 3) = 3', "abc", 'write(2, "abc", 3) = 3',
                          "exit(0) = ?", "+++ exited with 0 +++"]
