"""How fast the harness replays requests, and how fast it gets to a first response.

Reproduce: python benchmarks/harness_speed.py [--requests N] [--loads N]
(from the repository root, after pip install .; add --native on x86 Linux to time the
same ELF on the real kernel with a sequential loopback client, for scale)

Measured through the public Python API, tracing off, one process, one core, for the
server ``webelf build`` writes for each architecture (i386, x86-64), rounds interleaved.  The
numbers vary with the machine's load: compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from generator import ServerConfig, build_server, default_page, default_site
from generator.site import Response
from harness import DEFAULT_REQUEST, Guest


def replay_rates(programs: dict[str, bytes], response: bytes, n: int,
                 rounds: int = 5) -> dict[str, tuple[float, float]]:
    """Requests per second over ``rounds`` rounds of ``n/rounds`` requests for each
    program, the programs' rounds interleaved: {name: (median, best)}.  The machine is
    shared; the best round is the least disturbed one."""
    guests = {}
    for name, program in programs.items():
        guests[name] = guest = Guest(program)
        guest.start()
    rates: dict[str, list[float]] = {name: [] for name in programs}
    for _ in range(rounds):
        for name, guest in guests.items():
            start = time.perf_counter()
            for _ in range(n // rounds):
                got = guest.request(DEFAULT_REQUEST)
            rates[name].append(n // rounds / (time.perf_counter() - start))
            assert got == response, name
    return {name: (statistics.median(r), max(r)) for name, r in rates.items()}


def replay_rate(program: bytes, response: bytes, n: int, rounds: int = 5) -> tuple[float, float]:
    """One program's (median, best) requests per second: :func:`replay_rates` of one."""
    return replay_rates({"": program}, response, n, rounds)[""]


def first_response_ms(program: bytes, response: bytes, loads: int) -> float:
    times = []
    for _ in range(loads):
        start = time.perf_counter()
        guest = Guest(program)
        guest.start()
        got = guest.request(DEFAULT_REQUEST)
        times.append(time.perf_counter() - start)
        assert got == response
        guest.machine.close()
    return statistics.median(times) * 1000


def native_rate(arch: str, response: bytes, n: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.elf"
        path.write_bytes(build_server(default_site(),
                                      ServerConfig(port=port, bind="127.0.0.1", arch=arch)))
        path.chmod(0o755)
        proc = subprocess.Popen([str(path)], stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.01)
            start = time.perf_counter()
            for _ in range(n):
                with socket.create_connection(("127.0.0.1", port)) as c:
                    c.sendall(DEFAULT_REQUEST)
                    c.shutdown(socket.SHUT_WR)  # answered, then closed at the end of file
                    chunks = []
                    while chunk := c.recv(65536):
                        chunks.append(chunk)
            elapsed = time.perf_counter() - start
            assert b"".join(chunks) == response
            return n / elapsed
        finally:
            proc.kill()
            proc.wait()


#: The architectures ``webelf build --arch`` writes: the same server, side by side.
ARCHS = ("i386", "x86_64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--loads", type=int, default=200)
    parser.add_argument("--native", action="store_true")
    args = parser.parse_args()

    # DEFAULT_REQUEST is HTTP/1.1 without Connection: close: the kept-alive answer.
    response = Response.of(default_page()).sent(keep_alive=True)
    programs = {arch: build_server(default_site(), ServerConfig(arch=arch)) for arch in ARCHS}
    rates = replay_rates(programs, response, args.requests)
    rows = [
        ("harness: requests/s, default request, one guest (median of 5 rounds)",
         [f"{rates[arch][0]:,.0f}" for arch in ARCHS]),
        ("harness: requests/s, the same, best round", [f"{rates[arch][1]:,.0f}" for arch in ARCHS]),
        ("harness: load ELF -> first response, median ms",
         [f"{first_response_ms(programs[arch], response, args.loads):.2f}" for arch in ARCHS]),
    ]
    if args.native:
        rows.append(("native kernel: requests/s, sequential loopback client",
                     [f"{native_rate(arch, response, min(args.requests, 5000)):,.0f}"
                      for arch in ARCHS]))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  " + "  ".join(f"{arch:>8}" for arch in ARCHS))
    for name, values in rows:
        print(f"{name:<{width}}  " + "  ".join(f"{value:>8}" for value in values))
    print(f"\nreproduce: python benchmarks/harness_speed.py --requests {args.requests} "
          f"--loads {args.loads}{' --native' if args.native else ''}")


if __name__ == "__main__":
    main()
