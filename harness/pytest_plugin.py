"""pytest fixtures for testing your own ELF in a few lines (registered as the ``webelf``
plugin through the ``pytest11`` entry point, so installing webelf is enough)::

    def test_home_page(elf_guest):
        guest = elf_guest("build/site.elf")          # loaded and run until it waits
        response = guest.request(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        assert response.startswith(b"HTTP/1.1 200 OK\\r\\n")

    def test_valid_http(elf_guest, http_check):
        response = elf_guest("build/site.elf").request(b"GET / HTTP/1.1\\r\\n\\r\\n")
        http_check(response)                          # h11 agrees, Content-Length included

Every guest has its own fake network and memory, so tests share nothing and run safely
under ``pytest -n auto``.  Paths are relative to pytest's root directory; the ini option
``webelf_elf`` names a default ELF for ``elf_guest()`` called without one.

Guest coverage: ``elf_guest(path, coverage=True)``, or the ini option
``webelf_coverage = true`` for every guest, records which instructions each guest ran; the
session adds them up per program (:class:`harness.coverage.CoverageMap`, keyed by the
program's executable segments, so the same ELF under two names is one program) and the
terminal summary shows each program's coverage and the instructions no test reached.
Under pytest-xdist each worker hands its coverage to the controller at the end
(``workeroutput``), so the summary is the whole run's.  A guest made without the fixture
joins in through ``elf_coverage.add(guest, "name")``.

Fuzzing: ``webelf_fuzz("build/server.elf", runs=2000, regressions="tests/fuzz")`` keeps a
short fuzz run in the suite, its findings kept and replayed as regression cases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .guest import Guest

if TYPE_CHECKING:
    from .coverage import CoverageMap

#: What a worker puts in ``config.workeroutput``: CoverageMap.to_data(), plain lists.
_WORKEROUTPUT_KEY = "webelf_coverage"
#: Uncovered instructions the terminal summary shows per program before it says "more":
#: a program that no test touches would otherwise fill the terminal.
SUMMARY_LINES = 50

_coverage_key = pytest.StashKey["CoverageMap"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("webelf_elf", "default ELF for the elf_guest fixture", default="")
    parser.addini("webelf_coverage", "record guest coverage for every elf_guest and print a "
                  "summary per program", type="bool", default=False)


def session_coverage(config: pytest.Config) -> CoverageMap:
    """The coverage this session (or this xdist worker) has recorded so far."""
    from .coverage import CoverageMap

    return config.stash.setdefault(_coverage_key, CoverageMap())


@pytest.fixture
def elf_guest(request: pytest.FixtureRequest) -> Callable[..., Guest]:
    """A factory: ``elf_guest(path_or_bytes, **Guest options)`` returns a guest that has
    run to its first wait (usually accept4).  Guests are released after the test, and
    their coverage, if recorded, is added to the session's."""
    guests: list[tuple[Guest, str | None]] = []
    config = request.config
    root = Path(str(config.rootpath))

    def make(program: str | Path | bytes | None = None, **kwargs) -> Guest:
        if program is None:
            program = config.getini("webelf_elf") or None
            if program is None:
                raise pytest.UsageError("elf_guest() needs an ELF, or the ini option webelf_elf")
        if "coverage" not in kwargs and config.getini("webelf_coverage"):
            kwargs["coverage"] = True
        if isinstance(program, (bytes, bytearray)):
            guest, name = Guest(bytes(program), **kwargs), None
        else:
            path = Path(program)
            guest = Guest.load(path if path.is_absolute() else root / path, **kwargs)
            name = str(program)
        guests.append((guest, name))
        guest.start()
        return guest

    yield make
    for guest, name in guests:
        if guest.machine.covered is not None:
            session_coverage(config).add(guest, name)
        guest.machine.close()


@pytest.fixture(scope="session")
def elf_coverage(request: pytest.FixtureRequest) -> CoverageMap:
    """The session's coverage by program, for guests made without ``elf_guest``:
    ``elf_coverage.add(guest, "site.elf")`` (the guest needs ``coverage=True``)."""
    return session_coverage(request.config)


@pytest.fixture
def http_check() -> Callable[..., object]:
    """``http_check(response, method="GET")`` fails the test with h11's verdict unless the
    response is valid HTTP/1.1 whose Content-Length frames its body; returns the report."""
    from .http import check_response

    def check(response: bytes, method: str = "GET"):
        report = check_response(response, method)
        if report.problems:
            pytest.fail("invalid HTTP response: " + "; ".join(report.problems), pytrace=False)
        return report

    return check


@pytest.fixture
def webelf_fuzz(request: pytest.FixtureRequest) -> Callable[..., object]:
    """A short fuzz run as a test: ``webelf_fuzz(path_or_bytes, runs=2000, seed=0,
    seeds=None, regressions=None, budget=None, **Guest options)`` fuzzes the ELF
    (:mod:`harness.fuzz`) from ``seeds`` (request bytes; by default one GET /) for ``runs``
    runs and returns the report when nothing was found.

    ``regressions`` is a directory (relative to pytest's root) of earlier findings: each
    ``*.http`` file in it is replayed first, and the test fails naming those that still
    crash, hang or get an invalid response; new findings are written there as
    ``<kind>-<n>.http`` (and the test fails), so the next run replays them as regression
    cases until the bug is fixed."""
    from .fuzz import DEFAULT_BUDGET, Fuzzer

    root = Path(str(request.config.rootpath))
    made: list[Fuzzer] = []

    def fuzz(program: str | Path | bytes, *, runs: int = 2000, seed: int = 0,
             seeds: list[bytes] | None = None, regressions: str | Path | None = None,
             budget: int | None = None, **kwargs):
        if isinstance(program, (bytes, bytearray)):
            guest = Guest(bytes(program), **kwargs)
        else:
            path = Path(program)
            guest = Guest.load(path if path.is_absolute() else root / path, **kwargs)
        guest.start()
        fuzzer = Fuzzer(guest, seeds or [], seed=seed, budget=budget or DEFAULT_BUDGET)
        made.append(fuzzer)
        folder = None
        if regressions is not None:
            folder = Path(regressions)
            folder = folder if folder.is_absolute() else root / folder
            folder.mkdir(parents=True, exist_ok=True)
            still = []
            for case in sorted(folder.glob("*.http")):
                outcome = fuzzer.execute(case.read_bytes())
                if outcome.kind != "ok":
                    still.append(f"{case.name}: {outcome.detail}")
            if still:
                pytest.fail("regression cases still fail:\n" + "\n".join(still),
                            pytrace=False)
        report = fuzzer.run(runs=runs)
        if report.findings:
            lines = []
            for finding in report.findings:
                where = ""
                if folder is not None:
                    target = folder / f"{finding.name}.http"
                    n = finding.number
                    while target.exists():
                        n += 1
                        target = folder / f"{finding.kind}-{n}.http"
                    target.write_bytes(finding.data)
                    where = f" (written to {target})"
                lines.append(f"{finding.name}: {finding.detail}: {finding.data!r}{where}")
            pytest.fail(f"webelf fuzz found {len(lines)} problem(s) in {report.runs} runs:\n"
                        + "\n".join(lines), pytrace=False)
        return report

    yield fuzz
    for fuzzer in made:
        fuzzer.close()
        fuzzer.guest.close()


# ---------------------------------------------------------------------- coverage across processes

def pytest_sessionfinish(session: pytest.Session) -> None:
    """In an xdist worker: hand the worker's coverage to the controller, which merges it
    in :func:`pytest_testnodedown` (xdist sends workeroutput after this hook)."""
    config = session.config
    recorded = config.stash.get(_coverage_key, None)
    if hasattr(config, "workeroutput") and recorded:
        config.workeroutput[_WORKEROUTPUT_KEY] = recorded.to_data()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the xdist controller, as each worker ends: add what it recorded."""
    data = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT_KEY)
    if data:
        from .coverage import CoverageMap

        session_coverage(node.config).update(CoverageMap.from_data(data))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workeroutput"):
        return
    recorded = config.stash.get(_coverage_key, None)
    if not recorded:
        return
    terminalreporter.write_sep("-", "webelf guest coverage")
    for coverage in recorded:
        head, *missing = coverage.report().split("\n")
        terminalreporter.write_line(f"{coverage.name}: {head}")
        for line in missing[:SUMMARY_LINES]:
            terminalreporter.write_line(f"    {line}")
        if len(missing) > SUMMARY_LINES:
            terminalreporter.write_line(f"    ... and {len(missing) - SUMMARY_LINES} more "
                                        f"instructions never ran")
