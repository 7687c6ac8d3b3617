"""The whole benchmark in one run: the generated server against nginx, the harness, sizes.

Reproduce: python benchmarks/run.py [--seconds S] [--rounds N] [--quick] [--with-pytest]
                                    [--no-write] [--slowloris-seconds S] [--skip-slowloris]
                                    [--only slowloris]
(from the repository root; it imports generator/, harness/ and webelf/ from the directory
above this file, and runs its subprocesses with that directory on PYTHONPATH.  Needs wrk
(the package wrk), an x86 Linux kernel that runs i386 ELFs, and nginx (the package nginx;
Debian 12 has 1.22) for the nginx rows: without nginx those rows are left out with a note,
without wrk the script says so in one line and exits with status 2.)

What it measures, in one run, interleaved so that the machine's load falls on all alike:

* **HTTP under wrk.**  The default site's ELF, built for 127.0.0.1 on a free port, runs
  natively; beside it nginx, run as an ordinary foreground process (``daemon off``) with a
  configuration written to a temporary directory, serving the same page bytes
  (``generator.default_page().body`` as ``html/index.html``, typed with the page's own
  Content-Type) with the same number of workers, once with nginx's default keep-alive and
  once with ``keepalive_timeout 0`` ("nginx, no keep-alive").  Each round runs
  ``wrk -t1 -cN -dS --latency`` at 1, 10 and 100 connections against each server in turn;
  each cell is the median over the rounds.  Worker counts: 1 and 2 when the generator's
  ``ServerConfig`` has a ``workers`` field, else 1 (with a note).
* **Memory.**  VmRSS (``/proc/PID/status``) summed over each server's processes, parent and
  every descendant (found by scanning ``/proc/*/stat`` for parent pids), after the load;
  PSS (``/proc/PID/smaps_rollup``) summed likewise, which counts a page shared by nginx's
  master and workers once.
* **The harness**, in each round: the replay rate of the same ELF through the Python API
  (``harness_speed.replay_rate``), the same ELF natively with a sequential client (a new
  connection per request, as the harness replays), and the cold start, load to first
  response (``harness_speed.first_response_ms``).  The responses must equal the native
  server's, byte for byte.
* **``webelf run site.elf``**: the whole process (interpreter start included), median of
  several runs spread over the rounds; its stdout must be the native server's response.
* **Slowloris** (issue 12: "with 50 slowloris connections trickling a byte every 2 s, a
  normal client is answered in under 0.5 s, every time, natively"): against the one-worker
  ELF and the one-worker nginx (keep-alive) in turn, 50 connections each send a request head
  one byte every 2 s (an endless header line, never finished), driven by one thread with a
  timer loop; when the server drops one (end of file or reset) its age is recorded and it
  reconnects and trickles again, so the pressure lasts the whole run.  Meanwhile a normal
  client opens a fresh connection every 0.1 s for ``--slowloris-seconds`` (default 20; 6
  with ``--quick``), sends ``GET / HTTP/1.1`` with ``Connection: close`` and reads the whole
  response; its latency is connect to the response's last byte.  ``--skip-slowloris`` leaves
  it out; ``--only slowloris`` runs just it (and writes nothing to RESULTS.md).
* **Sizes**: ``size.breakdown`` for the sites benchmarks/size.py shows.
* **``pytest -n auto``** wall time, with ``--with-pytest`` only (about two minutes).

The markdown it prints also goes into benchmarks/RESULTS.md (unless ``--no-write``): a row
of the history table and a dated section, newest first; the text outside the script's
markers is left as it is.  Every process it starts is stopped before it exits: the ELF's
processes with SIGTERM, nginx with SIGQUIT to its master (then SIGTERM, SIGKILL), and any
worker that outlived its parent is killed by its pid.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _path in (str(HERE), str(ROOT)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)

try:
    import harness_speed
    import size as size_benchmark
    from generator import ServerConfig, build_server, default_page, default_site
    from harness import DEFAULT_REQUEST
    from serve_speed import (
        SOCKET_ERRORS, Abort, WrkRun, free_port, machine, run_wrk_command,
        wait_accepting, wrk_version,
    )
except Exception as exc:  # noqa: BLE001 - one line, never a traceback
    print(f"run: cannot import what the benchmark needs from {ROOT}: "
          f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)

CONNECTIONS = (1, 10, 100)
RESULTS = HERE / "RESULTS.md"
HISTORY_START, HISTORY_END = "<!-- history:start -->", "<!-- history:end -->"
RUNS_MARK = "<!-- runs: run.py puts each new run below this line -->"
OURS = "webelf ELF"
NGINX, NGINX_CLOSE = "nginx", "nginx, no keep-alive"


# --- processes --------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) from /proc/PID/stat (proc(5)), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19])   # ppid is field 4, starttime field 22


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, by scanning /proc/*/stat for parent pids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat:
                children.setdefault(stat[0], []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def _kb(path: str, key: str) -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Memory:
    processes: int
    rss_kb: int
    pss_kb: int | None


def memory(pid: int) -> Memory:
    pids = process_tree(pid)
    rss = [_kb(f"/proc/{p}/status", "VmRSS") for p in pids]
    pss = [_kb(f"/proc/{p}/smaps_rollup", "Pss") for p in pids]
    return Memory(len(pids), sum(r or 0 for r in rss),
                  None if None in pss else sum(pss))  # type: ignore[arg-type]


def _alive(pid: int, start: int) -> bool:
    stat = _stat(pid)
    if stat is None or stat[1] != start:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# --- HTTP, framed by Content-Length so that keep-alive and close both work ---------------

def read_response(sock: socket.socket) -> bytes:
    """One response: its head, then Content-Length bytes of body (or to end of file)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            if data:
                raise Abort(f"the connection closed inside a response head: {data[:200]!r}")
            raise ConnectionResetError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if length is None:
        while chunk := sock.recv(65536):
            body += chunk
        return head + b"\r\n\r\n" + body
    want = int(length.group(1))
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def fetch(port: int, request: bytes = DEFAULT_REQUEST) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(request)
        return read_response(c)


def keeps_alive(port: int) -> bool:
    """Whether a second request on the same connection gets a response."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(DEFAULT_REQUEST)
        read_response(c)
        try:
            c.sendall(DEFAULT_REQUEST)
            return read_response(c).startswith(b"HTTP/1.1 200 ")
        except (OSError, Abort):
            return False


def split_response(response: bytes) -> tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", body


def header(response: bytes, name: str) -> str | None:
    found = re.search(rb"\r\n" + name.encode() + rb":\s*([^\r\n]*)", response, re.I)
    return found.group(1).decode("latin-1") if found else None


# --- the servers ------------------------------------------------------------------------

@dataclass
class Server:
    label: str
    workers: int
    port: int
    proc: subprocess.Popen
    command: list[str]
    stderr: Path
    response: bytes = b""
    keepalive: bool | None = None
    mem_idle: Memory | None = None
    mem_after: Memory | None = None
    runs: dict[int, list[WrkRun]] = field(
        default_factory=lambda: {c: [] for c in CONNECTIONS})
    stopped: str = ""

    @property
    def name(self) -> str:
        return f"{self.label} ({self.workers} worker{'s' if self.workers > 1 else ''})"


def has_workers() -> bool:
    return "workers" in getattr(ServerConfig, "__dataclass_fields__", {})


def build_elf(directory: Path, port: int, workers: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    options = {"port": port, "bind": "127.0.0.1"}
    if has_workers():
        options["workers"] = workers
    elf = directory / "site.elf"
    elf.write_bytes(build_server(default_site(), ServerConfig(**options)))
    elf.chmod(0o755)
    return elf


def start_elf(tmp: Path, workers: int) -> Server:
    port = free_port()
    directory = tmp / f"elf-{workers}"
    elf = build_elf(directory, port, workers)
    errors = directory / "stderr.log"
    command = [str(elf)]
    try:
        with open(errors, "wb") as err:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, cwd=directory, start_new_session=True)
    except OSError as exc:
        raise Abort(f"cannot run the i386 ELF natively ({exc.strerror}): this needs an x86 "
                    "Linux kernel with CONFIG_IA32_EMULATION") from None
    server = Server(OURS, workers, port, proc, command, errors)
    wait_accepting(port, proc, f"the ELF ({workers} worker(s))")
    wait_processes(server, workers)
    return server


def wait_processes(server: Server, at_least: int, seconds: float = 5) -> None:
    """Until the server has ``at_least`` processes (workers start after listen)."""
    deadline = time.monotonic() + seconds
    while len(process_tree(server.proc.pid)) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)


NGINX_CONF = """\
# written by benchmarks/run.py; run as: {command}
{user}worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    types {{ }}
    default_type "{content_type}";
    keepalive_timeout {keepalive};
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/html;
        index index.html;
    }}
}}
"""


def _nginx_user() -> str:
    """As root, nginx's workers would run as the compiled-in user nobody and group nobody,
    which Debian lacks; name nobody:nogroup when they exist, so workers are not root."""
    if os.geteuid() != 0:
        return ""
    import grp
    import pwd
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        return ""
    return "user nobody nogroup;\n"


def start_nginx(nginx: str, tmp: Path, workers: int, keepalive: bool) -> Server:
    port = free_port()
    directory = tmp / f"nginx-{workers}-{'ka' if keepalive else 'close'}"
    (directory / "html").mkdir(parents=True)
    (directory / "tmp").mkdir()
    page = default_page()
    (directory / "html" / "index.html").write_bytes(page.body)
    for path in (tmp, directory, directory / "html"):
        path.chmod(0o755)          # the workers run as nobody when nginx starts as root
    (directory / "html" / "index.html").chmod(0o644)
    conf = directory / "nginx.conf"
    command = [nginx, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log"),
               "-g", "daemon off;"]
    conf.write_text(NGINX_CONF.format(
        command=shlex.join(command), user=_nginx_user(), workers=workers, dir=directory,
        content_type=page.content_type, keepalive=65 if keepalive else 0, port=port))
    errors = directory / "stderr.log"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                cwd=directory, start_new_session=True)
    server = Server(NGINX if keepalive else NGINX_CLOSE, workers, port, proc, command, errors)
    try:
        wait_accepting(port, proc, "nginx")
    except Abort as exc:
        log = (directory / "error.log")
        text = errors.read_text(errors="replace") + (
            log.read_text(errors="replace") if log.exists() else "")
        last = text.strip().splitlines()[-1:]
        raise Abort(f"{exc}" + (f"; {last[0]}" if last else "")) from None
    wait_processes(server, workers + 1)
    return server


def stop(server: Server) -> None:
    """Stop every process of ``server``: nginx gracefully with SIGQUIT to its master, the ELF
    with SIGTERM to each process; SIGKILL whatever is left, by pid, and say so."""
    proc = server.proc
    tree = [(pid, stat[1]) for pid in process_tree(proc.pid) if (stat := _stat(pid))]
    notes = []
    if proc.poll() is None:
        if server.label == OURS:
            for pid, start in tree:
                if _alive(pid, start):
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except OSError:
                        pass
            first = (signal.SIGTERM,)
        else:
            first = (signal.SIGQUIT, signal.SIGTERM)
        for sig in first:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    notes.append(f"{signal.Signals(sig).name} did not stop it in 10 s")
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            notes.append("killed with SIGKILL")
    # A worker that outlived its parent (reparented to init) is ours to end, by its pid.
    deadline = time.monotonic() + 5
    survivors = [(p, s) for p, s in tree[1:] if _alive(p, s)]
    while survivors and time.monotonic() < deadline:
        time.sleep(0.05)
        survivors = [(p, s) for p, s in survivors if _alive(p, s)]
    for pid, _ in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if survivors:
        notes.append(f"{len(survivors)} process(es) outlived the parent and were killed")
    status = proc.returncode
    server.stopped = f"exit status {status}" + (f" ({'; '.join(notes)})" if notes else "")


# --- wrk --------------------------------------------------------------------------------

def wrk_command(wrk: str, port: int, connections: int, seconds: int) -> list[str]:
    return [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
            f"http://127.0.0.1:{port}/"]


# --- the run ----------------------------------------------------------------------------

@dataclass
class Results:
    servers: list[Server] = field(default_factory=list)
    replay: list[float] = field(default_factory=list)
    native: list[float] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    webelf_run_ms: list[float] = field(default_factory=list)
    pytest: tuple[float, int, str] | None = None
    slowloris: list[SlowlorisRun] = field(default_factory=list)
    sizes: dict[str, dict[str, int]] | None = None
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def sequential_rate(port: int, expected: bytes, n: int) -> float:
    """Requests/s of a client that opens a new connection for each request, as the harness
    replays them, and reads each response to its end (Content-Length)."""
    start = time.perf_counter()
    for _ in range(n):
        got = fetch(port)
    elapsed = time.perf_counter() - start
    if got != expected:
        raise Abort(f"the native ELF answered {len(got)} bytes that are not its first answer")
    return n / elapsed


def webelf_run_once(elf: Path, expected: bytes) -> float:
    command = [sys.executable, "-m", "webelf", "run", str(elf)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=subprocess_env(), cwd=elf.parent,
                          timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise Abort(f"webelf run exited with status {done.returncode}: "
                    f"{done.stderr.decode(errors='replace').strip()[:300]}")
    if done.stdout != expected:
        raise Abort(f"webelf run printed {len(done.stdout)} bytes that are not the native "
                    f"server's response ({len(expected)} bytes)")
    return elapsed * 1000


def attempt(results: Results, what: str, fn, *args):
    """fn(*args), or None with one line in the errors when it fails (never a traceback)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001
        text = str(exc).splitlines()[0] if str(exc) else (
            "the response differs from the native ELF's" if isinstance(exc, AssertionError)
            else "")
        line = f"{what}: {type(exc).__name__}: {text}"
        if line not in results.errors:
            results.errors.append(line)
        return None


def benchmark(args: argparse.Namespace, wrk: str, nginx: str | None, tmp: Path,
              results: Results) -> None:
    workers = (1, 2) if has_workers() else (1,)
    if not has_workers():
        results.notes.append("The generator's ServerConfig has no `workers` field yet: only 1 "
                             "worker is measured (with it, 1 and 2).")
    if nginx is None:
        results.notes.append("nginx is not installed (the package nginx: apt-get install -y "
                             "nginx): the nginx rows are left out.")
    servers = results.servers
    for w in workers:
        servers.append(start_elf(tmp, w))
        if nginx:
            servers.append(start_nginx(nginx, tmp, w, keepalive=True))
            servers.append(start_nginx(nginx, tmp, w, keepalive=False))
    ours = servers[0]
    body = default_page().body
    for server in servers:
        server.response = fetch(server.port)
        head, got_body = split_response(server.response)
        if not server.response.startswith(b"HTTP/1.1 200 ") or got_body != body:
            raise Abort(f"{server.name} on port {server.port} did not answer 200 with the "
                        f"default page's {len(body)} bytes: {server.response[:200]!r}")
        server.keepalive = keeps_alive(server.port)
        server.mem_idle = memory(server.proc.pid)
        results.commands.append(shlex.join(server.command))
    expected = ours.response
    program = (tmp / "elf-1" / "site.elf").read_bytes()
    elf_path = tmp / "elf-1" / "site.elf"
    results.commands.append(f"cd {elf_path.parent} && PYTHONPATH={ROOT} "
                            f"{shlex.join([sys.executable, '-m', 'webelf', 'run', 'site.elf'])}")
    results.commands.extend(shlex.join(wrk_command(wrk, s.port, c, args.seconds))
                            + f"   # {s.name}, x{args.rounds}"
                            for c in CONNECTIONS for s in servers)

    per_round = max(1, args.requests // args.rounds)
    loads = max(1, args.loads // args.rounds)
    results.commands.append(
        f"harness_speed.replay_rate(program, response, {per_round}, rounds=1)   "
        f"# Python API, x{args.rounds}")
    results.commands.append(
        f"harness_speed.first_response_ms(program, response, {loads})   # x{args.rounds}")
    results.commands.append(
        f"{per_round} x (connect 127.0.0.1:{ours.port}, send the default request, read the "
        f"response, close)   # the native ELF, x{args.rounds}")
    for round_ in range(args.rounds):
        for c in CONNECTIONS:
            for server in servers:
                run = run_wrk_command(wrk_command(wrk, server.port, c, args.seconds), args.seconds)
                server.runs[c].append(run)
                print(f"round {round_ + 1}/{args.rounds}: {server.name:<34} c{c:<3} "
                      f"{run.rate:>10,.0f} requests/s  (socket errors "
                      f"{'/'.join(str(run.socket_errors[k]) for k in SOCKET_ERRORS)}, "
                      f"non-2xx {run.non_2xx})", file=sys.stderr, flush=True)
                if server.proc.poll() is not None:
                    raise Abort(f"{server.name} exited with status {server.proc.returncode} "
                                f"during wrk -c{c}")
        got = attempt(results, "harness replay", harness_speed.replay_rate, program, expected,
                      per_round, 1)
        if got:
            results.replay.append(got[0])
        got = attempt(results, "native sequential client", sequential_rate, ours.port,
                      expected, per_round)
        if got:
            results.native.append(got)
        got = attempt(results, "harness cold start", harness_speed.first_response_ms, program,
                      expected, loads)
        if got:
            results.cold_ms.append(got)
        runs = args.runs // args.rounds + (1 if round_ < args.runs % args.rounds else 0)
        for _ in range(runs):
            got = attempt(results, "webelf run", webelf_run_once, elf_path, expected)
            if got:
                results.webelf_run_ms.append(got)
        print(f"round {round_ + 1}/{args.rounds}: harness, native client, cold start, "
              f"webelf run done", file=sys.stderr, flush=True)
    for server in servers:
        server.mem_after = memory(server.proc.pid)


# --- slowloris ----------------------------------------------------------------------------

TRICKLERS, TRICKLE_EVERY, NORMAL_EVERY, NORMAL_LIMIT = 50, 2.0, 0.1, 0.5
#: The tricklers' head: a request line, then a header line that never ends.
TRICKLE_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slowloris: "
NORMAL_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@dataclass
class SlowlorisRun:
    server: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)   # normal requests without a 200
    drop_ages: list[float] = field(default_factory=list)  # seconds from connect to the drop
    resets: int = 0              # drops seen as a reset rather than end of file
    answered: int = 0            # drops after which the server had sent some bytes
    connect_failures: int = 0
    bytes_trickled: int = 0
    open_at_end: int = 0

    @property
    def over(self) -> int:
        return sum(1 for ms in self.latencies_ms if ms > NORMAL_LIMIT * 1000) + len(
            self.failures)


class _Trickler:
    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.opened = 0.0
        self.sent = 0
        self.next_send = 0.0
        self.got = 0


def _trickle_byte(index: int) -> bytes:
    return TRICKLE_HEAD[index:index + 1] if index < len(TRICKLE_HEAD) else b"a"


def trickle(port: int, run: SlowlorisRun, stop_event, ready) -> None:
    """The 50 tricklers in one thread: connect, send a byte every TRICKLE_EVERY s; when the
    server drops one, record its age and reconnect.  Sets ``ready`` once all are connected."""
    import select
    tricklers = [_Trickler() for _ in range(TRICKLERS)]

    def connect(t: _Trickler, now: float) -> None:
        try:
            t.sock = socket.create_connection(("127.0.0.1", port), timeout=2)
        except OSError:
            run.connect_failures += 1
            t.sock, t.next_send = None, now + 0.1     # try again shortly
            return
        t.sock.setblocking(False)
        t.opened = time.monotonic()
        t.sent, t.got, t.next_send = 0, 0, t.opened   # its first byte at once

    def dropped(t: _Trickler, reset: bool) -> None:
        now = time.monotonic()
        run.drop_ages.append(now - t.opened)
        run.resets += reset
        run.answered += t.got > 0
        t.sock.close()
        t.sock = None
        if not stop_event.is_set():
            connect(t, now)

    try:
        now = time.monotonic()
        for t in tricklers:
            connect(t, now)
        ready.set()
        while not stop_event.is_set():
            now = time.monotonic()
            for t in tricklers:
                if t.next_send > now:
                    continue
                if t.sock is None:
                    connect(t, now)
                    continue
                try:
                    t.sock.send(_trickle_byte(t.sent))
                    t.sent += 1
                    run.bytes_trickled += 1
                    t.next_send += TRICKLE_EVERY
                except BlockingIOError:
                    t.next_send = now + 0.05
                except OSError:
                    dropped(t, reset=True)
            socks = {t.sock: t for t in tricklers if t.sock is not None}
            wake = min(t.next_send for t in tricklers) - time.monotonic()
            readable, _, _ = select.select(list(socks), [], [], min(max(wake, 0), 0.05))
            for sock in readable:
                t = socks[sock]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    dropped(t, reset=True)
                    continue
                if data:
                    t.got += len(data)          # a response (408?): the close follows
                else:
                    dropped(t, reset=False)
    finally:
        ready.set()
        run.open_at_end = sum(1 for t in tricklers if t.sock is not None)
        for t in tricklers:
            if t.sock is not None:
                t.sock.close()


def normal_request(port: int) -> tuple[float, bytes]:
    """(ms from connect to the response's last byte, the response): a fresh connection."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(NORMAL_REQUEST)
        response = read_response(c)
    return (time.perf_counter() - start) * 1000, response


def slowloris_run(server: Server, seconds: float) -> SlowlorisRun:
    """Tricklers against ``server`` while a normal client asks every NORMAL_EVERY s."""
    import threading
    run = SlowlorisRun(server.name, seconds)
    stop_event, ready = threading.Event(), threading.Event()
    thread = threading.Thread(target=trickle, args=(server.port, run, stop_event, ready),
                              daemon=True)
    thread.start()
    try:
        ready.wait(30)
        time.sleep(TRICKLE_EVERY)          # every trickler has sent its first bytes
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < seconds:
            try:
                ms, response = normal_request(server.port)
                if response.startswith(b"HTTP/1.1 200 "):
                    run.latencies_ms.append(ms)
                else:
                    run.failures.append(f"answered {response[:40]!r}")
            except (OSError, Abort) as exc:
                run.failures.append(f"{type(exc).__name__}: {exc}")
            if server.proc.poll() is not None:
                raise Abort(f"{server.name} exited with status {server.proc.returncode} "
                            "under slowloris")
            tick += 1
            pause = start + tick * NORMAL_EVERY - time.monotonic()
            if pause > 0:
                time.sleep(pause)
    finally:
        stop_event.set()
        thread.join(30)
    return run


def slowloris_benchmark(args: argparse.Namespace, nginx: str | None, tmp: Path,
                        results: Results) -> None:
    """The slowloris section, against the one-worker ELF and nginx (started if the run has
    not started them already)."""
    targets = []
    for label in (OURS, NGINX):
        if label == NGINX and nginx is None:
            continue
        server = next((s for s in results.servers if s.label == label and s.workers == 1),
                      None)
        if server is None:
            server = (start_elf(tmp, 1) if label == OURS
                      else start_nginx(nginx, tmp, 1, keepalive=True))
            results.servers.append(server)
            server.response = fetch(server.port)
            server.keepalive = keeps_alive(server.port)
            results.commands.append(shlex.join(server.command))
        targets.append(server)
    results.commands.append(
        f"{TRICKLERS} tricklers (a byte every {TRICKLE_EVERY:g} s, reconnecting when dropped) "
        f"+ a fresh-connection GET every {NORMAL_EVERY:g} s for {args.slowloris_seconds} s   "
        "# " + ", ".join(s.name for s in targets))
    for server in targets:
        print(f"slowloris: {server.name}, {args.slowloris_seconds} s ...", file=sys.stderr,
              flush=True)
        run = slowloris_run(server, args.slowloris_seconds)
        results.slowloris.append(run)
        print(f"slowloris: {server.name}: {len(run.latencies_ms)} answered, max "
              f"{_num(max(run.latencies_ms, default=None), '.1f')} ms, {run.over} over "
              f"{NORMAL_LIMIT} s, {len(run.drop_ages)} trickler drops", file=sys.stderr,
              flush=True)


def slowloris_markdown(results: Results) -> list[str]:
    if not results.slowloris:
        return []
    seconds = results.slowloris[0].seconds
    out = ["", f"#### Slowloris: {TRICKLERS} connections trickling a byte every "
           f"{TRICKLE_EVERY:g} s, a normal client every {NORMAL_EVERY:g} s for {seconds:g} s",
           "", "| server | normal requests | failed | max ms | p99 ms | p50 ms | over "
           f"{NORMAL_LIMIT} s | trickler drops | drop age min..max s | bytes trickled | "
           "tricklers open at the end |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run in results.slowloris:
        lat = sorted(run.latencies_ms)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
        ages = (f"{min(run.drop_ages):.2f}..{max(run.drop_ages):.2f}"
                if run.drop_ages else "-")
        out.append(f"| {run.server} | {len(lat) + len(run.failures)} | {len(run.failures)} | "
                   f"{_num(lat[-1] if lat else None, '.2f')} | {_num(p99, '.2f')} | "
                   f"{_num(_median(lat), '.2f')} | {run.over} | {len(run.drop_ages)} | "
                   f"{ages} | {run.bytes_trickled} | {run.open_at_end} |")
    out += ["", f"Goal: every normal request answered in under {NORMAL_LIMIT} s (\"over\" 0, "
            "failed 0) with the ELF natively.  Latency: connect to the response's last byte. "
            "A drop is the server closing a trickler (end of file"
            + "".join(f"; {r.server}: {r.resets} reset(s), {r.answered} after some response "
                      f"bytes, {r.connect_failures} failed reconnect(s)"
                      for r in results.slowloris if r.resets or r.answered
                      or r.connect_failures)
            + "); its age runs from its connect, and the dropped trickler reconnects at once. "
            "The ELF's head deadline is `header_timeout` (10 s, swept once a second, so "
            "drops come at 10..11 s); nginx's `client_header_timeout` is 60 s by default."]
    for run in results.slowloris:
        for failure in sorted(set(run.failures))[:3]:
            out.append(f"- {run.server}: {failure}")
    return out


def run_pytest(results: Results) -> None:
    command = [sys.executable, "-m", "pytest", "-n", "auto", "-q", "-p", "no:cacheprovider"]
    results.commands.append(f"cd {ROOT} && PYTHONPATH={ROOT} {shlex.join(command)}")
    print("pytest -n auto ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env=subprocess_env(), timeout=1800)
    except subprocess.TimeoutExpired:
        results.errors.append("pytest: did not finish within 1800 s")
        return
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else "(no output)"
    results.pytest = (elapsed, done.returncode, summary)


# --- markdown ---------------------------------------------------------------------------

def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "?" if value is None else format(value, fmt)


def _rate(server: Server, c: int) -> float | None:
    return _median([r.rate for r in server.runs.get(c, [])])


def _mem(m: Memory | None) -> str:
    if m is None:
        return "?"
    pss = "?" if m.pss_kb is None else f"{m.pss_kb:,}"
    return f"{m.rss_kb:,} / {pss} ({m.processes})"


def markdown(args: argparse.Namespace, results: Results, heading: str) -> list[str]:
    out = [f"### {heading}", "", f"Machine: {args.machine}.", ""]
    servers = [s for s in results.servers if s.response]
    if any(s.runs[c] for s in servers for c in CONNECTIONS):
        out += [f"#### HTTP under wrk: requests/s (median of {args.rounds} round(s) of "
                f"{args.seconds} s), memory after the load", "",
                "| server | workers | keep-alive | response bytes (head + body) | c1 | c10 | c100 "
                "| p99 ms c1 / c10 / c100 | RSS / PSS kB after load (processes) | RSS kB idle |",
                "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for s in servers:
            head, body = split_response(s.response)
            p99 = " / ".join(_num(_median([r.p99_ms for r in s.runs[c] if r.p99_ms is not None]),
                                  ".2f") for c in CONNECTIONS)
            out.append(f"| {s.label} | {s.workers} | {'yes' if s.keepalive else 'no'} | "
                       f"{len(s.response):,} ({len(head)} + {len(body)}) | "
                       + " | ".join(_num(_rate(s, c)) for c in CONNECTIONS)
                       + f" | {p99} | {_mem(s.mem_after)} | "
                       f"{_num(s.mem_idle.rss_kb if s.mem_idle else None)} |")
        out += ["", "Every cell of that table, with the spread over the rounds:", "",
                "| server | c | requests/s median | min..max | p50 ms | p99 ms | socket errors "
                "connect/read/write/timeout (sum) | non-2xx (sum) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in CONNECTIONS:
            for s in servers:
                rates = [r.rate for r in s.runs[c]]
                p50 = _median([r.p50_ms for r in s.runs[c] if r.p50_ms is not None])
                p99 = _median([r.p99_ms for r in s.runs[c] if r.p99_ms is not None])
                errs = "/".join(str(sum(r.socket_errors[k] for r in s.runs[c]))
                                for k in SOCKET_ERRORS)
                out.append(f"| {s.name} | {c} | {_num(_median(rates))} | "
                           f"{_num(min(rates) if rates else None)}.."
                           f"{_num(max(rates) if rates else None)} | {_num(p50, '.2f')} | "
                           f"{_num(p99, '.2f')} | {errs} | {sum(r.non_2xx for r in s.runs[c])} |")
        nginxes = [s for s in servers if s.label != OURS]
        if nginxes:
            out += ["", "The issue's goals (ours against nginx with the same workers, same run):",
                    "", "| against | workers | ours / it at c10 | at c100 | its RSS / ours |",
                    "|---|---:|---:|---:|---:|"]
            for s in nginxes:
                mine = next((o for o in servers if o.label == OURS and o.workers == s.workers),
                            None)
                if mine is None:
                    continue
                ratios = []
                for c in (10, 100):
                    a, b = _rate(mine, c), _rate(s, c)
                    ratios.append(f"{a / b:.2f}" if a and b else "?")
                rss = (f"{s.mem_after.rss_kb / mine.mem_after.rss_kb:,.0f}x"
                       if s.mem_after and mine.mem_after and mine.mem_after.rss_kb else "?")
                out.append(f"| {s.label} | {s.workers} | {ratios[0]} | {ratios[1]} | {rss} |")
            out += ["", "Goals: requests/s ratio at least 1.00 against nginx (keep-alive on for "
                    "both) at c10 and c100; its RSS at least 100x ours."]
    out += slowloris_markdown(results)
    if args.only == "slowloris":
        return out + slowloris_tail(args, results)
    out += ["", "#### The harness, and the same ELF natively", "",
            "| measure | value |", "|---|---:|",
            f"| harness replay through the Python API, requests/s (one guest, default request; "
            f"median of {len(results.replay)} round(s)) | {_num(_median(results.replay))} |",
            f"| the same ELF natively, requests/s (sequential client, a new connection per "
            f"request; median of {len(results.native)}) | {_num(_median(results.native))} |",
            f"| harness cold start: load the ELF to its first response, ms (median) | "
            f"{_num(_median(results.cold_ms), '.2f')} |",
            f"| `python -m webelf run site.elf`, the whole process, ms (median of "
            f"{len(results.webelf_run_ms)}) | {_num(_median(results.webelf_run_ms))} |"]
    if results.pytest:
        elapsed, status, summary = results.pytest
        out.append(f"| `pytest -n auto` wall time, s (exit status {status}: {summary}) | "
                   f"{elapsed:.1f} |")
    else:
        out.append("| `pytest -n auto` wall time | not run (--with-pytest) |")
    if results.sizes:
        cols = list(next(iter(results.sizes.values())))
        out += ["", "#### Size (benchmarks/size.py), bytes", "",
                "| site | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in results.sizes.items():
            out.append(f"| {name} | " + " | ".join(f"{row[c]:,}" for c in cols) + " |")
    out += ["", "#### Notes", ""]
    ours = next((s for s in servers if s.label == OURS), None)
    if ours and not ours.keepalive:
        out.append("- The generated server closes every connection after its response "
                   f"(`Connection: {header(ours.response, 'Connection') or '?'}`), so wrk "
                   "reconnects for every request"
                   + (", while nginx keeps connections alive: that is what issue 12 fixes. "
                      "The row \"nginx, no keep-alive\" (`keepalive_timeout 0`) is the "
                      "like-for-like comparison until then." if nginx_rows(results) else "."))
    elif ours:
        out.append("- The generated server keeps connections alive (a second request on one "
                   "connection was answered), as nginx does.")
    out += [f"- {note}" for note in results.notes]
    out += [f"- wrk: {args.wrk_version}; `wrk -t1 -cN -d{args.seconds}s --latency`; each round "
            "runs c1, c10, c100 against each server in turn, then the harness measures, so "
            "the machine's load falls on all alike. "
            f"{os.cpu_count()} CPU(s): wrk's thread and the servers share them.",
            f"- nginx: {args.nginx_version}, compiled-in defaults but for the configuration "
            "below (keepalive_timeout 65 s, nginx's default, or 0; keepalive_requests is 1000, "
            "so wrk reconnects every 1000 requests; sendfile off; access_log off). It serves "
            "`/` from html/index.html, typed with the default page's Content-Type, so the "
            "bodies are the same bytes; its head is longer (Server, Date, Last-Modified, ETag, "
            "Accept-Ranges)." if nginx_rows(results) else "- nginx: not measured.",
            "- RSS is VmRSS summed over the server's processes (parent and every descendant, "
            "found through /proc/*/stat); PSS, from /proc/PID/smaps_rollup, counts a page "
            "that several of them share once.",
            "- Responses checked before timing: every server answers `/` with status 200 and "
            "the default page's body; the harness's replay, its cold start and `webelf run` "
            "must answer the native ELF's response byte for byte.",
            "- Servers stopped: " + "; ".join(f"{s.name}: {s.stopped or '?'}"
                                               for s in results.servers) + "."
            if results.servers else
            "- No server was started."]
    if results.errors:
        out += ["", "#### Errors", ""] + [f"- {e}" for e in results.errors]
    out += ["", "#### Commands", "", "```",
            f"python benchmarks/run.py {shlex.join(args.argv)}".rstrip()]
    out += results.commands
    out += ["```"]
    conf = nginx_conf_text(results)
    if conf:
        out += ["", "The nginx configuration (the no-keep-alive one differs in "
                "`keepalive_timeout 0`, its port and its directory):", "", "```nginx",
                conf.rstrip(), "```"]
    return out


def slowloris_tail(args: argparse.Namespace, results: Results) -> list[str]:
    """The end of an ``--only slowloris`` section: errors, servers stopped, commands."""
    out = ["", "#### Notes", "", f"- nginx: {args.nginx_version}, the configuration below "
           "(client_header_timeout not set: 60 s)." if nginx_rows(results) else
           "- nginx: not measured.",
           "- Servers stopped: " + "; ".join(f"{s.name}: {s.stopped or '?'}"
                                              for s in results.servers) + "."]
    if results.errors:
        out += ["", "#### Errors", ""] + [f"- {e}" for e in results.errors]
    out += ["", "#### Commands", "", "```",
            f"python benchmarks/run.py {shlex.join(args.argv)}".rstrip(), *results.commands,
            "```"]
    conf = nginx_conf_text(results)
    if conf:
        out += ["", "The nginx configuration:", "", "```nginx", conf.rstrip(), "```"]
    return out


def nginx_rows(results: Results) -> bool:
    return any(s.label != OURS for s in results.servers)


def nginx_conf_text(results: Results) -> str:
    for s in results.servers:
        if s.label == NGINX:
            conf = Path(s.command[s.command.index("-c") + 1])
            try:
                return conf.read_text()
            except OSError:
                return ""
    return ""


def history_row(args: argparse.Namespace, results: Results, commit: str) -> str:
    def rate(label: str, c: int) -> str:
        s = next((s for s in results.servers if s.label == label and s.workers == 1), None)
        return _num(_rate(s, c)) if s else "-"

    def rss(label: str) -> str:
        s = next((s for s in results.servers if s.label == label and s.workers == 1), None)
        return f"{s.mem_after.rss_kb:,}" if s and s.mem_after else "-"
    return (f"| {args.date} | {commit} | {rate(OURS, 10)} | {rate(OURS, 100)} | "
            f"{rate(NGINX, 10)} | {rate(NGINX, 100)} | {rate(NGINX_CLOSE, 100)} | "
            f"{rss(OURS)} | {rss(NGINX)} | {_num(_median(results.replay))} | "
            f"{_num(_median(results.cold_ms), '.2f')} | "
            f"{_num(_median(results.webelf_run_ms))} | {args.seconds} s x {args.rounds} |")


HISTORY_HEAD = ("| date | commit | ours c10 | ours c100 | nginx c10 | nginx c100 | nginx no-ka "
                "c100 | ours RSS kB | nginx RSS kB | harness req/s | cold start ms | "
                "webelf run ms | wrk runs |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
                "---:|---:|---|")

RESULTS_TEMPLATE = f"""# Benchmark results

Written by `python benchmarks/run.py` (see its docstring for what it measures and how).
Each run adds a row to the history table (one worker, requests/s under wrk, RSS after the
load) and its full section below the runs marker, newest first; the script rewrites only the
history table between its markers and inserts below the runs marker, so text written by hand
elsewhere (such as what each change bought) stays.  Numbers from different runs were taken
under different loads on a shared machine: compare rows of the same run.

## What each change bought

(Written by hand: the change, the profile that pointed at it, and the numbers before and after.)

## History

{HISTORY_START}
{HISTORY_HEAD}
{HISTORY_END}

## Runs

{RUNS_MARK}
"""


def write_results(section: list[str], row: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_TEMPLATE
    if HISTORY_START not in text or HISTORY_END not in text or RUNS_MARK not in text:
        raise Abort(f"{RESULTS} lacks run.py's markers; put them back or remove the file")
    before, rest = text.split(HISTORY_START, 1)
    table, after = rest.split(HISTORY_END, 1)
    rows = [line for line in table.strip().splitlines()[2:] if line.startswith("|")]
    table = "\n".join([HISTORY_HEAD, row, *rows])
    text = before + HISTORY_START + "\n" + table + "\n" + HISTORY_END + after
    head, tail = text.split(RUNS_MARK, 1)
    text = head + RUNS_MARK + "\n\n" + "\n".join(section).rstrip() + "\n" + tail.lstrip("\n")
    if not text.endswith("\n"):
        text += "\n"
    RESULTS.write_text(text)


def commit_id() -> str:
    try:
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (sha or "?") + (" (modified)" if dirty else "")


def nginx_version(nginx: str | None) -> str:
    if nginx is None:
        return "not installed"
    done = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    text = (done.stderr or done.stdout).strip()
    return text.split(":", 1)[-1].strip() or "nginx"


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 5; --quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; --quick 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 1 s per wrk run, 1 round, fewer harness requests")
    parser.add_argument("--with-pytest", action="store_true",
                        help="also time pytest -n auto (about two minutes)")
    parser.add_argument("--no-write", action="store_true",
                        help="print the markdown only; leave benchmarks/RESULTS.md alone")
    parser.add_argument("--slowloris-seconds", type=float,
                        help="seconds of the slowloris measure per server (default 20; "
                        "--quick 6)")
    parser.add_argument("--skip-slowloris", action="store_true",
                        help="leave the slowloris measure out")
    parser.add_argument("--only", choices=["slowloris"],
                        help="run only this part (prints it; writes nothing to RESULTS.md)")
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    args.argv = argv
    if args.seconds is None:
        args.seconds = 1 if args.quick else 5
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    if args.slowloris_seconds is None:
        args.slowloris_seconds = 6 if args.quick else 20
    if args.slowloris_seconds <= 0:
        parser.error("--slowloris-seconds must be positive")
    if args.only == "slowloris" and args.skip_slowloris:
        parser.error("--only slowloris and --skip-slowloris contradict each other")
    args.requests = 2000 if args.quick else 20000    # harness and native, over all rounds
    args.loads = 20 if args.quick else 200           # cold starts, over all rounds
    args.runs = 3 if args.quick else 10              # webelf run, over all rounds
    wrk = shutil.which("wrk")
    if wrk is None and args.only is None:
        print("run: wrk is not installed; it is the package wrk (apt-get install wrk)",
              file=sys.stderr)
        return 2
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None)
    if nginx is None:
        print("run: nginx is not installed (the package nginx: apt-get install -y nginx); "
              "measuring without it", file=sys.stderr)
    args.machine = machine()
    args.wrk_version = wrk_version(wrk) if wrk else "not installed"
    args.nginx_version = nginx_version(nginx)
    now = datetime.datetime.now(datetime.timezone.utc)
    args.date = now.strftime("%Y-%m-%d %H:%M UTC")
    commit = commit_id()
    signal.signal(signal.SIGTERM, _interrupted)  # so that the finally clauses stop servers
    results = Results()
    status = 0
    with tempfile.TemporaryDirectory(prefix="webelf-bench-") as tmp:
        try:
            try:
                if args.only is None:
                    benchmark(args, wrk, nginx, Path(tmp), results)
                if not args.skip_slowloris:
                    slowloris_benchmark(args, nginx, Path(tmp), results)
            finally:
                for server in results.servers:
                    stop(server)
        except Abort as exc:
            results.errors.append(str(exc))
            print(f"run: {exc}", file=sys.stderr)
            status = 1
        except KeyboardInterrupt:
            print("run: interrupted; every server was stopped", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            results.errors.append(f"{type(exc).__name__}: {exc}")
            print(f"run: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
        if args.only is None:      # the sizes belong to the whole run only
            try:
                from generator import Page
                from generator.server import as_site
                sites = {"default": default_site(),
                         "empty body": as_site(Page.make(b"", "text/plain")),
                         "64 KiB body": as_site(Page.make(b"x" * 65536,
                                                          "application/octet-stream"))}
                results.sizes = {name: size_benchmark.breakdown(site)
                                 for name, site in sites.items()}
            except Exception as exc:  # noqa: BLE001
                results.errors.append(f"size table: {type(exc).__name__}: {exc}")
            results.commands.append("size.breakdown(site) for the default site, an empty body "
                                    "and 64 KiB (as python benchmarks/size.py)")
        if args.with_pytest:
            try:
                run_pytest(results)
            except KeyboardInterrupt:
                print("run: interrupted", file=sys.stderr)
                return 130
        heading = f"{args.date}, commit {commit}" + (" (quick)" if args.quick else "") + (
            f" (only {args.only})" if args.only else "")
        section = markdown(args, results, heading)
    print("\n".join(section))
    if status:
        print(f"\n(not written to {RESULTS}: the run did not finish)", file=sys.stderr)
    elif not args.no_write and args.only is None:
        try:
            write_results(section, history_row(args, results, commit))
            print(f"\n(written to {RESULTS})", file=sys.stderr)
        except (Abort, OSError) as exc:
            print(f"run: cannot write {RESULTS}: {exc}", file=sys.stderr)
            status = status or 1
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        print(f"run: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
