"""The emitted server on the real Linux kernel, with real clients (x86 Linux only); the
tests that take ``arch`` run for the i386 and the x86-64 program (the latter on an x86-64
kernel only).

Every server here listens on 127.0.0.1, on a port the kernel has just called free, and is
killed when its test ends (the ``servers`` fixture).
"""

from __future__ import annotations

import http.client
import resource
import socket
import struct
import subprocess
import time

from generator import Page, ServerConfig, build_server, default_page, http_response
from generator.site import Response
from support import LOOPBACK, env_without_proxy, header, parse_response, tool, wait_listening


def get(port: int) -> tuple[int, bytes, http.client.HTTPResponse]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read(), resp
    finally:
        conn.close()


def test_http_client_gets_the_page(servers):
    served = servers.start(default_page())
    status, body, resp = get(served.port)
    assert status == 200
    assert body == served.page.body
    assert resp.getheader("Content-Length") == str(len(body))
    assert resp.getheader("Content-Type") == "text/html; charset=utf-8"


def test_the_exact_response_bytes_arrive(arch, servers):
    served = servers.start(default_page())
    assert served.fetch_raw() == served.response


def test_curl_gets_the_exact_bytes(arch, servers):
    served = servers.start(default_page())
    out = subprocess.run(
        [tool("curl"), "--silent", "--show-error", "--include", "--max-time", "10",
         f"http://{LOOPBACK}:{served.port}/"],
        capture_output=True, check=True, env=env_without_proxy())
    # curl speaks HTTP/1.1 without Connection: close: the kept-alive answer, then curl
    # closes the connection itself.
    assert out.stdout == Response.of(served.page).sent(keep_alive=True)


def test_500_sequential_connections_are_all_answered(servers):
    served = servers.start(default_page())
    for i in range(500):
        status, body, _ = get(served.port)
        assert (status, body) == (200, served.page.body), f"connection {i}"
    assert served.proc.poll() is None


def test_utf8_page_length_is_right_per_h11(arch, servers, utf8_page):
    served = servers.start(utf8_page)
    response, body = parse_response(served.fetch_raw())
    assert response.status_code == 200
    assert body == utf8_page.body
    assert int(header(response, "content-length")) == len(utf8_page.body)


def test_a_second_instance_on_the_same_port_exits_1_with_one_line(arch, servers):
    served = servers.start(default_page())
    second = servers.spawn(served.path)
    assert second.wait(timeout=5) == 1
    assert second.stderr.read() == b"bind() failed: errno 98\n"  # EADDRINUSE
    assert second.stdout.read() == b""
    assert served.fetch_raw() == served.response, "the first instance still serves"


def test_an_address_that_is_not_local_is_reported(arch, servers, tmp_path):
    path = tmp_path / "foreign.elf"
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): no host has it, so bind fails; nothing is sent.
    path.write_bytes(build_server(http_response(default_page()),
                                  ServerConfig(port=8080, bind="192.0.2.1", arch=arch)))
    path.chmod(0o755)
    proc = servers.spawn(path)
    assert proc.wait(timeout=5) == 1
    assert proc.stderr.read() == b"bind() failed: errno 99\n"  # EADDRNOTAVAIL


def test_restart_right_after_heavy_traffic_binds(arch, servers):
    served = servers.start(default_page())
    for _ in range(300):
        assert served.fetch_raw() == served.response
    # The server closed each connection first, so its side sits in TIME_WAIT now;
    # without SO_REUSEADDR the next bind would fail with EADDRINUSE.
    served.proc.kill()
    served.proc.wait(timeout=5)
    again = servers.spawn(served.path)
    wait_listening(again, served.port)
    assert served.fetch_raw() == served.response


def test_a_client_that_resets_mid_response_does_not_kill_it(arch, servers):
    """A client that half-closes after its request (as ``nc -N`` does) puts the server's
    socket in CLOSE_WAIT; a reset then makes the next write fail with EPIPE, and the
    kernel raises SIGPIPE with it (tcp_reset and sk_stream_error in net/ipv4/), which
    kills a program that does not ignore it."""
    big = Page.make(b"x" * (4 << 20), "application/octet-stream")
    served = servers.start(big)
    for _ in range(3):
        s = socket.create_connection((LOOPBACK, served.port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        assert s.recv(16)  # the response has started; 4 MiB cannot fit in socket buffers
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset, while the server is still writing
    time.sleep(0.2)
    assert served.proc.poll() is None, "SIGPIPE or a write error killed the server"
    raw = served.fetch_raw(timeout=20)
    assert len(raw) == len(served.response) and raw == served.response


def test_empty_connections_do_not_stop_the_loop(arch, servers):
    served = servers.start(default_page())
    for _ in range(20):
        socket.create_connection((LOOPBACK, served.port), timeout=5).close()
    assert served.fetch_raw() == served.response


def test_a_failing_accept4_keeps_the_loop_alive(arch, servers, tmp_path):
    """With RLIMIT_NOFILE at 5 (fds 0-4: stdio, the listening socket and the epoll
    instance), every accept4 fails with EMFILE.  The program must neither crash nor use
    the negative result."""
    path, _, port = servers.build(default_page())

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (5, 5))

    proc = servers.spawn(path, preexec_fn=limit)
    deadline = time.monotonic() + 5
    while True:
        try:
            c = socket.create_connection((LOOPBACK, port), timeout=1)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.01)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    assert proc.poll() is None, f"accept4 failure ended the program ({proc.returncode})"
    c.settimeout(0.2)
    try:
        assert c.recv(1) == b"", "no response can come without an fd for the client"
    except socket.timeout:
        pass
    c.close()


def test_the_url_is_on_stderr_once_it_listens(arch, servers):
    """Issue 9's banner: where to point a browser, one line on stderr, nothing on stdout."""
    served = servers.start(default_page())
    assert served.proc.stderr.readline() == f"http://{LOOPBACK}:{served.port}/\n".encode()
    assert served.fetch_raw() == served.response


def test_the_soft_fd_limit_is_raised_to_the_hard_one(arch, servers):
    """setrlimit at start: the 1,024 fds a process starts with must not run out before the
    table of connections does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = min(64, soft)

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))

    path, response, port = servers.build(default_page())
    proc = servers.spawn(path, preexec_fn=lower)
    wait_listening(proc, port)
    assert resource.prlimit(proc.pid, resource.RLIMIT_NOFILE) == (hard, hard)
