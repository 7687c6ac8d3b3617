"""Pages to exact HTTP/1.1 response bytes, computed at build time.

The server program never formats anything: it sends bytes prepared here.  So this is the
one place where Content-Length is decided, and it is always ``len(body)`` in bytes, never
a count of characters (RFC 9110 section 8.6) and never typed by hand.

What a response carries, and why (RFC 9110 / RFC 9112 sections in brackets):

- ``HTTP/1.1 200 OK`` -- the status line [RFC 9112 4].
- ``Content-Type`` with ``charset=utf-8`` for text types, so a browser does not guess the
  encoding of a page with non-ASCII text [RFC 9110 8.3, 8.3.2].
- ``Content-Length`` -- the body's length in octets [RFC 9110 8.6].
- ``Connection: close`` -- the server closes after one response, and says so, so clients
  do not try to reuse the connection [RFC 9112 9.6].
- no ``Date``: the program reads no clock, and an origin server without a clock must not
  send one [RFC 9110 6.6.1].
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import SiteError

#: Reason phrases for the status codes webelf sends [RFC 9110 section 15, RFC 6585 5].
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           431: "Request Header Fields Too Large"}

#: Content types by file suffix, for pages given as files.
CONTENT_TYPES = {
    ".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".css": "text/css",
    ".js": "text/javascript", ".json": "application/json", ".svg": "image/svg+xml",
    ".xml": "application/xml", ".png": "image/png", ".ico": "image/x-icon",
}


@dataclass(frozen=True)
class Page:
    """One resource: its body and its full Content-Type value."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"

    @classmethod
    def from_file(cls, path: str | Path, content_type: str | None = None) -> Page:
        path = Path(path)
        try:
            body = path.read_bytes()
        except OSError as exc:
            raise SiteError(f"cannot read {path}: {exc.strerror or exc}") from None
        ctype = content_type or CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return cls.make(body, ctype, source=str(path))

    @classmethod
    def make(cls, body: bytes, content_type: str = "text/html", source: str = "the page") -> Page:
        """A page whose text type gets ``charset=utf-8`` unless it names a charset itself;
        a body that is not UTF-8 is refused rather than mislabelled."""
        ctype = _check_content_type(content_type)
        if _is_text(ctype) and "charset=" not in ctype.lower():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SiteError(
                    f"{source} is not valid UTF-8 (byte {exc.start}); "
                    "name its charset in --content-type") from None
            ctype += "; charset=utf-8"
        return cls(body, ctype)


def _is_text(ctype: str) -> bool:
    media = ctype.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in (
        "application/json", "application/javascript", "application/xml", "image/svg+xml")


_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _check_content_type(ctype: str) -> str:
    """A media type ``type/subtype`` of tokens, parameters as given [RFC 9110 8.3.1];
    anything with a control character would split the header, so it is refused."""
    ctype = ctype.strip()
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in ctype) or not ctype.isascii():
        raise SiteError(f"content type {ctype!r} has characters a header cannot carry")
    media = ctype.split(";", 1)[0].strip()
    kind, slash, sub = media.partition("/")
    if not slash or not kind or not sub or not set(kind) <= _TOKEN or not set(sub) <= _TOKEN:
        raise SiteError(f"content type {ctype!r} is not of the form type/subtype")
    return ctype


def http_response(page: Page, status: int = 200, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """The complete response: status line, headers, blank line, body."""
    return response_head(page, status, extra) + page.body


def response_head(page: Page, status: int = 200, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    """Status line and headers: exactly what a HEAD request gets [RFC 9110 9.3.2], and a
    prefix of the GET response, so the program sends HEAD from the same bytes."""
    lines = [f"HTTP/1.1 {status} {REASONS[status]}",
             f"Content-Type: {page.content_type}",
             f"Content-Length: {len(page.body)}",
             *(f"{name}: {value}" for name, value in extra),
             "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _status_page(status: int, text: str) -> Page:
    title = f"{status} {REASONS[status]}"
    body = (f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>\n"
            f"<body><h1>{title}</h1><p>{text}</p></body></html>\n")
    return Page.make(body.encode(), "text/html")


@dataclass(frozen=True)
class Response:
    """A response the program can send: all its bytes, and how many of them a HEAD
    request gets (the head alone)."""

    data: bytes
    head_length: int

    @classmethod
    def of(cls, page: Page, status: int = 200, extra: tuple[tuple[str, str], ...] = ()) -> Response:
        return cls(http_response(page, status, extra), len(response_head(page, status, extra)))


#: The answers that do not depend on the site.  405 names the methods that are allowed
#: [RFC 9110 15.5.6]; 431 is RFC 6585 section 5.
NOT_FOUND = Response.of(_status_page(404, "Nothing here by that name."), 404)
METHOD_NOT_ALLOWED = Response.of(_status_page(405, "This server only reads: GET and HEAD."),
                                 405, (("Allow", "GET, HEAD"),))
BAD_REQUEST = Response.of(_status_page(400, "That was not an HTTP/1.x request."), 400)
HEADERS_TOO_LARGE = Response.of(
    _status_page(431, "The request head did not fit in the server's buffer."), 431)


@dataclass(frozen=True)
class Site:
    """Pages by the paths that serve them, exact matches only (the query is ignored).
    A route may also hold a ready :class:`Response`, served as it is."""

    routes: tuple[tuple[str, Page | Response], ...]

    @classmethod
    def single(cls, page: Page) -> Site:
        """One page at ``/`` (and ``/index.html``)."""
        return cls((("/", page), ("/index.html", page)))

    @classmethod
    def from_dir(cls, root: str | Path) -> Site:
        """Every file under ``root``: ``index.html`` serves its directory (``/``,
        ``/blog/``) and its own name; ``about.html`` serves ``/about.html`` and ``/about``;
        any other file its name, with the type its suffix says."""
        root = Path(root)
        if not root.is_dir():
            raise SiteError(f"{root} is not a directory")
        routes: list[tuple[str, Page]] = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if any(part.startswith(".") for part in rel.split("/")):
                continue  # .git, editor swap files: never published
            _check_path(rel)
            page = Page.from_file(path)
            url = "/" + rel
            if path.name == "index.html":
                routes.append((url[: -len("index.html")], page))
            elif path.suffix == ".html":
                routes.append((url[: -len(".html")], page))
            routes.append((url, page))
        if not routes:
            raise SiteError(f"{root} holds no files to serve")
        return cls(tuple(routes))

    def paths(self) -> list[str]:
        return [path for path, _ in self.routes]


def _check_path(rel: str) -> None:
    """A path must go into the request line as it is: printable ASCII, no space, no '?'
    or '%' (the program compares bytes; it does not decode percent-escapes)."""
    if not rel.isascii() or any(c in " ?%#" or ord(c) < 0x21 or ord(c) == 0x7F for c in rel):
        raise SiteError(f"cannot serve {rel!r}: a file name must be printable ASCII without "
                        "spaces, '?', '%' or '#'")


def default_page() -> Page:
    """The built-in site's front page: some text, some styling and a link, as in the seed."""
    body = resources.files("generator").joinpath("default_site/index.html").read_bytes()
    return Page.make(body, "text/html", source="the default page")


def default_site() -> Site:
    """The built-in site: its front page, and the page its link goes to."""
    pages = resources.files("generator").joinpath("default_site")
    about = Page.make(pages.joinpath("about.html").read_bytes(), "text/html", source="about.html")
    page = default_page()
    return Site((("/", page), ("/index.html", page), ("/about", about), ("/about.html", about)))
