"""``webelf serve`` against a real browser: headless Chromium loads the default site from
the emulated server through the bridge on a real 127.0.0.1 port, follows the link to the
second page, and the access log on serve's stdout shows both requests.

No native i386 execution: serve runs the ELF in the emulator, on any OS.  What it needs is
selenium, chromium and chromedriver (a missing one skips, naming its package).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time

from browser import follow_the_link
from generator import ServerConfig, build_server, default_site
from generator.site import Response
from support import LOOPBACK, free_port

#: serve's first stdout line; the port is parsed from it, as the OS may have picked it.
SERVING = re.compile(r"webelf: serving \S+ at (http://127\.0\.0\.1:(\d+))/ \(.*\)")
#: One line of the Common Log Format (mod_log_config's ``common``): the request line with
#: ``"`` and ``\`` escaped, the status (``-`` if never answered), the body size (``-`` if 0).
CLF = re.compile(r'^\S+ - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                 r'"(?:[^"\\]|\\.)*" (?:\d{3}|-) (?:\d+|-)$')
#: How long the emulated guest may take to start listening on a slow, shared machine.
START_TIMEOUT = 60.0


def body_length(path: str) -> int:
    """The body bytes of the default site's response at ``path``: the access log's ``%b``."""
    data = Response.of(dict(default_site().routes)[path]).data
    return len(data) - (data.index(b"\r\n\r\n") + 4)


def access_line(path: str, status: int, size: int) -> re.Pattern[str]:
    return re.compile(r'^\S+ - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                      rf'"GET {re.escape(path)} HTTP/1.1" {status} {size}$', re.MULTILINE)


def first_line(proc: subprocess.Popen, timeout: float) -> tuple[str, bytes]:
    """serve's first stdout line, and whatever followed it in the same read; never waits
    past ``timeout`` (a serve that hangs or dies before it prints fails the test)."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            assert left > 0, f"serve printed no line within {timeout:.0f} s (so far: {buf!r})"
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                proc.wait(timeout=10)
                raise AssertionError(
                    f"serve exited {proc.returncode} before its first line (so far: {buf!r}); "
                    f"stderr: {proc.stderr.read().decode()!r}")
            buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line.decode(), rest


def test_headless_chromium_through_webelf_serve(tmp_path):
    elf = tmp_path / "site.elf"
    elf.write_bytes(build_server(default_site(), ServerConfig(port=free_port(), bind=LOOPBACK)))
    elf.chmod(0o755)
    port = free_port()
    with subprocess.Popen(
            [sys.executable, "-m", "webelf", "serve", str(elf), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            started = time.monotonic()
            line, early = first_line(proc, START_TIMEOUT)
            ready = time.monotonic() - started
            match = SERVING.fullmatch(line)
            assert match, f"serve's first line is not the serving line: {line!r}"
            url = match.group(1)
            assert int(match.group(2)) == port

            browsing = time.monotonic()
            follow_the_link(url, tmp_path, "chromium-serve-about.png")
            browsed = time.monotonic() - browsing

            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
            assert proc.returncode == 0, f"serve exited {proc.returncode}; stderr: {err.decode()!r}"
            log = (early + out).decode()
            print(f"serve ready in {ready:.2f} s; chromium's visit took {browsed:.2f} s\n{log}")
            lines = log.splitlines()
            assert lines, "serve logged no request"
            assert [bad for bad in lines if not CLF.match(bad)] == []
            assert access_line("/", 200, body_length("/")).search(log), log
            assert access_line("/about", 200, body_length("/about")).search(log), log
            # the click came after the home page: its line is logged after the first one for /
            assert (access_line("/", 200, body_length("/")).search(log).start()
                    < access_line("/about", 200, body_length("/about")).search(log).start())
        finally:  # Popen's exit then closes the pipes and reaps it
            if proc.poll() is None:
                proc.kill()
