"""How many requests per second `webelf serve` answers under wrk, beside the same ELF native.

Reproduce: python benchmarks/serve_speed.py [--seconds S] [--rounds N] [--quick]
(from the repository root, after pip install .; needs wrk (apt-get install wrk) and an x86
Linux kernel that runs i386 ELFs, for the native column)

One default-site ELF is built for 127.0.0.1 on a free port.  It runs twice at once: natively
as a process of its own, and in the emulator behind ``webelf serve ELF --port Q`` (another
free port).  Both answer the default request with the same bytes (checked first).  Then
``wrk -t1 -cN -dS --latency`` loads each in turn, interleaved so that the machine's load
falls on both alike: native c1, serve c1, native c10, serve c10, repeated for each round.
Each cell is the median over the rounds.  The server keeps connections alive (an epoll
event loop), so wrk's connections carry request after request, in the emulator as
natively.  ``webelf serve`` writes one access-log
line per response to its stdout, which goes to a file here (so the log costs what writing a
file costs); its stderr is kept and shown if it says anything.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
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

import webelf
from generator import ServerConfig, build_server, default_page, default_site
from generator.site import Response
from harness import DEFAULT_REQUEST

CONNECTIONS = (1, 10)
SERVE_STARTUP_SECONDS = 60
SOCKET_ERRORS = ("connect", "read", "write", "timeout")


class Abort(Exception):
    """Something the benchmark cannot go on from: one line says what."""


@dataclass
class WrkRun:
    rate: float                   # Requests/sec
    requests: int                 # "N requests in ..."
    p50_ms: float | None
    p99_ms: float | None
    socket_errors: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_accepting(port: int, proc: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Abort(f"{what} exited with status {proc.returncode} before accepting on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise Abort(f"{what} did not accept a connection on 127.0.0.1:{port} within {seconds:.0f} s")


def fetch(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(DEFAULT_REQUEST)
        c.shutdown(socket.SHUT_WR)  # the server answers, reads the end, and closes
        chunks = []
        while chunk := c.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def stop(proc: subprocess.Popen | None) -> int | None:
    """SIGTERM, then SIGKILL after 5 s; the exit status (negative: killed by that signal)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def start_serve(elf: Path, port: int, log: Path, errors: Path) -> tuple[subprocess.Popen, int]:
    """``webelf serve`` (the webelf package this script imports) on ``port``; its stdout,
    the access log, goes to ``log``, so no pipe can fill.  Returns it and the port its first
    line names."""
    env = dict(os.environ)
    root = str(Path(webelf.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    with open(log, "wb") as out, open(errors, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "webelf", "serve", str(elf),
                                 "--port", str(port)], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, cwd=elf.parent, env=env)
    deadline = time.monotonic() + SERVE_STARTUP_SECONDS
    while True:
        text = log.read_text(errors="replace")
        if "\n" in text:
            first = text.split("\n", 1)[0]
            found = re.search(r"http://[\d.]+:(\d+)/", first)
            if not found:
                stop(proc)
                raise Abort(f"webelf serve's first line names no URL: {first!r}")
            return proc, int(found.group(1))
        if proc.poll() is not None:
            raise Abort(f"webelf serve exited with status {proc.returncode} before its first "
                        f"line; stderr: {errors.read_text(errors='replace').strip()!r}")
        if time.monotonic() > deadline:
            stop(proc)
            raise Abort(f"webelf serve printed no line within {SERVE_STARTUP_SECONDS} s")
        time.sleep(0.02)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _duration_ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not found:
        raise ValueError(text)
    return float(found.group(1)) * _UNITS_MS[found.group(2)]


def parse_wrk(output: str) -> WrkRun:
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.M)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if not rate or not requests:
        raise Abort("cannot read wrk's output:\n" + output)
    run = WrkRun(rate=float(rate.group(1)), requests=int(requests.group(1)), p50_ms=None,
                 p99_ms=None, socket_errors=dict.fromkeys(SOCKET_ERRORS, 0))
    for percent, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        found = re.search(rf"^\s*{percent}(?:\.0+)?%\s+(\S+)", output, re.M)
        if found:
            setattr(run, attr, _duration_ms(found.group(1)))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if errors:
        run.socket_errors = dict(zip(SOCKET_ERRORS, map(int, errors.groups())))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        run.non_2xx = int(non_2xx.group(1))
    return run


def run_wrk(wrk: str, port: int, connections: int, seconds: int) -> WrkRun:
    return run_wrk_command([wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                            f"http://127.0.0.1:{port}/"], seconds)


def run_wrk_command(command: list[str], seconds: int) -> WrkRun:
    """Run ``command`` (a wrk command line of ``seconds``) and read its output."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        raise Abort(f"wrk did not finish within {seconds + 60} s: {' '.join(command)}") from None
    if done.returncode != 0:
        raise Abort(f"wrk exited with status {done.returncode}: {done.stderr.strip()}")
    return parse_wrk(done.stdout)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = "/".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{model}, {cores} cores ({usable} usable), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, load average {load} "
            "at the start")


def wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "wrk"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def table(runs: dict[tuple[str, int], list[WrkRun]]) -> list[str]:
    lines = ["| server | connections | requests/s (median) | rounds min..max | latency p50 ms "
             "| latency p99 ms | socket errors connect/read/write/timeout (sum) | non-2xx (sum) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for connections in CONNECTIONS:
        for server in ("native", "webelf serve"):
            cell = runs[server, connections]
            rates = [r.rate for r in cell]
            p50 = [r.p50_ms for r in cell if r.p50_ms is not None]
            p99 = [r.p99_ms for r in cell if r.p99_ms is not None]
            errors = "/".join(str(sum(r.socket_errors[k] for r in cell)) for k in SOCKET_ERRORS)
            lines.append(
                f"| {server} | {connections} | {statistics.median(rates):,.1f} | "
                f"{min(rates):,.1f}..{max(rates):,.1f} | "
                f"{_ms(statistics.median(p50) if p50 else None)} | "
                f"{_ms(statistics.median(p99) if p99 else None)} | {errors} | "
                f"{sum(r.non_2xx for r in cell)} |")
    lines += ["", "| connections | serve / native (median requests/s) |", "|---:|---:|"]
    for connections in CONNECTIONS:
        native = statistics.median(r.rate for r in runs["native", connections])
        served = statistics.median(r.rate for r in runs["webelf serve", connections])
        ratio = served / native if native else float("nan")
        slower = f" (native is {native / served:,.1f}x faster)" if served else ""
        lines.append(f"| {connections} | {ratio:.4f}{slower} |")
    return lines


def benchmark(args: argparse.Namespace, wrk: str, tmp: Path) -> int:
    # An HTTP/1.1 request that does not ask to close: the kept-alive answer.
    response = Response.of(default_page()).sent(keep_alive=True)
    elf = tmp / "site.elf"
    guest_port = free_port()
    elf.write_bytes(build_server(default_site(), ServerConfig(port=guest_port, bind="127.0.0.1")))
    elf.chmod(0o755)
    log, errors = tmp / "serve-stdout.log", tmp / "serve-stderr.log"
    native = serve = None
    serve_status = None
    try:
        try:
            native = subprocess.Popen([str(elf)], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      cwd=tmp)
        except OSError as exc:
            raise Abort(f"cannot run the i386 ELF natively ({exc.strerror}): the native column "
                        "needs an x86 Linux kernel with CONFIG_IA32_EMULATION") from None
        wait_accepting(guest_port, native, "the native ELF")
        serve, serve_port = start_serve(elf, free_port(), log, errors)
        wait_accepting(serve_port, serve, "webelf serve")
        for server, port in (("native", guest_port), ("webelf serve", serve_port)):
            got = fetch(port)
            if got != response:
                raise Abort(f"{server} on port {port} answered {len(got)} bytes that are not "
                            f"the default page's response ({len(response)} bytes): {got[:200]!r}")
        logged_before = len(log.read_text(errors="replace").splitlines())

        runs: dict[tuple[str, int], list[WrkRun]] = {
            (server, c): [] for server in ("native", "webelf serve") for c in CONNECTIONS}
        for round_ in range(1, args.rounds + 1):
            for connections in CONNECTIONS:
                for server, port, proc in (("native", guest_port, native),
                                           ("webelf serve", serve_port, serve)):
                    run = run_wrk(wrk, port, connections, args.seconds)
                    runs[server, connections].append(run)
                    print(f"round {round_}/{args.rounds}: {server:>12} c{connections:<2} "
                          f"{run.rate:>10,.1f} requests/s  ({run.requests} requests, socket "
                          f"errors {run.socket_errors}, non-2xx {run.non_2xx})",
                          file=sys.stderr, flush=True)
                    if proc.poll() is not None:
                        raise Abort(f"{server} exited with status {proc.returncode} during "
                                    f"wrk -c{connections}")
        served = sum(r.requests for c in CONNECTIONS for r in runs["webelf serve", c])
        lines = log.read_text(errors="replace").splitlines()[logged_before:]
        logged, logged_ok = len(lines), sum(1 for line in lines if '" 200 ' in line)
        serve_status = stop(serve)
        serve = None
    finally:
        if serve is not None:
            serve_status = stop(serve)
        stop(native)
        stderr_text = errors.read_text(errors="replace") if errors.exists() else ""
        if stderr_text.strip():
            print("webelf serve's stderr:\n" + stderr_text.rstrip(), file=sys.stderr)

    print("\n".join(table(runs)))
    print()
    print(f"- wrk: {wrk_version(wrk)}, `wrk -t1 -cN -d{args.seconds}s --latency "
          f"http://127.0.0.1:PORT/`, {args.rounds} round(s), interleaved native c1, serve c1, "
          "native c10, serve c10 each round; each cell is the median over the rounds.")
    print("- The server keeps connections alive (an epoll event loop): wrk's connections "
          "carry request after request, natively and through serve.")
    print(f"- webelf serve's stdout (the access log) went to a file: {logged:,} lines logged "
          f"({logged_ok:,} of them status 200) for {served:,} responses wrk counted (wrk "
          f"leaves out those still in flight when it stops). serve exited with status "
          f"{serve_status} on SIGTERM; its stderr was "
          + ("empty." if not stderr_text.strip() else "not empty (shown above)."))
    print(f"- machine: {args.machine}")
    print(f"- date: {args.date}")
    print(f"\nreproduce: python benchmarks/serve_speed.py --seconds {args.seconds} "
          f"--rounds {args.rounds}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    return 0


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, help="seconds per wrk run (default 5; --quick 1)")
    parser.add_argument("--rounds", type=int, help="rounds of the four runs (default 3; --quick 1)")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: 1 s per wrk run, 1 round (unless given)")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 1 if args.quick else 5
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.seconds < 1 or args.rounds < 1:
        parser.error("--seconds and --rounds must be at least 1")
    wrk = shutil.which("wrk")
    if wrk is None:
        print("serve_speed: wrk is not installed; it is the package wrk "
              "(apt-get install wrk, brew install wrk)", file=sys.stderr)
        return 2
    args.machine = machine()
    args.date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    signal.signal(signal.SIGTERM, _interrupted)  # so that finally stops the servers
    with tempfile.TemporaryDirectory(prefix="serve_speed-") as tmp:
        try:
            return benchmark(args, wrk, Path(tmp))
        except Abort as exc:
            print(f"serve_speed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("serve_speed: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
