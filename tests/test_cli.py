"""``webelf build``: what a user types, what lands on disk, and one-line errors with status 2."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from generator import Page, default_page, http_response
from support import LOOPBACK, Served, free_port, wait_listening


def webelf(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "webelf", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def test_build_writes_an_executable_with_the_default_page(tmp_path):
    out = tmp_path / "site.elf"
    result = webelf("build", "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert result.stderr == (f"webelf: wrote {out} ({len(data)} bytes): {out} serves "
                             "http://localhost:8080/\n")
    assert data[:4] == b"\x7fELF"
    assert http_response(default_page()) in data
    assert os.stat(out).st_mode & stat.S_IXUSR
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def test_build_with_a_page_port_and_type(tmp_path):
    page = tmp_path / "notes.txt"
    page.write_text("plain words, ünïcode\n", encoding="utf-8")
    out = tmp_path / "t.elf"
    result = webelf("build", "--html", str(page), "--port", "9999", "--bind", "127.0.0.1",
                    "--content-type", "text/plain", "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert http_response(Page.make(page.read_bytes(), "text/plain")) in data
    assert b"text/plain; charset=utf-8" in data
    sockaddr = bytes([2, 0, 9999 >> 8, 9999 & 0xFF, 127, 0, 0, 1]) + bytes(8)
    assert sockaddr in data, "port and address in network byte order"


def test_help_documents_every_option():
    result = webelf("build", "--help")
    assert result.returncode == 0
    for option in ("--html FILE", "--site DIR", "--port N", "--bind ADDR",
                   "--content-type TYPE", "--idle-timeout S", "--arch ARCH", "-o OUT"):
        assert option in result.stdout
    assert "8080" in result.stdout and "0.0.0.0" in result.stdout
    words = " ".join(result.stdout.split())
    assert "or x86_64 (a 64-bit ELF for x86-64 Linux)" in words and "(default: i386)" in words
    assert "exit status" in result.stdout


@pytest.mark.parametrize("args,fragment", [
    (["build", "--port", "0", "-o", "x"], "outside 1..65535"),
    (["build", "--port", "65536", "-o", "x"], "outside 1..65535"),
    (["build", "--port", "http", "-o", "x"], "not a number"),
    (["build", "--bind", "localhost", "-o", "x"], "not a dotted IPv4"),
    (["build", "--bind", "10.0.0.256", "-o", "x"], "not a dotted IPv4"),
    (["build", "--bind", "::1", "-o", "x"], "not a dotted IPv4"),
    (["build", "--html", "/nonexistent/page.html", "-o", "x"], "cannot read"),
    (["build", "--content-type", "text/html\r\nX: y", "-o", "x"], "cannot carry"),
    (["build"], "required: -o"),
    (["build", "--frobnicate", "-o", "x"], "unrecognized arguments"),
    ([], "required: COMMAND"),
    (["launch"], "invalid choice"),
    (["build", "-o", "/nonexistent-dir/site.elf"], "cannot write"),
    (["build", "--site", "/nonexistent-dir", "-o", "x"], "is not a directory"),
    (["build", "--site", ".", "--html", "a.html", "-o", "x"], "not allowed with"),
    (["build", "--idle-timeout", "0", "-o", "x"], "outside 1..86400 seconds"),
    (["build", "--arch", "arm64", "-o", "x"], "'arm64' is neither i386 nor x86_64"),
    (["build", "--arch", "", "-o", "x"], "is neither i386 nor x86_64"),
])
def test_bad_input_is_one_line_and_status_2(args, fragment, tmp_path):
    result = webelf(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("webelf: error: ") and fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_page_that_is_not_utf8_is_refused_with_status_2(tmp_path):
    page = tmp_path / "latin1.html"
    page.write_bytes("<p>café</p>".encode("latin-1"))
    result = webelf("build", "--html", str(page), "-o", str(tmp_path / "x"))
    assert result.returncode == 2 and "not valid UTF-8" in result.stderr


def test_the_built_program_serves_what_was_asked(arch, servers, tmp_path):
    page = tmp_path / "index.html"
    page.write_text("<h1>built from the command line</h1>", encoding="utf-8")
    port = free_port()
    out = tmp_path / "cli.elf"
    assert webelf("build", "--html", str(page), "--port", str(port), "--bind", LOOPBACK,
                  "--arch", arch, "-o", str(out)).returncode == 0
    assert out.read_bytes()[4] == (2 if arch == "x86_64" else 1)  # ELFCLASS64 or 32
    proc = servers.spawn(out)
    wait_listening(proc, port)
    expected = Page.make(page.read_bytes())
    served = Served(proc, port, out, http_response(expected), expected)
    assert served.fetch_raw() == served.response


@pytest.mark.parametrize("spelling", ["x86_64", "x86-64"])
def test_build_arch_x86_64_writes_an_elf64(spelling, tmp_path):
    out = tmp_path / "site64.elf"
    result = webelf("build", "--arch", spelling, "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    assert data[:5] == b"\x7fELF\x02" and int.from_bytes(data[18:20], "little") == 62
    assert http_response(default_page()) in data
    assert result.stderr.startswith(f"webelf: wrote {out} ({len(data)} bytes): ")
    assert webelf("build", "-o", str(tmp_path / "i386.elf")).returncode == 0
    assert (tmp_path / "i386.elf").read_bytes()[4] == 1, "i386 stays the default"


def test_build_a_site_from_a_directory(tmp_path):
    site = tmp_path / "public"
    site.mkdir()
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "about.html").write_text("<h1>about</h1>")
    out = tmp_path / "site.elf"
    result = webelf("build", "--site", str(site), "--idle-timeout", "9", "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    for body in (b"<h1>home</h1>", b"<h1>about</h1>"):
        assert http_response(Page.make(body)) in data
    assert b"\x06/about" in data and b"\x0b/about.html" in data  # the route table
    assert b"\x83\xc0\x09" in data  # add eax, 9: the idle deadline, now + 9 s
