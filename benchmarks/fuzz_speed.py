"""How fast webelf fuzz runs inputs against the default site's server, and its edges over time.

Reproduce: python benchmarks/fuzz_speed.py [--runs N] [--seconds S]
(from the repository root, after pip install .; one process, one core)

Rows, each the best of three rounds (the machine may be shared; the best round is the
least disturbed one):

- restore only: Snapshot.restore() with nothing run in between (the fuzzer's snapshot: a
  client connected and accepted, the guest waiting for its first bytes);
- restore + request: that snapshot restored, then the default request sent on its
  connection, the guest run until it waits again (no coverage, no judging): the floor of
  a fuzzer;
- fuzzer execute: the same through Fuzzer.execute (edge hook, instruction budget, judging);
- fuzz loop: Fuzzer.run with mutations from the request corpus, minimising included;
- the same two after one warm-up request before the snapshot (the server's first request
  after start does more than the next ones: a snapshot taken after it is faster to fuzz);
- plain request (no snapshot): Guest.request on a guest that keeps its state, for scale.

Then the fuzz loop's edges over time.  The hooks are compiled C when a compiler is found
(harness/native.py); WEBELF_PYTHON_HOOKS=1 measures the Python fallback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from generator import build_server, default_site
from harness import DEFAULT_REQUEST, Guest
from harness import fuzz
from harness.fuzz import Fuzzer
from harness.native import library

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "requests").glob("*.http"))]


def best_rate(fn, n: int, rounds: int = 3) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def fresh(program: bytes, warmup: int = 0) -> Guest:
    guest = Guest(program)
    guest.start()
    for _ in range(warmup):
        guest.request(DEFAULT_REQUEST)
    return guest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3000, help="runs per measurement")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="how long the edges-over-time fuzz loop runs")
    args = parser.parse_args()
    n = args.runs
    program = build_server(default_site())
    rows: list[tuple[str, float]] = []

    guest = fresh(program)
    snapshot = fuzz._snapshot_waiting_to_read(guest, guest.port())
    port = guest.port()
    rows.append(("restore only", best_rate(snapshot.restore, n)))
    rows.append(("restore + request (no coverage, no judging)",
                 best_rate(lambda: (snapshot.restore(),
                                    fuzz._send(guest, snapshot, port, DEFAULT_REQUEST, ())), n)))
    snapshot.close()
    guest.close()

    for warmup in (0, 1):
        guest = fresh(program, warmup)
        fuzzer = Fuzzer(guest, SEEDS, seed=1)
        label = " (snapshot after a warm-up request)" if warmup else ""
        rows.append((f"fuzzer execute, default request{label}",
                     best_rate(lambda f=fuzzer: f.execute(DEFAULT_REQUEST), n)))
        start = time.perf_counter()
        report = fuzzer.run(runs=n)
        rows.append((f"fuzz loop, mutated corpus{label}", n / (time.perf_counter() - start)))
        fuzzer.close()
        guest.close()

    guest = fresh(program)
    rows.append(("plain request, no snapshot (for scale)",
                 best_rate(lambda: guest.request(DEFAULT_REQUEST), n)))
    guest.close()

    hooks = "compiled C" if library() is not None else "Python (no C compiler)"
    print(f"webelf fuzz speed, default site's server, {n:,} runs per row, hooks: {hooks}")
    print()
    print("| what | executions/s |")
    print("|---|---:|")
    for what, rate in rows:
        print(f"| {what} | {rate:,.0f} |")

    guest = fresh(program)
    fuzzer = Fuzzer(guest, SEEDS, seed=1)
    report = fuzzer.run(seconds=args.seconds)
    print()
    print(f"edges over time ({args.seconds:g} s fuzz loop, seed 1): "
          f"{report.runs:,} runs ({report.runs / report.seconds:,.0f}/s), "
          f"{report.edges} edges, corpus {report.corpus}, "
          f"{len(report.findings)} findings")
    print()
    print("| seconds | runs | edges |")
    print("|---:|---:|---:|")
    shown = 0.0
    for seconds, runs, edges in report.history:
        if seconds >= shown or (seconds, runs, edges) == report.history[-1]:
            print(f"| {seconds:.2f} | {runs:,} | {edges} |")
            shown = max(shown * 2, 0.05)
    print()
    print(f"reproduce: python benchmarks/fuzz_speed.py --runs {n} --seconds {args.seconds:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
