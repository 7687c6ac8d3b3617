"""Routing in machine code, judged by h11 in the emulator: every route, HEAD, every status.

Each request goes on its own connection, which the client half-closes after sending (as
``Guest.request`` does).  An HTTP/1.1 request that does not say ``Connection: close`` gets
the kept-alive answer (:meth:`Response.sent`: no Connection line); the server then reads the
client's end of file and closes.  Errors that end a connection (400, 405, 431) and HTTP/1.0
requests get the closing answer.

The site is a directory with the shapes ``webelf build --site`` documents: index.html,
about.html, a stylesheet, a sub-directory with its own index and a page.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator import Page, ServerConfig, Site, SiteError, build_server, default_site
from generator.site import BAD_REQUEST, HEADERS_TOO_LARGE, METHOD_NOT_ALLOWED, NOT_FOUND, Response
from harness import Guest
from harness.http import check_response

PAGES = {
    "index.html": b"<h1>home</h1>",
    "about.html": b"<h1>about</h1>",
    "style.css": b"body { color: #222 }",
    "blog/index.html": b"<h1>blog</h1>",
    "blog/post.html": b"<h1>post</h1>",
}
ROUTES = {
    "/": "index.html", "/index.html": "index.html",
    "/about": "about.html", "/about.html": "about.html",
    "/style.css": "style.css",
    "/blog/": "blog/index.html", "/blog/index.html": "blog/index.html",
    "/blog/post": "blog/post.html", "/blog/post.html": "blog/post.html",
}


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    for name, body in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    (root / ".hidden").write_text("never served")
    return root


@pytest.fixture(scope="module")
def program(site_dir):
    return build_server(Site.from_dir(site_dir))


def ask(program: bytes, request: bytes) -> bytes:
    guest = Guest(program)
    guest.start()
    return guest.request(request)


def expected(site_dir, name: str) -> Response:
    return Response.of(Page.from_file(site_dir / name))


def test_the_directory_rules(site_dir):
    site = Site.from_dir(site_dir)
    assert sorted(site.paths()) == sorted(ROUTES)
    assert dict(site.routes)["/style.css"].content_type == "text/css; charset=utf-8"


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_get_of_every_route(program, site_dir, path):
    response = ask(program, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    want = expected(site_dir, ROUTES[path])
    assert response == want.sent(keep_alive=True)
    report = check_response(response)
    assert report.status == 200 and not report.problems
    assert int(report.header("content-length")) == len(PAGES[ROUTES[path]])


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_head_of_every_route_is_the_head_alone(program, site_dir, path):
    response = ask(program, f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    want = expected(site_dir, ROUTES[path])
    assert response == want.sent(keep_alive=True, head=True)
    report = check_response(response, "HEAD")
    assert report.status == 200 and not report.problems and report.body == b""
    assert int(report.header("content-length")) == len(PAGES[ROUTES[path]])


@pytest.mark.parametrize("request_bytes,answer,method", [
    (b"GET /nope HTTP/1.1\r\n\r\n", NOT_FOUND, "GET"),
    (b"GET /about/ HTTP/1.1\r\n\r\n", NOT_FOUND, "GET"),
    (b"GET /ABOUT HTTP/1.1\r\n\r\n", NOT_FOUND, "GET"),
    (b"GET /blog HTTP/1.1\r\n\r\n", NOT_FOUND, "GET"),
    (b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", METHOD_NOT_ALLOWED, "POST"),
    (b"DELETE /about HTTP/1.1\r\n\r\n", METHOD_NOT_ALLOWED, "DELETE"),
    (b"OPTIONS * HTTP/1.1\r\n\r\n", BAD_REQUEST, "OPTIONS"),
    (b"GET / HTTP/2.0\r\n\r\n", BAD_REQUEST, "GET"),
    (b"GET / FTP/1.1\r\n\r\n", BAD_REQUEST, "GET"),
    (b"GET /\x01 HTTP/1.1\r\n\r\n", BAD_REQUEST, "GET"),
    (b"get / HTTP/1.1\r\n\r\n", BAD_REQUEST, "GET"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", BAD_REQUEST, "GET"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n", BAD_REQUEST, "GET"),  # the head never ends
    (b"GET / HTTP/1.1\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n", HEADERS_TOO_LARGE, "GET"),
])
def test_every_status_code(program, request_bytes, answer, method):
    response = ask(program, request_bytes)
    assert response == answer.sent(keep_alive=answer is NOT_FOUND)
    report = check_response(response, method)
    assert not report.problems, report.problems
    if answer is METHOD_NOT_ALLOWED:
        assert report.header("allow") == "GET, HEAD"
    assert int(report.header("content-length")) == len(report.body)


def test_head_of_an_unknown_path_is_a_404_head(program):
    response = ask(program, b"HEAD /nope HTTP/1.1\r\n\r\n")
    assert response == NOT_FOUND.sent(keep_alive=True, head=True)


@pytest.mark.parametrize("request_bytes,keep_alive", [
    (b"GET /about?x=1&y=2 HTTP/1.1\r\n\r\n", True),
    (b"GET /about? HTTP/1.0\r\n\r\n", False),
    (b"GET /about HTTP/1.0\n\n", False),
    (b"GET /about HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", True),
    (b"GET /about HTTP/1.1\r\nConnection: close\r\n\r\n", False),
    (b"GET /about HTTP/1.1\nconnection:\tCLOSE\n\n", False),
    (b"GET /about HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", True),
])
def test_query_version_and_line_endings(program, site_dir, request_bytes, keep_alive):
    assert ask(program, request_bytes) == expected(site_dir, "about.html").sent(
        keep_alive=keep_alive)


def test_a_request_sent_one_byte_at_a_time(program, site_dir):
    request = b"GET /blog/post HTTP/1.1\r\nHost: x\r\n\r\n"
    guest = Guest(program)
    guest.start()
    client = guest.connect()
    for i in range(len(request)):
        assert client.recv_all() == b"", "nothing before the head is complete"
        client.send(request[i:i + 1])
        guest.run()
    assert client.recv_all() == expected(site_dir, "blog/post.html").sent(keep_alive=True)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="/abcdeghilmnopst.-_x", min_size=1, max_size=30))
def test_any_path_gets_its_page_or_404(program, site_dir, path):
    path = "/" + path.lstrip("/")
    response = ask(program, f"GET {path} HTTP/1.1\r\n\r\n".encode())
    if path in ROUTES:
        assert response == expected(site_dir, ROUTES[path]).sent(keep_alive=True)
    else:
        assert response == NOT_FOUND.sent(keep_alive=True)


def test_the_default_site_has_a_second_page_its_link_reaches():
    site = default_site()
    front = dict(site.routes)["/"].body
    assert b'href="/about"' in front and "/about" in site.paths()


@pytest.mark.parametrize("name,fragment", [
    ("a b.html", "printable ASCII"), ("q?.html", "printable ASCII"), ("50%.html", "printable ASCII"),
])
def test_unservable_file_names_are_refused(tmp_path, name, fragment):
    (tmp_path / name).write_text("x")
    with pytest.raises(SiteError, match=fragment):
        Site.from_dir(tmp_path)


def test_an_empty_directory_is_refused(tmp_path):
    with pytest.raises(SiteError, match="no files"):
        Site.from_dir(tmp_path)


def test_idle_timeout_is_in_the_program():
    """A kept-alive connection that stays silent is closed once its idle deadline (7 s
    here) has passed: the one-second sweep closes it within the next second."""
    guest = Guest(build_server(default_site(), ServerConfig(idle_timeout=7)))
    guest.start()
    client = guest.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    guest.run()
    assert client.recv().startswith(b"HTTP/1.1 200 OK\r\n")
    guest.stall(6.9)
    assert not client.closed_by_peer
    guest.stall(1.2)
    assert client.closed_by_peer
