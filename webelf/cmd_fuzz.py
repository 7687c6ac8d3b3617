"""``webelf fuzz``: the command line around :mod:`harness.fuzz`: seeds from a corpus
directory, findings written as files with the command that reproduces each, progress
lines, and --jobs as child processes."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from harness import DEFAULT_REQUEST, Guest

from .common import EXIT_DIFFERS, EXIT_OK, UsageError, _guest, _read, _read_elf, _stderr_line
from .options import _positive, _seconds, guest_options


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``webelf fuzz``'s options; --max-instructions' help says what it means here."""
    fuzz = sub.add_parser(
        "fuzz", help="find requests that crash, hang or break an ELF server",
        usage="webelf fuzz ELF [--corpus DIR] [--runs N | --seconds S] [--out DIR] "
              "[--seed S] [options] [--] [ARG...]",
        description=(
            "Coverage-guided fuzzing of a static i386 or x86-64 Linux ELF server through the "
            "fake network, with no change to the program: it runs until it first waits for "
            "a connection, a client connects, and once the program has accepted it and "
            "waits for its bytes it is snapshotted there (or, if it cannot be, where it "
            "first waited); each input is sent to the guest restored to that moment. Inputs that reach new edges of the "
            "program's control flow join the corpus. A finding is a crash (any fatal "
            "signal), a hang (the instruction budget used up between two waits) or an "
            "invalid HTTP response (h11, a Content-Length that disagrees with the body "
            "included), or with --reference a response unlike another build's; each "
            "distinct one is minimised and written as DIR/<kind>-<n>.http, "
            "with one line on stderr and the webelf run command that reproduces it. A "
            "progress line goes to stderr at most once a second. The same --seed and --runs "
            "give the same findings. ARGs are the guest's, as for webelf run."),
        epilog=("exit status: 0 nothing found; 1 something found (or the guest listens on "
                "no port); 2 bad usage, a corpus without requests, or a guest that never "
                "waits for a connection; 124 the guest ran out of its budget before it "
                "waited; 125 not a static i386 or x86-64 ELF; 128+N killed by signal N "
                "before it waited; 130 interrupted (the findings so far are written)."))
    guest_options(fuzz)
    fuzz.add_argument("args", metavar="ARG", nargs="*",
                      help="the guest's arguments, after argv[0] (ELF as given)")
    fuzz.add_argument("--corpus", metavar="DIR", type=Path, default=None,
                      help="the seed requests: every regular file in DIR (default: the "
                           "project's request corpus, fixtures/requests, when it is there; "
                           "else one GET / request)")
    budget = fuzz.add_mutually_exclusive_group()
    budget.add_argument("--runs", metavar="N", type=_positive, default=None,
                        help="stop after N runs (reproducible; default: 10000 unless "
                             "--seconds is given)")
    budget.add_argument("--seconds", metavar="S", type=_seconds, default=None,
                        help="stop after S seconds of wall clock")
    fuzz.add_argument("--out", metavar="DIR", type=Path, default=Path("fuzz-findings"),
                      help="where findings are written (default: fuzz-findings)")
    fuzz.add_argument("--seed", metavar="S", type=int, default=0,
                      help="the random seed (default: 0)")
    fuzz.add_argument("--jobs", metavar="N", type=_positive, default=1,
                      help="fuzz in N processes at once, job K with seed S+K, sharing new "
                           "corpus entries through DIR/.corpus and the findings' keys, so "
                           "that a bug several jobs find is written once (the runs then "
                           "depend on timing; --runs and --seconds are each job's)")
    fuzz.add_argument("--job", type=int, default=0, help=argparse.SUPPRESS)  # a job's number
    fuzz.add_argument("--keys", type=Path, default=None, help=argparse.SUPPRESS)  # job 0's
    fuzz.add_argument("--reference", metavar="OTHER", type=Path, default=None,
                      help="differential fuzzing: another build of the server, run with the "
                           "same ARGs; a response that is not the same bytes as OTHER's is a "
                           "finding (differs-<n>.http)")
    for action in fuzz._actions:  # noqa: SLF001 - argparse keeps no public handle
        if action.dest == "max_instructions":
            action.help = ("the budget between two waits: a run of more than N basic "
                           "blocks (each at least one instruction) is a hang, and the start, "
                           "until the guest first waits, may take N instructions (default: "
                           "1,000,000 blocks, and no instruction budget for the start)")
    fuzz.set_defaults(func=_fuzz)
    return fuzz


#: The project's request corpus, the default seeds of webelf fuzz (in a source checkout).
_REQUEST_CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "requests"


def _fuzz_seeds(corpus: Path | None) -> list[bytes]:
    directory = corpus if corpus is not None else _REQUEST_CORPUS
    if corpus is None and not directory.is_dir():
        return [DEFAULT_REQUEST]
    if not directory.is_dir():
        raise UsageError(f"--corpus {directory}: not a directory")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix not in (".py", ".toml", ".md"))
    seeds = [_read(p) for p in files]
    if not seeds:
        raise UsageError(f"--corpus {directory}: no request files in it")
    return seeds


def _fuzz(args: argparse.Namespace) -> int:
    from harness.fuzz import DEFAULT_BUDGET, Fuzzer

    seeds = _fuzz_seeds(args.corpus)
    budget = args.max_instructions or DEFAULT_BUDGET
    guest = _guest(args, stdout=lambda _: None, stderr=lambda _: None)
    guest.start()
    if not guest.waiting_in_accept:
        why = (f"exited with status {guest.exit_status}" if guest.exited
               else f"waits in {guest.last_stop.syscall}")
        raise UsageError(f"{args.elf} never waits for a connection (it {why}): nothing to fuzz")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create it ({exc.strerror or exc})") from None
    reference = None
    if args.reference is not None:
        reference = Guest(_read_elf(args.reference),
                          argv=(str(args.reference), *getattr(args, "args", ())),
                          exe_path=os.path.abspath(args.reference), stdout=lambda _: None,
                          stderr=lambda _: None, max_instructions=args.max_instructions,
                          max_seconds=args.max_seconds, root=args.root)
        reference.start()
        if not reference.waiting_in_accept:
            raise UsageError(f"--reference {args.reference} never waits for a connection: "
                             "it cannot be compared")
    keys, jobs = args.keys, []
    if args.jobs > 1 and args.job == 0:  # this run's claimed findings (Fuzzer.share), gone after
        import tempfile

        keys = Path(tempfile.mkdtemp(prefix=".keys-", dir=args.out))
        jobs = _start_jobs(args, keys)
    fuzzer = Fuzzer(guest, seeds, seed=args.seed + args.job, budget=budget, port=args.port,
                    reference=reference)
    if args.jobs > 1:
        fuzzer.share(args.out / ".corpus", f"job{args.job}", keys=keys)
    label = f"webelf fuzz [job {args.job}]" if args.jobs > 1 else "webelf fuzz"
    words = ["webelf", "run", str(args.elf), "--max-instructions", str(budget)]
    if args.root is not None:
        words += ["--root", str(args.root)]
    if args.port is not None:
        words += ["--port", str(args.port)]

    def found(finding) -> None:
        number = finding.number
        while True:  # the first free number: earlier runs' and other jobs' files stay
            path = args.out / f"{finding.kind}-{number}.http"
            try:
                with open(path, "xb") as file:
                    file.write(finding.data)
                break
            except FileExistsError:
                number += 1
            except OSError as exc:
                raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        command = shlex.join([*words, "--request", str(path),
                              *(["--", *args.args] if args.args else [])])
        if reference is not None:
            command += "; compare: " + shlex.join(
                ["webelf", "run", str(args.reference), "--request", str(path),
                 *(["--", *args.args] if args.args else [])])
        _stderr_line(f"{label}: {path.stem}: {finding.detail} (run {finding.runs:,}, "
                     f"{len(finding.data)} bytes): {path}; reproduce: {command}")

    def progress(report) -> None:
        _stderr_line(_fuzz_line(report, label))

    runs = args.runs if args.runs is not None or args.seconds is not None else 10_000
    try:
        report = fuzzer.run(runs=runs, seconds=args.seconds, progress=progress, found=found)
    finally:
        statuses = [job.wait() for job in jobs]
        if jobs:
            import shutil

            shutil.rmtree(keys, ignore_errors=True)
    _stderr_line(_fuzz_line(report, label) + (f" in {args.out}" if report.findings else ""))
    found_any = report.findings or any(status == EXIT_DIFFERS for status in statuses)
    return EXIT_DIFFERS if found_any else EXIT_OK


def _start_jobs(args: argparse.Namespace, keys: Path) -> list:
    """--jobs N: jobs 1..N-1 as child processes of this one (job 0), each a webelf fuzz with
    the same options, its own --job number and the directory where findings are claimed."""
    import subprocess

    words = [sys.executable, "-m", "webelf", "fuzz", str(args.elf), "--out", str(args.out),
             "--seed", str(args.seed), "--jobs", str(args.jobs), "--keys", str(keys)]
    for option, value in (("--corpus", args.corpus), ("--runs", args.runs),
                          ("--reference", args.reference),
                          ("--seconds", args.seconds), ("--port", args.port),
                          ("--max-instructions", args.max_instructions),
                          ("--max-seconds", args.max_seconds), ("--root", args.root)):
        if value is not None:
            words += [option, str(value)]
    return [subprocess.Popen([*words, "--job", str(k), "--", *args.args])
            for k in range(1, args.jobs)]


def _fuzz_line(report, label: str = "webelf fuzz") -> str:
    rate = report.runs / report.seconds if report.seconds else 0.0
    return (f"{label}: {report.seconds:.1f} s, {report.runs:,} runs ({rate:,.0f}/s), "
            f"{report.edges:,} edges, corpus {report.corpus:,}, "
            f"{len(report.findings)} finding{'s' if len(report.findings) != 1 else ''}")
