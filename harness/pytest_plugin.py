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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .guest import Guest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("webelf_elf", "default ELF for the elf_guest fixture", default="")


@pytest.fixture
def elf_guest(request: pytest.FixtureRequest) -> Callable[..., Guest]:
    """A factory: ``elf_guest(path_or_bytes, **Guest options)`` returns a guest that has
    run to its first wait (usually accept4).  Guests are released after the test."""
    guests: list[Guest] = []
    root = Path(str(request.config.rootpath))

    def make(program: str | Path | bytes | None = None, **kwargs) -> Guest:
        if program is None:
            program = request.config.getini("webelf_elf") or None
            if program is None:
                raise pytest.UsageError("elf_guest() needs an ELF, or the ini option webelf_elf")
        if isinstance(program, (bytes, bytearray)):
            guest = Guest(bytes(program), **kwargs)
        else:
            path = Path(program)
            guest = Guest.load(path if path.is_absolute() else root / path, **kwargs)
        guests.append(guest)
        guest.start()
        return guest

    yield make
    for guest in guests:
        guest.machine.close()


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
