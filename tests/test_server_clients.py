"""The generated server against real clients on the real kernel (x86 Linux only): the
traffic that kills the seed's server -- big cookies, resets, silent clients, load, a
browser that follows a link.  The tests that take ``arch`` run for the i386 and the x86-64
program.

Every server here listens on 127.0.0.1 on a free port and is stopped by the ``servers``
fixture; the browser runs headless with networking features off, pointed at it alone.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import time
from pathlib import Path

from browser import follow_the_link
from generator import ServerConfig, build_server, default_site
from generator.site import Response
from support import LOOPBACK, env_without_proxy, free_port, tool, wait_listening


def start_site(servers, tmp_path: Path, idle_timeout: int = 5, header_timeout: int = 10):
    """The default site, natively, built for the architecture the ``servers`` fixture
    was given (the test's ``arch``, else i386)."""
    port = free_port()
    path = tmp_path / "site.elf"
    path.write_bytes(build_server(default_site(), ServerConfig(
        port=port, bind=LOOPBACK, idle_timeout=idle_timeout, header_timeout=header_timeout,
        arch=servers.arch)))
    path.chmod(0o755)
    proc = servers.spawn(path)
    wait_listening(proc, port)
    return proc, port


def page_response(path: str, keep_alive: bool = True) -> bytes:
    """What an HTTP/1.1 client that does not say Connection: close gets for ``path``."""
    site = default_site()
    page = dict(site.routes)[path]
    return Response.of(page).sent(keep_alive=keep_alive)


def fetch(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """One request, then half-close (as ``nc -N``): the server answers and, reading the
    end of file, closes."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_curl_with_a_6_kib_cookie_gets_the_whole_page(arch, servers, tmp_path):
    """The seed's server read 1024 bytes and closed with the rest unread: a reset, and
    the browser may never show the page.  This one reads the whole head first."""
    _, port = start_site(servers, tmp_path)
    cookie = "session=" + "c" * 6144
    out = subprocess.run(
        [tool("curl"), "--silent", "--show-error", "--include", "--max-time", "10",
         "--header", f"Cookie: {cookie}", f"http://{LOOPBACK}:{port}/"],
        capture_output=True, check=True, env=env_without_proxy())
    assert out.stdout == page_response("/")


def test_a_head_larger_than_the_buffer_gets_431_not_a_reset(arch, servers, tmp_path):
    _, port = start_site(servers, tmp_path)
    request = b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n"
    response = fetch(port, request)
    assert response.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_a_client_that_resets_before_reading_does_not_kill_it(arch, servers, tmp_path):
    proc, port = start_site(servers, tmp_path)
    for _ in range(20):
        s = socket.create_connection((LOOPBACK, port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST at once, before the response could be read
    time.sleep(0.2)
    assert proc.poll() is None
    assert fetch(port, b"GET /about HTTP/1.1\r\nHost: x\r\n\r\n") == page_response("/about")


def test_an_idle_client_does_not_block_the_next_visitor(arch, servers, tmp_path):
    """One client connects and says nothing.  The next is served at once, and the silent
    one is dropped, without an answer, once its head deadline (1 s here) has passed."""
    _, port = start_site(servers, tmp_path, header_timeout=1)
    idle = socket.create_connection((LOOPBACK, port), timeout=10)
    try:
        started = time.monotonic()
        response = fetch(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        waited = time.monotonic() - started
        assert response == page_response("/")
        assert waited < 0.5, f"served after {waited:.1f}s, behind a silent client"
        assert idle.recv(1) == b"", "the idle client was dropped without an answer"
        assert time.monotonic() - started < 1 + 2
    finally:
        idle.close()


def test_ab_10000_requests_all_2xx(servers, tmp_path):
    _, port = start_site(servers, tmp_path)
    out = subprocess.run([tool("ab"), "-q", "-n", "10000", "-c", "4", "-s", "10",
                          f"http://{LOOPBACK}:{port}/"],
                         capture_output=True, text=True, timeout=120, env=env_without_proxy())
    assert out.returncode == 0, out.stderr
    assert re.search(r"Complete requests:\s+10000\b", out.stdout)
    assert re.search(r"Failed requests:\s+0\b", out.stdout)
    assert "Non-2xx responses" not in out.stdout
    length = len(default_site().routes[0][1].body)
    assert re.search(rf"Document Length:\s+{length} bytes", out.stdout)


def test_ab_keep_alive_reuses_http_1_0_connections(arch, servers, tmp_path):
    """ab speaks HTTP/1.0; with -k it sends ``Connection: Keep-Alive`` and counts the
    responses that said ``Connection: keep-alive`` and left the connection open.  All of
    them must, or ab (which then reconnects) would count fewer."""
    _, port = start_site(servers, tmp_path)
    out = subprocess.run([tool("ab"), "-q", "-k", "-n", "2000", "-c", "4", "-s", "10",
                          f"http://{LOOPBACK}:{port}/"],
                         capture_output=True, text=True, timeout=120, env=env_without_proxy())
    assert out.returncode == 0, out.stderr
    assert re.search(r"Complete requests:\s+2000\b", out.stdout)
    assert re.search(r"Failed requests:\s+0\b", out.stdout)
    assert re.search(r"Keep-Alive requests:\s+2000\b", out.stdout), out.stdout


def test_headless_chromium_follows_the_link_to_the_second_page(servers, tmp_path):
    """A real browser loads /, clicks the link, and lands on /about; the screenshot is
    kept in artifacts/ for a human to look at."""
    _, port = start_site(servers, tmp_path)
    follow_the_link(f"http://{LOOPBACK}:{port}", tmp_path, "chromium-about.png")
