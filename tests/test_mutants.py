"""Property test: mutated ELFs never break the harness (issue 9).

10,240 mutants (tests/mutants.py: bit flips, truncations, edited ELF and program header
fields) of the fixtures' programs and a generated server go through the harness with a short
budget (0.2 s, 200 system calls, 50,000 instructions), in chunks that pytest-xdist spreads
over its workers.  Each chunk runs in a child Python, in-process there through
:class:`harness.Guest`, so that its peak RSS can be measured alone and a hang is caught by a
timeout.  Asserted: nothing but a HarnessError (ElfError, GuestFault, GuestTimeout...) comes
out, no mutant takes more than a few seconds, and no chunk's process goes above 512 MiB.  A
few mutants also go through ``webelf run`` (exit status, one line on stderr, no traceback).

The corpus fixtures/mutants/ holds the ELFs that broke the harness before (a raw UcError):
each is replayed in every run, with the outcome Linux gives it (expected.txt), and also
run natively where the host can.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import linux as L
from mutants import SLOW, mutant, outcome, run_chunk, seeds
from support import FIXTURES, NATIVE

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
CHUNKS = 40
PER_CHUNK = 256
#: Peak RSS allowed to the process that runs one chunk of mutants.
MAX_RSS = 512 << 20


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    return env


def test_enough_mutants():
    assert CHUNKS * PER_CHUNK >= 10_000


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_mutants_raise_only_harness_errors(chunk):
    first = chunk * PER_CHUNK
    proc = subprocess.run([sys.executable, str(TESTS / "mutants.py"), str(first),
                           str(PER_CHUNK)], capture_output=True, text=True, timeout=240,
                          env=_child_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["failures"] == [], json.dumps(report["failures"][:5], indent=1)
    took, index = report["slowest"]
    assert took < SLOW, f"mutant {index} took {took:.1f} s"
    assert report["maxrss_kib"] * 1024 < MAX_RSS, f"peak RSS {report['maxrss_kib'] >> 10} MiB"
    # The mutants reach past the loader: some run, some fault, some are refused.
    outcomes = report["outcomes"]
    assert outcomes.get("refused", 0) and sum(
        n for what, n in outcomes.items() if what.startswith(("exit", "signal", "served"))), \
        outcomes


def test_a_chunk_in_process_reports_a_non_harness_error(monkeypatch):
    """The property test can fail: an exception that escapes the harness is reported with
    the mutant's number."""
    import mutants

    def broken(program):
        raise RuntimeError("escaped")

    monkeypatch.setattr(mutants, "outcome", broken)
    report = run_chunk(7, 2)
    assert [f["index"] for f in report["failures"]] == [7, 8]
    assert "RuntimeError: escaped" in report["failures"][0]["error"][-1]


def test_mutants_are_deterministic():
    all_seeds = seeds()
    assert mutant(all_seeds, 1234) == mutant(all_seeds, 1234)
    assert len({mutant(all_seeds, i)[1] for i in range(200)}) > 150


#: Mutants that also go through ``webelf run``, a few from each chunk's range.
CLI_MUTANTS = list(range(3, CHUNKS * PER_CHUNK, CHUNKS * PER_CHUNK // 24))


@pytest.mark.parametrize("index", CLI_MUTANTS)
def test_mutants_through_webelf_run(index, tmp_path):
    """The console script: the documented exit status for what the harness says, one
    ``webelf:`` line at most on stderr and never a traceback."""
    _, program = mutant(seeds(), index)
    path = tmp_path / "mutant.elf"
    path.write_bytes(program)
    expected = outcome(program)
    proc = subprocess.run([sys.executable, "-m", "webelf", "run", "--max-seconds", "2",
                           "--max-instructions", "50000", str(path)],
                          capture_output=True, timeout=60, env=_child_env(), cwd=ROOT,
                          stdin=subprocess.DEVNULL)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    # One line, and the documented second one naming the calls the harness does not model.
    ours = [line for line in stderr.splitlines() if line.startswith("webelf")
            and not line.startswith("webelf: unmodelled system calls: ")]
    assert len(ours) <= 1, stderr
    if expected == "refused":
        assert proc.returncode == 125 and "cannot run" in ours[0]
    elif expected.startswith("signal "):
        assert proc.returncode == 128 + int(expected.split()[1])
    elif expected == "timeout":
        assert proc.returncode == 124
    elif expected.startswith("exit "):
        assert proc.returncode == int(expected.split()[1])


# ---------------------------------------------------------------------------- the corpus

CORPUS = FIXTURES / "mutants"


def _corpus() -> list[tuple[str, str]]:
    entries = []
    for line in (CORPUS / "expected.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, rest = line.split(None, 1)
            word, *more = rest.split()
            entries.append((name, word if word == "refused" else f"exit {more[0]}"))
    return entries


def test_the_corpus_is_listed_whole():
    assert sorted(name for name, _ in _corpus()) == sorted(
        p.name for p in CORPUS.glob("*.elf"))


@pytest.mark.parametrize("name, expected", _corpus())
def test_corpus_mutant_in_the_harness(name, expected):
    assert outcome((CORPUS / name).read_bytes()) == expected


@pytest.mark.native
@pytest.mark.skipif(not NATIVE, reason="runs i386 ELFs natively")
@pytest.mark.parametrize("name, expected", _corpus())
def test_corpus_mutant_natively(name, expected, tmp_path):
    """What expected.txt says is what Linux does: the exit status, or SIGSEGV for an exec
    that fails past its point of no return."""
    path = tmp_path / "mutant"
    path.write_bytes((CORPUS / name).read_bytes())
    path.chmod(0o755)
    proc = subprocess.run(["setarch", "-R", str(path)], env={}, capture_output=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    if expected == "refused":
        assert proc.returncode == -L.SIGSEGV
    else:
        assert proc.returncode == int(expected.split()[1])


@pytest.mark.parametrize("name, expected", _corpus())
def test_corpus_mutant_through_webelf_run(name, expected):
    proc = subprocess.run([sys.executable, "-m", "webelf", "run", "--max-seconds", "2",
                           str(CORPUS / name)], capture_output=True, timeout=60,
                          env=_child_env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == (125 if expected == "refused" else int(expected.split()[1]))
