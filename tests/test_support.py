"""The skip rule itself (tests/support.py): a missing capability skips with one line naming
what is missing and the package to install, fails under ``CI=true``, and is judged by a real
attempt, not by a name on PATH (an arm64 host's ``ld`` cannot link elf_i386)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import support
from support import Missing, capability, missing

ROOT = Path(__file__).resolve().parent.parent
FAKE_LD = "#!/bin/sh\necho 'ld: unrecognised emulation mode: elf_i386' >&2\nexit 1\n"


def test_missing_skips_naming_the_remedy(monkeypatch):
    monkeypatch.setattr(support, "CI", False)
    with pytest.raises(pytest.skip.Exception) as info:
        missing("frobnicate", "apt-get install frob")
    assert str(info.value) == "frobnicate missing: apt-get install frob"


def test_missing_fails_under_ci(monkeypatch):
    monkeypatch.setattr(support, "CI", True)
    with pytest.raises(pytest.fail.Exception) as info:
        missing("frobnicate", "apt-get install frob")
    assert "frobnicate missing: apt-get install frob" in str(info.value)
    assert "CI=true" in str(info.value)


def test_a_capability_is_probed_once_and_its_absence_cached(monkeypatch):
    monkeypatch.setattr(support, "CI", False)
    calls = []

    @capability
    def widget() -> str:
        calls.append(1)
        raise Missing("widget", "apt-get install widget", "widget: not today")

    for _ in range(3):
        with pytest.raises(pytest.skip.Exception) as info:
            widget()
        assert str(info.value) == "widget missing: apt-get install widget (widget: not today)"
    assert len(calls) == 1
    assert isinstance(widget.probe(), Missing)


def test_a_present_capability_returns_its_value_once_probed():
    calls = []

    @capability
    def gadget() -> str:
        calls.append(1)
        return "/usr/bin/gadget"

    assert gadget() == gadget() == "/usr/bin/gadget" and len(calls) == 1


def _fake_tools(tmp_path: Path, **links: str) -> Path:
    """A directory holding a fake ``ld`` that cannot link elf_i386, as on an arm64 host,
    and symlinks NAME -> TARGET for every other tool given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ld").write_text(FAKE_LD)
    (bin_dir / "ld").chmod(0o755)
    for name, target in links.items():
        (bin_dir / name.replace("_", "-")).symlink_to(target)
    return bin_dir


def test_ld_probe_names_the_cross_binutils(tmp_path, monkeypatch):
    support.nasm()
    monkeypatch.setenv("PATH", str(_fake_tools(tmp_path)))
    with pytest.raises(Missing) as info:
        support.i386_ld.__wrapped__()
    assert info.value.remedy == "apt-get install binutils-i686-linux-gnu"
    assert "unrecognised emulation mode: elf_i386" in info.value.why


def test_ld_probe_falls_back_to_a_cross_linker(tmp_path, monkeypatch):
    real = support.i386_ld()
    bin_dir = _fake_tools(tmp_path, i686_linux_gnu_ld=real)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert support.i386_ld.__wrapped__() == str(bin_dir / "i686-linux-gnu-ld")


def test_gcc_probe_judges_the_output_not_the_name(tmp_path, monkeypatch):
    """A gcc that exits 0 but makes no i386 executable (an arm64 gcc would not accept -m32;
    this one writes nothing at all) is not a compiler for i386."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gcc").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "gcc").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(Missing) as info:
        support.i386_gcc.__wrapped__()
    assert info.value.what.startswith("gcc -m32")


def _pytest(tmp_path: Path, path: str, ci: bool, *tests: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_XDIST_WORKER")}
    env["PATH"] = path
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-rs", *tests], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_arm64_like_host_skips_then_fails_under_ci(tmp_path):
    """nasm present, ld unable to link elf_i386 and no cross linker: the harness-only test
    that assembles its program skips naming binutils-i686-linux-gnu; with CI=true it fails."""
    nasm = support.nasm()
    bin_dir = _fake_tools(tmp_path, nasm=nasm, sh=shutil.which("sh") or "/bin/sh")
    test = "tests/test_mm.py::test_fixed_mapping_below_mmap_min_addr_is_refused"
    skipped = _pytest(tmp_path, str(bin_dir), False, test)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "1 skipped" in skipped.stdout
    assert ("ld -m elf_i386 (a linker for i386) missing: apt-get install "
            "binutils-i686-linux-gnu (ld: unrecognised emulation mode: elf_i386)") in skipped.stdout
    failed = _pytest(tmp_path, str(bin_dir), True, test)
    assert failed.returncode == 1 and "1 failed" in failed.stdout, failed.stdout
    assert "CI=true: a missing tool is an error" in failed.stdout
