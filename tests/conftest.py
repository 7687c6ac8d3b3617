"""Fixtures shared by the suites; the helpers behind them live in support.py."""

from __future__ import annotations

import pytest

from generator import Page
from support import ARCHES, FIXTURES, NativeServers, native_for

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False,
        help="rewrite fixtures/expected and fixtures/golden from the current code, after "
             "h11 and the native kernel have agreed with each new response (x86 Linux only)")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(params=ARCHES)
def arch(request: pytest.FixtureRequest) -> str:
    """Each architecture a program is built for, for a test that runs the same behaviour
    on both natively: skipped where this host cannot run that architecture's programs."""
    runs, why = native_for(request.param)
    if not runs:
        pytest.skip(why)
    return request.param


def _arch_of(request: pytest.FixtureRequest) -> str:
    callspec = getattr(request.node, "callspec", None)
    return callspec.params.get("arch", "i386") if callspec is not None else "i386"


@pytest.fixture
def servers(request, tmp_path):
    """Native servers, all stopped when the test ends; built for the test's ``arch``
    parameter when it has one (else i386), and skipped where that cannot run."""
    arch = _arch_of(request)
    runs, why = native_for(arch)
    if not runs:
        pytest.skip(why)
    s = NativeServers(tmp_path, arch=arch)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def utf8_page() -> Page:
    """A page whose text is mostly multi-byte UTF-8: its length in bytes and in
    characters differ, so a Content-Length counted in characters is caught."""
    return Page.from_file(FIXTURES / "sites" / "utf8" / "index.html")
