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

import os
import stat
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


#: The most bytes a site's pages may hold, one page or all of a directory's together.  The
#: program loads at 0x08048000 with its data right after its code (generator/elf.py), and
#: the whole image must end below the top of a 32-bit process's address space, where the
#: kernel puts the stack and the mmap area: 3 GiB on a 32-bit kernel (TASK_SIZE,
#: PAGE_OFFSET 0xC0000000), 4 GiB on a 64-bit one.  2 GiB of pages keeps the image below
#: 0x88100000, on either kernel, with room to spare for the stack and the mmap area.
MAX_SITE_BYTES = 2 << 30


def _size_text(n: int) -> str:
    """``2 GiB`` for a whole number of GiB or MiB, else the bytes: ``2,148,532,224 bytes``."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit} {name}"
    return f"{n:,} bytes"


def read_file(path: str | Path, limit: int = MAX_SITE_BYTES, what: str = "a page") -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.  What is not a
    regular file (a device such as /dev/zero, which never ends, or a FIFO, which may never
    be written) and a file larger than ``limit`` are refused before a byte is read."""
    path = Path(path)
    try:
        # stat first, so a FIFO is never opened (that would wait for a writer); O_NONBLOCK
        # and fstat for one swapped in meanwhile.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise SiteError(f"cannot read {path}: not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise SiteError(f"cannot read {path}: {exc.strerror or exc}") from None
    with open(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SiteError(f"cannot read {path}: not a regular file")
        if st.st_size > limit:
            raise SiteError(f"{path} is {st.st_size:,} bytes; {what} may hold at most "
                            f"{_size_text(limit)}")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise SiteError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:  # it grew as it was read
        raise SiteError(f"{path} holds more than {_size_text(limit)}; {what} may hold at most "
                        f"{_size_text(limit)}")
    return data


@dataclass(frozen=True)
class Page:
    """One resource: its body and its full Content-Type value."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"

    @classmethod
    def from_file(cls, path: str | Path, content_type: str | None = None, *,
                  limit: int = MAX_SITE_BYTES,
                  advice: str = "name its charset in --content-type") -> Page:
        """The page in the regular file at ``path`` (:func:`read_file`: at most ``limit``
        bytes, refused before reading if larger), typed by ``content_type`` or its suffix."""
        path = Path(path)
        body = read_file(path, limit)
        ctype = content_type or CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return cls.make(body, ctype, source=str(path), advice=advice)

    @classmethod
    def make(cls, body: bytes, content_type: str = "text/html", source: str = "the page",
             advice: str = "name its charset in --content-type") -> Page:
        """A page whose text type gets ``charset=utf-8`` unless it names a charset itself;
        a body that is not UTF-8 is refused rather than mislabelled (``advice`` ends the
        message: what the user can do about it)."""
        if len(body) > MAX_SITE_BYTES:
            raise SiteError(f"{source} is {len(body):,} bytes; a page may hold at most "
                            f"{_size_text(MAX_SITE_BYTES)}")
        ctype = _check_content_type(content_type)
        if _is_text(ctype) and "charset=" not in ctype.lower():
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SiteError(
                    f"{source} is not valid UTF-8 (byte {exc.start}); {advice}") from None
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


#: The last line of every head the generator writes; a kept-alive answer leaves it out.
CONNECTION_CLOSE = b"Connection: close\r\n"
#: What an HTTP/1.0 client that asked to stay connected is told (RFC 9112 appendix C.2.2:
#: without it, an HTTP/1.0 client takes the response to close).
CONNECTION_KEEP_ALIVE = b"Connection: keep-alive\r\n"


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

    @property
    def keeps_alive(self) -> bool:
        """Whether the head ends with the ``Connection: close`` line, so that a kept-alive
        answer can be the same bytes without it (a response given as raw bytes, lies and
        all, is always sent as it is, and closes)."""
        return self.data[:self.head_length].endswith(CONNECTION_CLOSE + b"\r\n")

    def sent(self, *, keep_alive: bool = False, head: bool = False,
             http10: bool = False) -> bytes:
        """The bytes the program sends: the whole response or (``head``) its head alone,
        and, on a connection it keeps open, without the ``Connection: close`` line: a
        server that closes says so, one that stays open says nothing (RFC 9112 section
        9.6) -- except to an HTTP/1.0 client, which asked for keep-alive and is told
        ``Connection: keep-alive`` in its place (RFC 9112 appendix C.2.2)."""
        data = self.data[:self.head_length] if head else self.data
        if keep_alive and self.keeps_alive:
            cut = self.head_length - 2 - len(CONNECTION_CLOSE)
            line = CONNECTION_KEEP_ALIVE if http10 else b""
            data = data[:cut] + line + data[cut + len(CONNECTION_CLOSE):]
        return data


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
        any other file its name, with the type its suffix says.

        A symbolic link is followed only while it stays inside ``root`` (it then serves
        under its own name); a link that leads out of ``root`` is refused, so a link to
        /etc/passwd is never published.  Anything but regular files and directories (a
        FIFO, a device) is refused; dot-files and dot-directories are skipped.  The pages
        may hold :data:`MAX_SITE_BYTES` together, checked before any is read."""
        root = Path(root)
        if not root.is_dir():
            raise SiteError(f"{root} is not a directory")
        files = _site_files(root)
        total = 0
        for path, size in files:
            total += size
            if total > MAX_SITE_BYTES:
                raise SiteError(f"the pages of {root} hold more than {_size_text(MAX_SITE_BYTES)}"
                                f", the most a site may hold (at {path})")
        routes: list[tuple[str, Page]] = []
        for path, _ in files:
            rel = path.relative_to(root).as_posix()
            _check_path(rel)
            page = Page.from_file(path, advice="a site's text pages are served as UTF-8: "
                                               "convert it to UTF-8")
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


def _site_files(root: Path) -> list[tuple[Path, int]]:
    """(path under ``root``, size) of every file a site publishes, sorted by path; links
    are followed while they stay inside ``root`` (a link back up to a directory it is in,
    a loop, is not followed)."""
    real_root = os.path.realpath(root)
    inside = real_root.rstrip(os.sep) + os.sep
    found: list[tuple[Path, int]] = []

    def walk(directory: Path, ancestors: frozenset[tuple[int, int]]) -> None:
        st = os.stat(directory)
        if (st.st_dev, st.st_ino) in ancestors:
            return  # a link back up: a loop
        ancestors |= {(st.st_dev, st.st_ino)}
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise SiteError(f"cannot read {directory}: {exc.strerror or exc}") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue  # .git, editor swap files: never published
            path = Path(entry.path)
            rel = path.relative_to(root).as_posix()
            if entry.is_symlink():
                target = os.path.realpath(path)
                if target != real_root and not target.startswith(inside):
                    raise SiteError(f"{rel} is a link that leads out of {root} (to {target}); "
                                    "a site publishes only what is inside its directory")
            try:
                st = os.stat(path)
            except OSError as exc:
                raise SiteError(f"cannot read {rel}: {exc.strerror or exc}") from None
            if stat.S_ISDIR(st.st_mode):
                walk(path, ancestors)
            elif stat.S_ISREG(st.st_mode):
                found.append((path, st.st_size))
            else:
                raise SiteError(f"cannot serve {rel}: not a regular file")

    walk(root, frozenset())
    return sorted(found, key=lambda item: item[0].relative_to(root).parts)


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
