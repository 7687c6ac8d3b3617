"""How fast the harness replays requests, and how fast it gets to a first response.

Reproduce: python benchmarks/harness_speed.py [--requests N] [--loads N]
(from the repository root, after pip install .; add --native on x86 Linux to time the
same ELF on the real kernel with a sequential loopback client, for scale)

Measured through the public Python API, tracing off, one process, one core.  The
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


def replay_rate(program: bytes, response: bytes, n: int, rounds: int = 5) -> tuple[float, float]:
    """Requests per second over ``rounds`` rounds of ``n/rounds`` requests: (median, best).
    The machine is shared; the best round is the least disturbed one."""
    guest = Guest(program)
    guest.start()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n // rounds):
            got = guest.request(DEFAULT_REQUEST)
        rates.append(n // rounds / (time.perf_counter() - start))
        assert got == response
    return statistics.median(rates), max(rates)


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


def native_rate(program: bytes, response: bytes, n: int) -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "site.elf"
        path.write_bytes(build_server(default_site(), ServerConfig(port=port, bind="127.0.0.1")))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--loads", type=int, default=200)
    parser.add_argument("--native", action="store_true")
    args = parser.parse_args()

    # DEFAULT_REQUEST is HTTP/1.1 without Connection: close: the kept-alive answer.
    response = Response.of(default_page()).sent(keep_alive=True)
    program = build_server(default_site())
    median, best = replay_rate(program, response, args.requests)
    rows = [
        ("harness: requests/s, default request, one guest (median of 5 rounds)", f"{median:,.0f}"),
        ("harness: requests/s, the same, best round", f"{best:,.0f}"),
        ("harness: load ELF -> first response, median ms", f"{first_response_ms(program, response, args.loads):.2f}"),
    ]
    if args.native:
        rows.append(("native kernel: requests/s, sequential loopback client",
                     f"{native_rate(program, response, min(args.requests, 5000)):,.0f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\nreproduce: python benchmarks/harness_speed.py --requests {args.requests} "
          f"--loads {args.loads}{' --native' if args.native else ''}")


if __name__ == "__main__":
    main()
