"""The README's promises: its first lines are the two commands, and its sizes are current."""

from __future__ import annotations

import re
from pathlib import Path

from generator import build_server, default_page, default_site, http_response
from generator.server import assemble, response_bytes

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_starts_with_the_install_and_test_commands():
    lines = README.read_text().splitlines()
    assert lines[0] == "```sh"
    assert "pip install ." in lines[1] and "webelf build" in lines[1]
    assert "pip install '.[test]'" in lines[2] and lines[2].endswith("pytest -n auto")


def test_ci_runs_the_readme_test_command():
    test_command = README.read_text().splitlines()[2].split("&& ", 3)[-1]
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci


def test_readme_sizes_are_those_of_the_default_site():
    text = README.read_text()
    site = default_site()
    program = build_server(site)
    responses = sum(map(len, response_bytes(site)))
    asm, _ = assemble(site)
    stated = re.search(
        r"\*\*(\d+) bytes\*\* on disk, of which \*\*(\d+) bytes\*\* are HTTP\s+responses.*?"
        r"\*\*(\d+) bytes of\s+overhead\*\*: (\d+) bytes of ELF and program headers, "
        r"(\d+) bytes of code, (\d+) bytes of data", text, re.S)
    assert stated, "the README's size sentence changed shape"
    file_size, resp, overhead, headers, code, data = map(int, stated.groups())
    assert (file_size, resp, overhead) == (len(program), responses, len(program) - responses)
    assert headers + code + data == overhead
    assert code == asm.text_size


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_python_api_example_runs(tmp_path, monkeypatch, capsys):
    block = next(b for b in _python_blocks() if "Guest.load" in b)
    (tmp_path / "site.elf").write_bytes(build_server(http_response(default_page())))
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.count("HTTP/1.1 200 OK") == 2


def test_readme_pytest_example_passes(pytester):
    block = next(b for b in _python_blocks() if "elf_guest" in b)
    (pytester.path / "build").mkdir()
    (pytester.path / "build" / "site.elf").write_bytes(build_server(http_response(default_page())))
    pytester.makepyfile(test_readme_example=block)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
