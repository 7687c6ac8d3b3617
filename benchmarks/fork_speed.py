"""What a fork costs in the harness, beside the same program on the real kernel.

Reproduce: python benchmarks/fork_speed.py [--forks N] [--native]
(from the repository root, after pip install .; --native on x86 Linux also times the same
ELF natively)

The guest forks N times; each child exits at once and the parent reaps it with wait4
before the next fork, so each round is fork + the child's run + exit + wait4.  Memory is
copied at fork (no copy-on-write yet), so the cost grows with the parent's mapped memory:
this program has one page of code and the initial 132 KiB of stack.  Measured through the
public Python API, tracing off, one process; the machine's load moves the numbers, so
compare rows measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from generator.elf import link
from generator.x86 import EAX, EBX, ECX, EDX, ESI, Assembler
from harness import Guest

SYS_exit, SYS_fork, SYS_wait4 = 1, 2, 114


def forker(n: int) -> bytes:
    """fork ``n`` times; a child exits 0 at once, the parent wait4s for it; then exit 0."""
    a = Assembler()
    start, loop, child = a.label("_start"), a.label("loop"), a.label("child")
    a.bind(start)
    a.mov(ESI, n)
    a.bind(loop)
    a.mov(EAX, SYS_fork)           # fork()
    a.int_(0x80)
    a.test(EAX, EAX)
    a.j("z", child)
    a.mov(EBX, EAX)                # wait4(pid, NULL, 0, NULL)
    a.xor(ECX, ECX)
    a.xor(EDX, EDX)
    a.push(ESI)
    a.xor(ESI, ESI)
    a.mov(EAX, SYS_wait4)
    a.int_(0x80)
    a.pop(ESI)
    a.dec(ESI)
    a.j("nz", loop)
    a.xor(EBX, EBX)
    a.mov(EAX, SYS_exit)           # exit(0)
    a.int_(0x80)
    a.bind(child)
    a.xor(EBX, EBX)
    a.mov(EAX, SYS_exit)           # the child: exit(0)
    a.int_(0x80)
    return link(a, start)


def harness_per_fork(program: bytes, n: int, rounds: int = 5) -> list[float]:
    """Milliseconds per fork round, one value per round."""
    per = []
    for _ in range(rounds):
        guest = Guest(program, max_seconds=120)
        began = time.perf_counter()
        stop = guest.start()
        elapsed = time.perf_counter() - began
        assert stop.reason == "exited" and stop.status == 0, stop
        per.append(elapsed / n * 1000)
        guest.close()
    return per


def native_per_fork(program: bytes, n: int, rounds: int = 5) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "forker"
        path.write_bytes(program)
        path.chmod(0o755)
        per = []
        for _ in range(rounds):
            began = time.perf_counter()
            subprocess.run([str(path)], check=True)
            per.append((time.perf_counter() - began) / n * 1000)
        return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=200)
    parser.add_argument("--native", action="store_true")
    args = parser.parse_args()
    program = forker(args.forks)
    rows = []
    per = harness_per_fork(program, args.forks)
    rows.append(("harness: ms per fork + exit + wait4 (median of 5 rounds)",
                 f"{statistics.median(per):.3f}"))
    rows.append(("harness: the same, best round", f"{min(per):.3f}"))
    if args.native:
        per = native_per_fork(program, args.forks)
        rows.append(("native kernel: ms per fork + exit + wait4 (median)",
                     f"{statistics.median(per):.3f}"))
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\nreproduce: python benchmarks/fork_speed.py --forks {args.forks}"
          + (" --native" if args.native else ""))


if __name__ == "__main__":
    main()
