"""The regression suite: every captured request against every site, byte for byte.

Data (all in fixtures/):

- ``requests/*.http`` and ``requests/index.toml``: real clients' requests, captured with
  ``webelf capture``, and synthetic edge cases; the manifest says how each is sent.
- ``sites/<name>/index.html`` and the built-in page (site ``default``): what is served.
- ``expected/<site>/<request>.http``: the exact response.  ``golden/<site>.lst``: the
  ``webelf disasm`` listing of the site's executable.

``pytest --update-goldens`` rewrites expected responses and listings from the current
code.  A new or changed response is written only once h11 accepts it and, on x86 Linux,
the real kernel running the same ELF sent the very same bytes; elsewhere the update is
refused.  Without the flag nothing is ever written: a missing file is a failure.
"""

from __future__ import annotations

import difflib
import re
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import h11
import pytest

from generator import Page, ServerConfig, Site, build_server, default_site, http_response
from harness import Guest, NetError
from harness.elf import load
from harness.http import check_response, diff_bytes, split_responses
from harness.trace import listing
from support import (
    FIXTURES, LOOPBACK, NATIVE, NATIVE_REASON, free_port, request_manifest, wait_listening,
)


REQUESTS = FIXTURES / "requests"
EXPECTED = FIXTURES / "expected"
GOLDEN = FIXTURES / "golden"
SITES_DIR = FIXTURES / "sites"
UPDATE_HINT = "accept an intended change with: pytest --update-goldens"


@dataclass(frozen=True)
class Request:
    name: str
    data: bytes
    send: str  # "whole", "bytewise" or "none"


def _requests() -> list[Request]:
    manifest = {"request": request_manifest()}
    return [Request(e["name"], (REQUESTS / f"{e['name']}.http").read_bytes(), e["send"])
            for e in manifest["request"]]


def _sites() -> dict[str, Site]:
    """The built-in site, and each directory of fixtures/sites as ``webelf build --site``
    reads it."""
    sites = {"default": default_site()}
    for d in sorted(p for p in SITES_DIR.iterdir() if p.is_dir()):
        sites[d.name] = Site.from_dir(d)
    return sites


REQUEST_LIST = _requests()
SITES = _sites()
CASES = [pytest.param(r, s, id=f"{r.name}-{s}") for s in SITES for r in REQUEST_LIST]
#: The architectures ``webelf build --arch`` writes; the expected responses are the same
#: bytes for both (the emulator runs either on any host).
ARCHS = ("i386", "x86_64")


@lru_cache(maxsize=None)
def program(site: str, port: int = 8080, bind: str = "0.0.0.0", arch: str = "i386") -> bytes:
    return build_server(SITES[site], ServerConfig(port=port, bind=bind, arch=arch))


# ---------------------------------------------------------------------- replaying

def replay_emulated(site: str, request: Request, arch: str = "i386") -> bytes:
    """The response the emulated ELF sends; the request is sent as the manifest says."""
    guest = Guest(program(site, arch=arch))
    guest.start()
    if request.send == "whole":
        return guest.request(request.data)
    client = guest.connect()
    if request.send == "bytewise":
        for i in range(len(request.data)):
            try:
                client.send(request.data[i:i + 1])
            except NetError:
                break  # the guest answered and closed before the request was over
            guest.run()
    if not client.closed_by_peer:
        client.shutdown_write()  # "none": connect, send nothing, close the sending side
        guest.run()
    return client.recv_all()


def replay_native(port: int, request: Request, timeout: float = 10.0) -> bytes:
    """The response the real kernel's process sends.  "bytewise" is sent whole here: one
    byte per segment is not something loopback sockets can promise."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        if request.send != "none":
            s.sendall(request.data)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


class NativeSite:
    """One native server per site and worker, on 127.0.0.1 and a free port."""

    def __init__(self, tmp: Path, site: str) -> None:
        import subprocess

        self.port = free_port()
        path = tmp / f"{site}.elf"
        path.write_bytes(program(site, self.port, LOOPBACK))
        path.chmod(0o755)
        self.proc = subprocess.Popen([str(path)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_listening(self.proc, self.port)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stderr.close()


@pytest.fixture(scope="module")
def native_sites(tmp_path_factory):
    if not NATIVE:
        pytest.skip(NATIVE_REASON)
    started: dict[str, NativeSite] = {}
    tmp = tmp_path_factory.mktemp("native")

    def get(site: str) -> NativeSite:
        if site not in started:
            started[site] = NativeSite(tmp, site)
        return started[site]

    yield get
    for s in started.values():
        s.stop()


# ---------------------------------------------------------------------- expected files

def expected_path(site: str, request: Request) -> Path:
    return EXPECTED / site / f"{request.name}.http"


def expected_response(site: str, request: Request, update: bool, native_sites) -> bytes:
    """The committed response; with --update-goldens, first (re)written from the emulator
    once h11 and the native kernel have agreed with it."""
    path = expected_path(site, request)
    if update:
        response = replay_emulated(site, request)
        if not path.exists() or path.read_bytes() != response:
            heads = _request_count(request.data)
            for piece in split_responses(response, [_method(request)] * heads) if response \
                    else ():
                report = check_response(piece, _method(request))
                assert not report.problems, f"h11 refuses the new response: {report.problems}"
            if not NATIVE:
                pytest.fail(f"{path} needs an update, and only the real kernel can confirm it: "
                            f"run pytest --update-goldens on x86 Linux ({NATIVE_REASON})")
            native = replay_native(native_sites(site).port, request)
            assert native == response, "the real kernel sends other bytes than the emulator:\n" \
                + (diff_bytes(native, response) or "")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(response)
    if not path.exists():
        pytest.fail(f"{path} is missing; {UPDATE_HINT}")
    return path.read_bytes()


def _request_count(data: bytes) -> int:
    """How many complete requests ``data`` holds, back to back, as h11 frames them (a
    pipelined pair is two; a chunked body's last chunk is not a request)."""
    count = 0
    while data:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        try:
            while True:
                event = conn.next_event()
                if isinstance(event, h11.EndOfMessage):
                    count += 1
                    data = bytes(conn.trailing_data[0])
                    break
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return max(count, 1)
        except h11.RemoteProtocolError:
            return max(count, 1)
    return max(count, 1)


def _method(request: Request) -> str:
    """The request's method when it has one (capital letters, then a space); anything
    else is not HTTP, and its answer is judged as a response to GET."""
    method = request.data.split(b" ", 1)[0]
    if request.data.startswith(method + b" ") and method.isalpha() and method.isupper():
        return method.decode("ascii")
    return "GET"


def native_or_none(request: pytest.FixtureRequest):
    return request.getfixturevalue("native_sites") if NATIVE else None


# ---------------------------------------------------------------------- the tests

@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("req,site", CASES)
def test_replay(req: Request, site: str, arch: str, update_goldens, request):
    expected = expected_response(site, req, update_goldens, native_or_none(request))
    actual = replay_emulated(site, req, arch)
    difference = diff_bytes(expected, actual)
    if difference is not None:
        pytest.fail(f"response to {req.name} from site {site} ({arch}):\n{difference}\n"
                    f"{UPDATE_HINT}", pytrace=False)


@pytest.mark.parametrize("req,site", CASES)
def test_content_length(req: Request, site: str, update_goldens, request):
    """Valid HTTP/1.1 by h11, and a Content-Length that frames the expected body: a page
    changed without its expected response fails here as well as in test_replay."""
    expected = expected_response(site, req, update_goldens, native_or_none(request))
    actual = replay_emulated(site, req)
    if not expected and not actual:
        return  # no request, no response: an empty connection is just closed
    method = _method(req)
    heads = _request_count(req.data)
    if heads > 1:  # pipelined: each response, as its own request frames it
        pieces = split_responses(actual, [method] * heads)
        assert len(pieces) == heads, f"{len(pieces)} responses to {heads} requests"
        assert pieces == split_responses(expected, [method] * heads)
        for piece in pieces:
            report = check_response(piece, method)
            assert not report.problems, report.problems
            assert int(report.header("content-length")) == len(report.body)
        return
    report = check_response(actual, method)
    assert not report.problems, report.problems
    declared = int(report.header("content-length"))
    if method == "HEAD":
        # The head of what GET would get: Content-Length is that body's length, with no
        # body here [RFC 9110 9.3.2, 8.6].
        as_get = Request(req.name, b"GET" + req.data[4:], req.send)
        body = check_response(replay_emulated(site, as_get)).body
        assert report.body == b""
    else:
        body = report.body
    expected_report = check_response(expected, method)
    expected_body = expected_report.body if method != "HEAD" else body
    if declared != len(body):
        pytest.fail(f"Content-Length {declared} but the body has {len(body)} bytes",
                    pytrace=False)
    if expected_report.header("content-length") != str(declared) or len(expected_body) != declared:
        pytest.fail(f"Content-Length {declared} but the expected response says "
                    f"{expected_report.header('content-length')}; {UPDATE_HINT}", pytrace=False)


@pytest.mark.parametrize("req,site", CASES)
def test_native_sends_the_same_bytes(req: Request, site: str, native_sites):
    expected = expected_response(site, req, False, None)
    actual = replay_native(native_sites(site).port, req)
    difference = diff_bytes(expected, actual)
    if difference is not None:
        pytest.fail(f"the real kernel's response to {req.name} from {site}:\n{difference}",
                    pytrace=False)


def listing_of(site: str, arch: str = "i386") -> str:
    return listing(load(program(site, arch=arch)))


def golden_path(site: str, arch: str) -> Path:
    """``golden/<site>.lst`` for i386 (the first architecture), ``<site>.<arch>.lst``
    for the others."""
    return GOLDEN / (f"{site}.lst" if arch == "i386" else f"{site}.{arch}.lst")


def _shape(line: str) -> str:
    """An instruction line without what a layout change moves: the address and the
    operands.  ``080480af:  99   cdq`` -> ``1 cdq`` (length in bytes, mnemonic)."""
    if line.startswith(";"):
        return re.sub(r"0x[0-9a-f]+", "0x_", line)  # a segment's bounds move too
    parts = line.split(None, 3)
    if len(parts) < 3:
        return line
    return f"{len(parts[1]) // 2} {parts[2]}"


def listing_diff(expected: str, actual: str, site: str, limit: int = 40) -> str | None:
    """None if equal; otherwise the changed instruction first, then a unified diff.

    A changed encoding moves every address after it, so most lines of a plain diff
    change; the instruction whose length or mnemonic changed is the cause, and it is named
    first.  Lines whose only change is an operand (a moved address) are its consequences.
    """
    if expected == actual:
        return None
    old, new = expected.splitlines(), actual.splitlines()
    matcher = difflib.SequenceMatcher(None, [_shape(x) for x in old], [_shape(x) for x in new],
                                      autojunk=False)
    cause = next((op for op in matcher.get_opcodes() if op[0] != "equal"), None)
    if cause is not None:
        _, i1, i2, j1, j2 = cause
        was = "\n".join(f"    was: {x}" for x in old[i1:i2]) or "    was: (nothing)"
        now = "\n".join(f"    now: {x}" for x in new[j1:j2]) or "    now: (nothing)"
        head = f"changed instruction in {site}:\n{was}\n{now}"
    else:
        head = f"only operands changed in {site} (addresses or constants moved)"
    lines = list(difflib.unified_diff(old, new, f"golden/{site}.lst", f"{site} now", n=1,
                                      lineterm=""))
    more = f"\n... {len(lines) - limit} more diff lines" if len(lines) > limit else ""
    return head + "\n" + "\n".join(lines[:limit]) + more


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("site", list(SITES))
def test_golden_listing(site: str, arch: str, update_goldens):
    path = golden_path(site, arch)
    actual = listing_of(site, arch)
    if update_goldens and (not path.exists() or path.read_text() != actual):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    if not path.exists():
        pytest.fail(f"{path} is missing; {UPDATE_HINT}")
    difference = listing_diff(path.read_text(), actual, site)
    if difference is not None:
        pytest.fail(f"the emitted code changed:\n{difference}\n{UPDATE_HINT}", pytrace=False)


# ---------------------------------------------------------------------- the suite itself

def test_corpus_has_real_and_synthetic_requests():
    manifest = request_manifest()
    assert sum(e["kind"] == "real" for e in manifest) >= 10
    assert sum(e["kind"] == "synthetic" for e in manifest) >= 8


@pytest.mark.parametrize("arch, first", [("i386", "push 0x30"), ("x86_64", "push 0xd")])
def test_a_changed_encoding_fails_with_a_diff_naming_the_instruction(monkeypatch, arch, first):
    """What a contributor sees when an encoding changes: the listing diff shows the old
    and the new instruction.  Here push imm8 is made to use its 32-bit form (68 id)."""
    from generator import x86

    site = "default"
    before = listing_of(site, arch)
    original = x86.Assembler.push

    def push_imm32(self, src):
        if isinstance(src, int):
            return self._emit(b"\x68" + (src & 0xFFFFFFFF).to_bytes(4, "little"))
        return original(self, src)

    monkeypatch.setattr(x86.Assembler, "push", push_imm32)
    program.cache_clear()
    try:
        after = listing_of(site, arch)
    finally:
        program.cache_clear()
    difference = listing_diff(before, after, site)
    assert difference is not None
    head = difference.splitlines()[:3]
    assert head[0] == "changed instruction in default:"
    imm = int(first.split()[-1], 16)
    assert head[1].startswith("    was: ") and f" 6a{imm:02x} " in head[1] and first in head[1]
    assert head[2].startswith("    now: ") and f" 68{imm:02x}000000 " in head[2] \
        and first in head[2]


def test_a_changed_page_fails_the_byte_and_length_checks():
    """Edit a page without regenerating its expected responses: both checks object."""
    site, req = "utf8", next(r for r in REQUEST_LIST if r.name == "curl")
    expected = expected_path(site, req).read_bytes()
    page = dict(SITES[site].routes)["/"]
    edited = http_response(Page.make(page.body + b"<!-- one more line -->\n", "text/html"))
    assert diff_bytes(expected, edited) is not None
    declared = int(check_response(edited).header("content-length"))
    assert declared != len(check_response(expected).body)
