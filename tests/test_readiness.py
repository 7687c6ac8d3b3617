"""Readiness (issue 10): servers multiplexed with poll, select and epoll, against the real
kernel and through the Python API, and the readiness rules of sockets one by one.

The servers (fixtures/programs/c/poll_server.c, select_server.c, epoll_server.c, sharing
mux.h) are built with glibc at test time.  Natively they get the same interleaved clients as
in the harness; the response bytes must be equal.
"""

from __future__ import annotations

import socket
import sys
import subprocess
import time

import pytest

from harness import Guest, Network
from harness import linux as L
from harness.kernel import Kernel
from harness.kernel.sys_poll import Epoll, poll_mask
from cprograms import build
from support import NATIVE, NATIVE_REASON, free_port

SERVERS = ("poll_server", "select_server", "epoll_server")


def requests(n: int) -> list[bytes]:
    return [b"GET /client%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n)]


def harness_responses(program: str, n: int) -> list[bytes]:
    """Each client sends half its request, in order, then the rest in reverse order."""
    guest = Guest(build("glibc", program), argv=[program, "8080", str(n)])
    guest.start()
    clients = [guest.connect() for _ in range(n)]
    reqs = requests(n)
    for client, req in zip(clients, reqs):
        client.send(req[:len(req) // 2])
        guest.run()
    for client, req in reversed(list(zip(clients, reqs))):
        client.send(req[len(req) // 2:])
        guest.run()
    assert guest.exited and guest.exit_status == 0, guest.stderr
    return [client.recv_all() for client in clients]


def _connect_when_listening(port: int) -> socket.socket:
    deadline = time.monotonic() + 5
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def native_responses(path, n: int) -> list[bytes]:
    port = free_port()
    proc = subprocess.Popen([str(path), str(port), str(n)])
    try:
        socks = [_connect_when_listening(port)]  # a probe would count as a client
        socks += [socket.create_connection(("127.0.0.1", port), timeout=5)
                  for _ in range(n - 1)]
        reqs = requests(n)
        for sock, req in zip(socks, reqs):
            sock.sendall(req[:len(req) // 2])
        for sock, req in reversed(list(zip(socks, reqs))):
            sock.sendall(req[len(req) // 2:])
        out = []
        for sock in socks:
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
            sock.close()
            out.append(data)
        assert proc.wait(timeout=5) == 0
        return out
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("program", SERVERS)
def test_eight_interleaved_clients_are_all_served(program):
    responses = harness_responses(program, 8)
    for i, response in enumerate(responses):
        body = b"you asked for /client%d in 34 bytes\n" % i
        assert response == (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close"
                            b"\r\n\r\n" % len(body) + body)


@pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)
@pytest.mark.parametrize("program", SERVERS)
def test_same_bytes_as_the_real_kernel(program, tmp_path):
    build("glibc", program, tmp_path)
    assert harness_responses(program, 8) == native_responses(tmp_path / program, 8)


@pytest.mark.parametrize("program", SERVERS)
def test_request_serves_a_multiplexing_guest(program):
    guest = Guest(build("glibc", program), argv=[program, "8080", "3"])
    guest.start()
    assert guest.request(b"GET /a HTTP/1.1\r\n\r\n").endswith(b"you asked for /a in 19 bytes\n")
    # A request that never ends its head: the client half-closes, the guest reads EOF.
    assert guest.request(b"GET /half").endswith(b"you asked for /half in 9 bytes\n")
    assert guest.request(b"GET /b HTTP/1.1\r\n\r\n").endswith(b"/b in 19 bytes\n")
    assert guest.exited and guest.exit_status == 0


def test_epoll_server_serves_the_others_while_one_client_stalls():
    guest = Guest(build("glibc", "epoll_server"), argv=["epoll_server", "8080", "4"])
    guest.start()
    staller = guest.connect()
    staller.send(b"GET /never")  # and nothing more, ever
    guest.run()
    clients = [guest.connect() for _ in range(3)]
    for i, client in enumerate(clients):
        client.send(b"GET /ok%d HTTP/1.1\r\n\r\n" % i)
        guest.run()
    guest.stall(3600)
    for i, client in enumerate(clients):
        assert client.closed_by_peer
        assert client.recv_all().endswith(b"you asked for /ok%d in 21 bytes\n" % i)
    assert not staller.closed_by_peer and staller.recv_all() == b""
    assert guest.last_stop.syscall == "epoll_wait"
    staller.shutdown_write()
    guest.run()
    assert staller.recv_all().endswith(b"you asked for /never in 10 bytes\n")
    assert guest.exited and guest.exit_status == 0


# --- socket readiness, as tcp_poll computes it ------------------------------------------------

def _pair():
    net = Network()
    fds = net.fdtable()
    lfd = fds.socket(L.AF_INET, L.SOCK_STREAM, 0)
    listener = fds.get(lfd)
    assert listener.bind(L.INADDR_LOOPBACK, 8080) == 0 and listener.listen(4) == 0
    return net, fds, listener


def test_listener_is_readable_when_a_connection_waits():
    net, fds, listener = _pair()
    assert listener.poll() == 0
    net.connect(8080)
    assert listener.poll() == L.POLLIN | L.POLLRDNORM


def test_fresh_socket_is_writable_and_hung_up():
    net = Network()
    fds = net.fdtable()
    sock = fds.get(fds.socket(L.AF_INET, L.SOCK_STREAM, 0))
    assert sock.poll() == L.POLLOUT | L.POLLWRNORM | L.POLLHUP


def test_connected_socket_events():
    net, fds, listener = _pair()
    client = net.connect(8080)
    conn = fds.get(fds.accept4(3))
    out = L.POLLOUT | L.POLLWRNORM
    assert conn.poll() == out
    client.send(b"x")
    assert conn.poll() == out | L.POLLIN | L.POLLRDNORM
    conn.read(1)
    client.shutdown_write()
    assert conn.poll() == out | L.POLLIN | L.POLLRDNORM | L.POLLRDHUP
    conn.shutdown(L.SHUT_WR)
    assert conn.poll() & L.POLLHUP


def test_reset_socket_reports_an_error():
    net, fds, listener = _pair()
    client = net.connect(8080)
    conn = fds.get(fds.accept4(3))
    client.reset()
    assert conn.poll() & (L.POLLERR | L.POLLHUP | L.POLLIN) == L.POLLERR | L.POLLHUP | L.POLLIN


def test_std_streams():
    kernel = Kernel(stdin=b"ab")
    stdin, stdout = kernel.fds.get(0), kernel.fds.get(1)
    assert poll_mask(stdin) == L.POLLIN | L.POLLRDNORM | L.POLLHUP
    assert poll_mask(stdout) == L.POLLOUT | L.POLLWRNORM


def test_epoll_edge_triggered_reports_each_arrival_once():
    net, fds, listener = _pair()
    client = net.connect(8080)
    cfd = fds.accept4(3)
    ep = Epoll(fds)
    fds.install(ep)
    from harness.kernel.sys_poll import _Item
    ep.items[(id(fds.get(cfd)), cfd)] = _Item(fds.get(cfd), cfd, L.POLLIN | L.EPOLLET, 7)
    assert ep.collect(8) == []
    client.send(b"a")
    assert ep.collect(8) == [(L.POLLIN, 7)]
    assert ep.collect(8) == []
    client.send(b"b")  # more arrived while still readable: a new edge
    assert ep.collect(8) == [(L.POLLIN, 7)]


def test_fionread_on_an_epoll_fd_is_what_the_kernel_says():
    """FIONREAD is not the generic code's for a non-regular file, so the epoll file's own
    ioctl answers; compared with the host kernel's answer where there is one."""
    import array
    import fcntl
    import select
    import termios

    from harness.kernel.sys_file import sys_ioctl

    class Memory:
        def read(self, address, size):
            return bytes(size)

        def write(self, address, data):
            pass

    kernel = Kernel()
    kernel.mem = Memory()
    fd = kernel.fds.install(Epoll(kernel.fds))
    got = sys_ioctl(kernel, fd, L.FIONREAD, 0x1000)
    assert got == -L.EINVAL
    if sys.platform.startswith("linux"):
        with select.epoll() as ep:
            with pytest.raises(OSError) as info:
                fcntl.ioctl(ep.fileno(), termios.FIONREAD, array.array("i", [0]))
        assert -info.value.errno == got


def test_an_eventfd_is_readable_with_a_count_and_writable_while_one_more_fits():
    """eventfd_poll (fs/eventfd.c): POLLIN when the counter is above 0, POLLOUT while
    ULLONG_MAX - 1 - count >= 1."""
    from harness.kernel.sys_eventfd import EventFd

    ev = EventFd(0, semaphore=False, nonblock=True)
    assert ev.poll() == L.POLLOUT | L.POLLWRNORM
    assert ev.write((7).to_bytes(8, "little")) == 8
    assert ev.poll() == L.POLLIN | L.POLLRDNORM | L.POLLOUT | L.POLLWRNORM
    assert ev.write((0xFFFFFFFFFFFFFFFE - 7).to_bytes(8, "little")) == 8
    assert ev.poll() == L.POLLIN | L.POLLRDNORM
    assert ev.write((1).to_bytes(8, "little")) == -L.EAGAIN
