"""Real C programs, built with glibc, musl and dietlibc, run natively and in the harness.

Each (libc, program) pair of :mod:`cprograms` runs twice with the same argv (argv[0]
included), the same environment and the same stdin: on the real kernel, which is the
referee, and in the harness.  Everything a user sees must be equal: stdout, stderr, and the
exit status or the signal that killed the process; for the server, the bytes each client
receives.  No expected output is written down here.

Native runs happen in their own session with a timeout, and are killed at teardown, pass or
fail; the server listens on 127.0.0.1, on a port the kernel just called free.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from cprograms import LIBCS, build
from harness import Guest, GuestFault
from rundiff import TIMEOUT, natives, run_in_harness, unmodelled  # noqa: F401 - a fixture
from support import LOOPBACK, NATIVE, NATIVE_REASON, free_port

pytestmark = [pytest.mark.native, pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)]

ARGV = ["prog", "x", "y z"]
ENV = {"A": "1", "B": "two"}
STDIN = b"some input\n\x00\xff binary too\n" * 37
REQUEST = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: webelf-cprograms\r\n\r\n"
CONNECTIONS = 2


@pytest.mark.parametrize("libc", LIBCS)
@pytest.mark.parametrize("program", ["hello", "filter", "bigmalloc", "abort"])
def test_program_runs_as_on_linux(natives, tmp_path, libc, program):
    data = build(libc, program, tmp_path)
    native = natives.run(tmp_path / program, ARGV, ENV, STDIN)
    # The referee must have run the program as meant, or the comparison proves nothing:
    if program == "abort":
        assert native.end == ("killed", signal.SIGABRT), native
    else:
        assert native.end == ("exited", 0), native
    emulated, guest, how = run_in_harness(data, ARGV, ENV, STDIN)
    context = f"{program} with {libc}: {how}; unmodelled calls: {unmodelled(guest)}"
    assert emulated.end == native.end, context
    assert emulated.stdout == native.stdout, context
    assert emulated.stderr == native.stderr, context


def _native_fetch(proc: subprocess.Popen, port: int, request: bytes) -> bytes:
    """One request on a new connection, retried until the server listens; every byte back."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: "
                                 f"{proc.stderr.read()!r}")
        try:
            conn = socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    with conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("libc", LIBCS)
def test_server_answers_as_on_linux(natives, tmp_path, libc):
    data = build(libc, "server", tmp_path)
    port = free_port()
    argv = ["server", str(port), str(CONNECTIONS)]
    proc = natives.start(tmp_path / "server", argv, ENV, stdin=subprocess.DEVNULL)
    native = [_native_fetch(proc, port, REQUEST) for _ in range(CONNECTIONS)]
    stdout, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, stderr
    assert native[0].startswith(b"HTTP/1.1 200 OK\r\n") and native[0] == native[1]

    guest = Guest(data, argv=argv, env=ENV)
    try:
        stop = guest.start()
    except GuestFault as fault:
        pytest.fail(f"server with {libc}: the harness's guest was killed by {fault}; "
                    f"unmodelled calls: {unmodelled(guest)}")
    context = f"server with {libc}; unmodelled calls: {unmodelled(guest)}"
    assert guest.waiting_in_accept, f"{context}; it stopped: {stop}, stderr {guest.stderr!r}"
    assert guest.listening() == [(LOOPBACK, port)], context
    emulated = [guest.request(REQUEST) for _ in range(CONNECTIONS)]
    assert emulated == native, context
    assert guest.exited and guest.exit_status == 0, context
    assert (guest.stdout, guest.stderr) == (stdout, stderr), context
