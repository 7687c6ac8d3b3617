"""``webelf capture`` and the request corpus it recorded.

The framing is tested sans-IO (no socket, no sleeping: the idle clock is passed in); the
command itself runs as a subprocess on a free port of 127.0.0.1 and is sent requests with a
real socket; the corpus in ``fixtures/requests/`` is checked against its manifest, and its
synthetic half against the script that writes it.
"""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from harness.capture import MAX_REQUEST, RESPONSE, Recorder, RequestFramer, frame
from support import FIXTURES, LOOPBACK, parse_response, request_manifest

REQUESTS = FIXTURES / "requests"
MANIFEST = request_manifest()
GET = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"
TIMEOUT = 20


def _post(body: bytes, **extra: str) -> bytes:
    head = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in extra.items())
    return (f"POST /f HTTP/1.1\r\nHost: example\r\nContent-Length: {len(body)}\r\n{head}\r\n"
            .encode() + body)


# ---------------------------------------------------------------------- sans-IO framing

def test_a_bodyless_request_is_complete_at_the_empty_line():
    framer = RequestFramer()
    for i, byte in enumerate(GET):
        assert not framer.complete, f"complete after {i} of {len(GET)} bytes"
        framer.feed(bytes([byte]))
    assert framer.complete and framer.length == len(GET)
    assert framer.recorded == GET and framer.extra == 0
    assert framer.request.method == b"GET"


def test_content_length_frames_the_body():
    request = _post(b"0123456789")
    framer = RequestFramer()
    framer.feed(request[:-10])
    assert not framer.complete, "the headers alone do not end a request with a body"
    framer.feed(request[-10:-1])
    assert not framer.complete
    framer.feed(request[-1:] + b"X")
    assert framer.length == len(request) and framer.recorded == request and framer.extra == 1


def test_chunked_body_ends_at_the_last_chunk_and_trailers():
    head = b"POST /u HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"
    framer = frame(head + body[:-2])
    assert not framer.complete, "the trailer section is not over yet"
    framer.feed(body[-2:])
    assert framer.length == len(head + body)


def test_pipelined_requests_leave_the_second_out():
    second = b"GET /two HTTP/1.1\r\nHost: example\r\n\r\n"
    framer = frame(GET + second)
    assert framer.recorded == GET and framer.extra == len(second)


def test_bare_lf_line_endings_are_framed():
    request = b"GET / HTTP/1.1\nHost: example\n\n"
    assert frame(request).length == len(request)


def test_garbage_is_kept_as_it_arrived_and_never_completes():
    noise = bytes(range(256)) * 2
    framer = frame(noise[:100])
    assert framer.error and not framer.complete
    framer.feed(noise[100:])
    assert framer.recorded == noise, "bytes after the rejection are kept too"
    assert not framer.complete


def test_http11_without_host_is_not_valid_but_is_recorded():
    request = b"GET / HTTP/1.1\r\n\r\n"
    framer = frame(request, eof=True)
    assert "Host" in framer.error and framer.recorded == request


def test_idle_timeout_records_what_arrived():
    recorder = Recorder(idle_timeout=2.0, now=100.0)
    recorder.feed(GET[:10], now=100.5)
    recorder.poll(102.4)
    assert not recorder.finished, "2 s have not passed since the last byte"
    recorder.feed(GET[10:20], now=102.0)
    recorder.poll(103.9)
    assert not recorder.finished, "each byte restarts the idle clock"
    assert recorder.deadline == 104.0
    recorder.poll(104.0)
    assert recorder.finished and recorder.timed_out
    assert recorder.framer.recorded == GET[:20]
    assert recorder.summary == "incomplete request, idle for 2 s"


def test_garbage_waits_for_idle_then_says_why():
    recorder = Recorder(idle_timeout=0.5, now=0.0)
    recorder.feed(b"\x16\x03\x01\x02\x00\x01", now=0.0)
    recorder.poll(0.4)
    assert not recorder.finished, "a rejected request is recorded once the client stops"
    recorder.poll(0.5)
    assert recorder.finished
    assert recorder.summary.startswith("not valid HTTP (illegal request line")


def test_a_client_that_closes_early_is_recorded_at_once():
    recorder = Recorder(idle_timeout=2.0, now=0.0)
    recorder.feed(GET[:-2], now=0.0)
    recorder.feed(b"", now=0.1)
    assert recorder.finished and not recorder.timed_out
    assert recorder.framer.recorded == GET[:-2]
    assert recorder.summary == "incomplete request, the client closed"


def test_an_empty_connection_records_nothing():
    recorder = Recorder(idle_timeout=2.0, now=0.0)
    recorder.feed(b"", now=0.0)
    assert recorder.finished and recorder.framer.recorded == b""


def test_a_runaway_body_is_cut_off():
    recorder = Recorder(idle_timeout=2.0, now=0.0, max_bytes=1000)
    recorder.feed(_post(b"x" * 5000)[:1200], now=0.0)
    assert recorder.finished and recorder.summary.endswith("cut off at 1000 bytes")
    assert MAX_REQUEST >= 1 << 20


def test_expect_100_continue_is_noticed():
    framer = frame(_post(b"abc", Expect="100-continue")[:-3])
    assert framer.wants_continue
    framer.feed(b"abc")
    assert framer.complete and not framer.wants_continue


def test_the_summary_names_the_request_and_the_extra_bytes():
    recorder = Recorder(idle_timeout=2.0, now=0.0)
    recorder.feed(GET + b"GET", now=0.0)
    assert recorder.summary == "GET / HTTP/1.1 (+3 bytes after it, not recorded)"


def test_the_answer_is_valid_http():
    response, body = parse_response(RESPONSE)
    assert response.status_code == 200
    assert (b"content-type", b"text/html; charset=utf-8") in response.headers
    assert (b"connection", b"close") in response.headers
    assert body.startswith(b"<!DOCTYPE html>")


# ---------------------------------------------------------------------- the command

class Capture:
    """``webelf capture`` as a subprocess; its stdout lines are read by a thread, so no
    read blocks the test past its timeout."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "webelf", "capture", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        first = self.line()
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)", first)
        assert match, first
        self.port = int(match.group(1))

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self) -> str:
        line = self.lines.get(timeout=TIMEOUT)
        assert line is not None, f"capture ended early: {self.proc.stderr.read()}"
        return line

    def wait(self) -> tuple[int, str]:
        status = self.proc.wait(timeout=TIMEOUT)
        return status, self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def capture():
    started: list[Capture] = []

    def start(*args: str) -> Capture:
        started.append(Capture(*args))
        return started[-1]

    yield start
    for c in started:
        c.stop()


def _connect(port: int) -> socket.socket:
    return socket.create_connection((LOOPBACK, port), timeout=TIMEOUT)


def _response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a reset would raise here."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_capture_records_exactly_what_two_clients_sent(tmp_path, capture):
    out = tmp_path / "caps"
    out.mkdir()
    (out / "1.http").write_bytes(b"taken")
    cap = capture("--count", "2", "--port", "0", "-o", str(out))
    post = _post(b"name=webelf")
    pipelined = b"GET /extra HTTP/1.1\r\nHost: example\r\n\r\n"
    early, late = _connect(cap.port), _connect(cap.port)
    early.sendall(post[:20])
    late.sendall(GET)
    assert cap.line() == f"captured {out / '2.http'}: {len(GET)} bytes, GET / HTTP/1.1"
    early.sendall(post[20:] + pipelined)
    responses = [_response(late), _response(early)]
    assert cap.line() == (f"captured {out / '3.http'}: {len(post)} bytes, POST /f HTTP/1.1 "
                          f"(+{len(pipelined)} bytes after it, not recorded)")
    status, stderr = cap.wait()
    assert (status, stderr) == (0, "")
    assert (out / "1.http").read_bytes() == b"taken", "a taken number is skipped"
    assert (out / "2.http").read_bytes() == GET
    assert (out / "3.http").read_bytes() == post
    for raw in responses:
        response, body = parse_response(raw)
        assert response.status_code == 200 and body
    assert sorted(p.name for p in out.iterdir()) == ["1.http", "2.http", "3.http"]


def test_capture_skips_empty_connections_and_waits_out_garbage(tmp_path, capture):
    cap = capture("--count", "1", "--idle-timeout", "0.3", "-o", str(tmp_path))
    _connect(cap.port).close()
    assert cap.line() == "empty connection: nothing recorded"
    noise = bytes(range(256))
    sock = _connect(cap.port)
    sock.sendall(noise)
    started = time.monotonic()
    response, _ = parse_response(_response(sock))
    assert response.status_code == 200 and time.monotonic() - started >= 0.3
    assert cap.line().startswith(f"captured {tmp_path / '1.http'}: {len(noise)} bytes, not valid HTTP")
    assert cap.wait() == (0, "")
    assert (tmp_path / "1.http").read_bytes() == noise


def test_ctrl_c_exits_0_without_a_traceback(tmp_path, capture):
    cap = capture("-o", str(tmp_path))
    cap.proc.send_signal(signal.SIGINT)
    assert cap.wait() == (0, "")


def test_a_taken_port_is_one_line_and_status_1(tmp_path):
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "webelf", "capture", "--port", str(port),
                                 "-o", str(tmp_path)], capture_output=True, text=True,
                                timeout=TIMEOUT)
    assert result.returncode == 1
    assert result.stderr == f"webelf: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert result.stdout == ""


@pytest.mark.parametrize("args,fragment", [
    (["--port", "65536"], "outside 0..65535"),
    (["--count", "0"], "not a positive number"),
    (["--idle-timeout", "0"], "not a positive number of seconds"),
    (["--idle-timeout", "soon"], "not a number of seconds"),
    ([], "required: -o"),
])
def test_bad_usage_is_one_line_and_status_2(tmp_path, args, fragment):
    out = [] if not args else ["-o", str(tmp_path)]
    result = subprocess.run([sys.executable, "-m", "webelf", "capture", *args, *out],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 2
    assert fragment in result.stderr and result.stderr.count("\n") == 1


# ---------------------------------------------------------------------- the corpus

FIELDS = {"name", "kind", "client", "version", "command", "send", "description"}


def _ids(entries):
    return [e["name"] for e in entries]


def test_the_manifest_and_the_files_match():
    names = [e["name"] for e in MANIFEST]
    assert len(names) == len(set(names)), "a name appears twice"
    files = {p.stem for p in REQUESTS.glob("*.http")}
    assert set(names) - files == set(), "manifest entries without a file"
    assert files - set(names) == set(), "files without a manifest entry"
    kinds = [e["kind"] for e in MANIFEST]
    assert kinds.count("real") >= 10 and kinds.count("synthetic") >= 8


@pytest.mark.parametrize("entry", MANIFEST, ids=_ids(MANIFEST))
def test_each_manifest_entry_is_well_formed(entry):
    assert set(entry) == FIELDS
    assert all(isinstance(entry[k], str) for k in FIELDS)
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", entry["name"])
    assert entry["kind"] in ("real", "synthetic")
    assert entry["send"] in ("whole", "bytewise", "none")
    assert entry["description"]
    if entry["kind"] == "synthetic":
        assert entry["client"] == "synthetic" and entry["version"] == ""
        assert entry["command"] == "python fixtures/requests/make_synthetic.py"
    else:
        assert entry["client"] != "synthetic" and entry["version"] and entry["command"]
    data = (REQUESTS / f"{entry['name']}.http").read_bytes()
    assert (entry["send"] == "none") == (data == b""), "only the empty connection sends nothing"


REAL = [e for e in MANIFEST if e["kind"] == "real"]


@pytest.mark.parametrize("entry", REAL, ids=_ids(REAL))
def test_each_real_capture_is_exactly_one_request(entry):
    """What capture wrote ends where h11 ends the request: nothing cut, nothing extra
    (or, for what is not HTTP at all, h11 rejects it)."""
    data = (REQUESTS / f"{entry['name']}.http").read_bytes()
    framer = frame(data)
    if framer.error is not None:
        assert "illegal request line" in framer.error
    else:
        assert framer.length == len(data)
        assert b"Host: 127.0.0.1:18080" in data or b"host: 127.0.0.1:18080" in data


def test_bytewise_sends_frame_as_whole_sends():
    bytewise = [e for e in MANIFEST if e["send"] == "bytewise"]
    assert bytewise, "the corpus has a request to send one byte at a time"
    for entry in bytewise:
        data = (REQUESTS / f"{entry['name']}.http").read_bytes()
        framer = RequestFramer()
        for byte in data:
            framer.feed(bytes([byte]))
        assert framer.length == frame(data).length == len(data)


def test_make_synthetic_regenerates_every_synthetic_file(tmp_path):
    subprocess.run([sys.executable, str(REQUESTS / "make_synthetic.py"), str(tmp_path)],
                   check=True, timeout=TIMEOUT)
    written = {p.stem: p.read_bytes() for p in tmp_path.iterdir()}
    synthetic = {e["name"] for e in MANIFEST if e["kind"] == "synthetic"}
    assert set(written) == synthetic
    for name, data in written.items():
        assert (REQUESTS / f"{name}.http").read_bytes() == data, f"{name}.http differs"


def test_the_synthetic_edge_cases_are_what_they_claim():
    def read(name: str) -> bytes:
        return (REQUESTS / f"{name}.http").read_bytes()

    head = read("big-headers")
    assert 4096 < len(head) < 8192 and head.endswith(b"\r\n\r\n")
    assert b"\r" not in read("bare-lf")
    assert frame(read("pipelined")).extra > 0
    assert frame(read("garbage")).error is not None and len(read("garbage")) == 200
    assert read("http10").startswith(b"GET / HTTP/1.0\r\n") and b"Host" not in read("http10")
    assert frame(read("post-body")).request.method == b"POST"
    assert frame(read("incomplete-headers"), eof=True).error
