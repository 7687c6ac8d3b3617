"""Test helpers: native execution of emitted ELFs, free ports, h11 parsing.

Native tests run the emitted program on the real Linux kernel.  They bind to 127.0.0.1
only, on a port the kernel just handed out as free, and every process they start is
killed and reaped when the test ends, pass or fail.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import h11
import pytest

from generator import Page, ServerConfig, build_server, http_response

LOOPBACK = "127.0.0.1"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Native execution needs a Linux kernel on an x86 CPU (64-bit kernels run i386 ELFs too).
#: WEBELF_NO_NATIVE=1 switches it off on such a host, to see what a macOS, Windows or ARM
#: user gets: every emulated check still runs.
NATIVE_OFF = os.environ.get("WEBELF_NO_NATIVE", "") not in ("", "0")
NATIVE = (not NATIVE_OFF and sys.platform.startswith("linux")
          and platform.machine() in ("x86_64", "i386", "i686", "AMD64"))
NATIVE_REASON = ("native execution is switched off by WEBELF_NO_NATIVE" if NATIVE_OFF else
                 f"runs an i386 Linux ELF natively; this host is {sys.platform}/"
                 f"{platform.machine()}, which cannot execute it")
native = pytest.mark.skipif(not NATIVE, reason=NATIVE_REASON)


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running native server and what it was built from."""

    proc: subprocess.Popen
    port: int
    path: Path
    response: bytes
    page: Page

    def fetch_raw(self, request: bytes | None = None, timeout: float = 5.0) -> bytes:
        """Send one request on a fresh connection and read until the server closes."""
        request = request or f"GET / HTTP/1.1\r\nHost: {LOOPBACK}:{self.port}\r\n\r\n".encode()
        with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
            s.sendall(request)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@dataclass
class NativeServers:
    """Starts emitted programs and guarantees they are all stopped afterwards."""

    tmp: Path
    procs: list = field(default_factory=list)

    def build(self, page: Page, port: int | None = None, name: str = "site.elf") -> tuple[Path, bytes, int]:
        port = port or free_port()
        response = http_response(page)
        path = self.tmp / name
        path.write_bytes(build_server(response, ServerConfig(port=port, bind=LOOPBACK)))
        path.chmod(0o755)
        return path, response, port

    def spawn(self, path: Path, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        return proc

    def start(self, page: Page, port: int | None = None, **kwargs) -> Served:
        path, response, port = self.build(page, port)
        proc = self.spawn(path, **kwargs)
        wait_listening(proc, port)
        return Served(proc, port, path, response, page)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            for pipe in (proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 5.0) -> None:
    """Return once ``port`` accepts connections; fail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}: {proc.stderr.read()!r}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.2):
                return  # this empty connection is itself served: it is read as end of file
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"nothing listens on {LOOPBACK}:{port} after {timeout}s")


def parse_response(raw: bytes, method: str = "GET"):
    """Parse one response with h11, as a client that sent ``method /``; returns
    (h11.Response, body) and asserts that no byte follows the framed body."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    response, body = None, b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
        elif event is h11.NEED_DATA:
            raise AssertionError("response ended before its Content-Length was reached")
    leftover, _closed = conn.trailing_data
    assert leftover == b"", f"{len(leftover)} bytes after the body that Content-Length framed"
    return response, body


def header(response, name: str) -> bytes | None:
    for key, value in response.headers:
        if key == name.lower().encode():
            return value
    return None


#: The Debian package of each command-line tool the tests use, for the missing-tool message.
PACKAGES = {"ab": "apache2-utils", "chromedriver": "chromium-driver", "readelf": "binutils",
            "ld": "binutils", "objdump": "binutils", "gcc": "gcc-12-multilib"}

#: ``CI=true`` (set by CI services, and by ``.ci/run``): a missing tool is then an
#: installation error and fails the test; anywhere else the test skips and says what to install.
CI = os.environ.get("CI") == "true"


def missing(what: str, remedy: str) -> NoReturn:
    """The one rule for a test whose tool or input is absent: skip, naming ``what`` is missing
    and ``remedy`` (the package to install, or the ``.ci/run`` step that provides it); fail
    instead when ``CI=true``, where the setup is meant to provide everything."""
    message = f"{what} missing: {remedy}"
    if CI:
        pytest.fail(f"{message} (CI=true: a missing tool is an error)")
    pytest.skip(message)


def tool(name: str, package: str | None = None) -> str:
    """Path of a command-line tool the test needs; if absent, :func:`missing` skips (or
    fails under ``CI=true``) naming the Debian package that provides it."""
    path = shutil.which(name)
    if path is None:
        missing(name, f"apt-get install {package or PACKAGES.get(name, name)}")
    return path


def env_without_proxy() -> dict[str, str]:
    """curl must talk to 127.0.0.1 directly, whatever proxy the environment names."""
    env = dict(os.environ)
    for key in list(env):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del env[key]
    env["NO_PROXY"] = "*"
    return env


#: The struct sockaddr_in that fixtures/programs/socketcall_server.elf binds: 127.0.0.1:8080.
SOCKETCALL_SOCKADDR = bytes([2, 0, 0x1F, 0x90, 127, 0, 0, 1])


def socketcall_server(port: int) -> bytes:
    """socketcall_server.elf with its sockaddr patched to listen on ``port``, so native
    runs never contend for 8080; the harness is given the very same bytes."""
    data = (FIXTURES / "programs" / "socketcall_server.elf").read_bytes()
    assert data.count(SOCKETCALL_SOCKADDR) == 1, "the sockaddr_in is not where it was"
    return data.replace(SOCKETCALL_SOCKADDR, SOCKETCALL_SOCKADDR[:2] + port.to_bytes(2, "big")
                        + SOCKETCALL_SOCKADDR[4:])


def request_manifest() -> list[dict]:
    """The ``[[request]]`` tables of fixtures/requests/index.toml (tomllib on Python 3.11
    and later, the tomli backport before)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    text = (FIXTURES / "requests" / "index.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["request"]
