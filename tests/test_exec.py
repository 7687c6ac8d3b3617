"""execve (issue 10, item 1): a program of the guest's --root tree replaces the process,
natively and in the harness (harness/kernel/sys_exec.py).  exec_parent gets the tree's
directory as argv[1] natively and "/" in the harness, whose --root is that directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from cprograms import build
from harness import Guest
from support import i386_strace


def _tree(tmp_path):
    """A directory with hello (executable), noexec (hello without the x bits) and garbage
    (an executable file that is no program)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    hello = build("glibc", "hello", tmp_path)
    shutil.copy(tmp_path / "hello", tree / "hello")
    (tree / "noexec").write_bytes(hello)
    os.chmod(tree / "noexec", 0o644)
    (tree / "garbage").write_bytes(b"not a program\n")
    os.chmod(tree / "garbage", 0o755)
    build("glibc", "exec_parent", tmp_path)
    return tree


def test_execve_runs_a_program_of_the_tree_as_natively(tmp_path):
    tree = _tree(tmp_path)
    native = subprocess.run([str(tmp_path / "exec_parent"), str(tree)], capture_output=True,
                            timeout=60)
    guest = Guest(build("glibc", "exec_parent"), argv=["exec_parent", "/"], root=tree)
    assert guest.run().reason == "exited"
    assert (guest.stdout, guest.exit_status) == (native.stdout, native.returncode)
    assert b"argv[2]=b c\nenv=X=1\nenv=Y=two\npipe after exec: 0\n" in guest.stdout
    assert b"not a program: -1 ENOEXEC\n" in guest.stdout


def test_without_a_tree_every_program_is_enoent():
    guest = Guest(build("glibc", "exec_parent"), argv=["exec_parent", "/"])
    assert guest.run().reason == "exited"
    out = guest.stdout.decode()
    assert out.startswith("missing: -1 ENOENT\ndirectory: -1 ENOENT\nno x bit: -1 ENOENT\n")
    assert "hello exited=1 code=99\n" in out


def _exec_lines(lines: list[str], tree: str | None) -> list[str]:
    out, pending = [], {}
    for line in lines:
        who = re.match(r"^(?:\[pid +(\d+)\] |(\d+) +)?", line)
        pid = who.group(1) or who.group(2)
        line = line[who.end():].strip()
        if line.endswith("<unfinished ...>"):
            pending[pid] = line[:-len("<unfinished ...>")].rstrip()
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>(.*)", line)
        if resumed and pid in pending:
            line = pending.pop(pid) + " " + resumed.group(1)
        if line.startswith("execve("):
            if tree is not None:
                line = line.replace(f'"{tree}"', '"/"').replace(f'"{tree}/', '"/')
            line = re.sub(r"0x[0-9a-f]+", "ADDR", line)
            out.append(re.sub(r"\s+", " ", line).replace(" )", ")"))
    return out


def test_execve_prints_as_strace_prints_it(tmp_path):
    strace = i386_strace()
    tree = _tree(tmp_path)
    log = tmp_path / "native.log"
    subprocess.run([strace, "-f", "-o", str(log), str(tmp_path / "exec_parent"), str(tree)],
                   capture_output=True, timeout=60, check=True)
    lines: list[str] = []
    Guest(build("glibc", "exec_parent"), argv=["exec_parent", "/"], root=tree,
          strace=lines.append).run()
    native = _exec_lines(log.read_text().splitlines(), str(tree))[1:]  # strace's own exec
    assert len(native) == 8
    assert _exec_lines(lines, None) == native
