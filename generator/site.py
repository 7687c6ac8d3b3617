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

#: Reason phrases for the status codes webelf sends [RFC 9110 section 15].
REASONS = {200: "OK"}

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


def http_response(page: Page, status: int = 200) -> bytes:
    """The complete response: status line, headers, blank line, body."""
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        f"Content-Type: {page.content_type}\r\n"
        f"Content-Length: {len(page.body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + page.body


def default_page() -> Page:
    """The built-in site: some text, some styling and a link, like the page in the seed."""
    body = resources.files("generator").joinpath("default_site/index.html").read_bytes()
    return Page.make(body, "text/html", source="the default page")
