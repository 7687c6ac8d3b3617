"""Fixtures shared by the suites; the helpers behind them live in support.py."""

from __future__ import annotations

import pytest

from generator import Page
from support import FIXTURES, NATIVE, NATIVE_REASON, NativeServers

pytest_plugins = ["pytester"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", default=False,
        help="rewrite fixtures/expected and fixtures/golden from the current code, after "
             "h11 and the native kernel have agreed with each new response (x86 Linux only)")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture
def servers(tmp_path):
    if not NATIVE:
        pytest.skip(NATIVE_REASON)
    s = NativeServers(tmp_path)
    try:
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def utf8_page() -> Page:
    """A page whose text is mostly multi-byte UTF-8: its length in bytes and in
    characters differ, so a Content-Length counted in characters is caught."""
    return Page.from_file(FIXTURES / "sites" / "utf8" / "index.html")
