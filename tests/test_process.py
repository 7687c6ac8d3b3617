"""Processes (issue 10, item 1): fork, wait4/waitpid, SIGCHLD, the process limit, a forking
server, natively and in the harness (harness/kernel/task.py)."""

from __future__ import annotations

import gc
import socket
import subprocess
import time
import weakref

import pytest

from cprograms import build
from harness import Guest
from harness.kernel.task import MAX_PROCESSES


def _native(tmp_path, program: str, *args: str) -> subprocess.CompletedProcess:
    build("glibc", program, tmp_path)
    return subprocess.run([str(tmp_path / program), *args], capture_output=True, timeout=30)


@pytest.mark.parametrize("program", ["fork_wait", "wait_errnos"])
def test_fork_and_wait_as_natively(tmp_path, program):
    native = _native(tmp_path, program)
    guest = Guest(build("glibc", program))
    stop = guest.run()
    assert stop.reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)


def test_the_child_exits_7_and_the_parent_sees_it():
    guest = Guest(build("glibc", "fork_wait"))
    guest.run()
    assert guest.stdout == b"child\nreaped=1 exited=1 status=7\n"


def test_a_fork_bomb_meets_the_process_limit_with_eagain():
    guest = Guest(build("glibc", "fork_bomb"))
    assert guest.run().reason == "exited"
    assert guest.stdout == f"made {MAX_PROCESSES - 1}, then EAGAIN\n".encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REQUESTS = [b"GET /a HTTP/1.0\r\n\r\n", b"GET /bb HTTP/1.0\r\nHost: x\r\n\r\n",
            b"GET /ccc HTTP/1.0\r\n\r\n"]


def test_a_forking_server_answers_as_natively(tmp_path):
    build("glibc", "fork_server", tmp_path)
    port = _free_port()
    server = subprocess.Popen([str(tmp_path / "fork_server"), str(port), str(len(REQUESTS))])
    try:
        native = []
        for request in REQUESTS:
            for _ in range(100):
                try:
                    conn = socket.create_connection(("127.0.0.1", port))
                    break
                except ConnectionRefusedError:
                    time.sleep(0.02)
            with conn:
                conn.sendall(request)
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
            native.append(data)
        assert server.wait(timeout=10) == 0
    finally:
        server.kill()
    guest = Guest(build("glibc", "fork_server"), argv=["fork_server", "8080", str(len(REQUESTS))])
    assert guest.run().reason == "blocked" and guest.waiting_in_accept
    harness = [guest.request(request) for request in REQUESTS]
    assert harness == native
    assert guest.exited and guest.exit_status == 0


def test_a_guest_that_forked_is_freed_when_dropped():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        refs = []
        for _ in range(20):
            guest = Guest(build("glibc", "fork_wait"))
            guest.run()
            refs.append(weakref.ref(guest.machine))
            del guest
        assert sum(ref() is not None for ref in refs) == 0
    finally:
        if was:
            gc.enable()
