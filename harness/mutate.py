"""Mutations for fuzzing HTTP servers: byte-level ones, and ones that know HTTP/1.1.

The fuzzer (:mod:`harness.fuzz`) picks one of :data:`MUTATORS` (or stacks a few) for each new
input; every choice comes from the ``random.Random`` it passes, so a seed replays the same
inputs.  HTTP-aware mutations take the request apart the way RFC 9112 writes it (a request
line, header field lines, an empty line, a body: sections 2.1, 3 and 5) and change one part:
the method, the request target, a header's name or value, the line endings, a
Content-Length, or splice the tail of another corpus entry.  Words the guest was seen to
read or compare input against (``tokens``: strings on the read-only pages it touched, and
the constants of its ``cmp`` instructions, harness.words) are offered as header names,
values, query words and methods, the latest ones more often, which is how a comparison
against a constant is passed without solving it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

#: Methods of RFC 9110 section 9 and WebDAV's, as servers spell them.
METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE",
           b"PATCH", b"PROPFIND", b"MKCOL", b"COPY", b"MOVE", b"LOCK", b"UNLOCK", b"get")
HEADER_NAMES = (b"Host", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Accept",
                b"User-Agent", b"Cookie", b"Range", b"Expect", b"Authorization",
                b"If-None-Match", b"Upgrade", b"Content-Type", b"X-Forwarded-For")
VALUES = (b"", b"0", b"1", b"-1", b"4294967296", b"close", b"keep-alive", b"chunked",
          b"100-continue", b"bytes=0-", b"*/*", b"localhost", b" ", b"\t", b"%00", b"../")
TARGETS = (b"/", b"*", b"/index.html", b"http://localhost/", b"//", b"/./../", b"/%2e%2e/",
           b"/?", b"/#", b"localhost:80", b"")
VERSIONS = (b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.", b"http/1.1",
            b"HTTP/1.1 ", b"")
INTERESTING = (b"\x00", b"\xff", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b" ", b":", b"%",
               b"?", b"/", b"..", b"\x7f", b"A" * 32)


Mutator = Callable[[random.Random, bytes, "Context"], bytes]


class Context:
    """What a mutation may draw on besides its input: other corpus entries (splicing) and
    the words seen in the guest (``tokens``)."""

    def __init__(self, corpus: Sequence[bytes] = (), tokens: Sequence[bytes] = ()) -> None:
        self.corpus = corpus
        self.tokens = tokens

    def word(self, rng: random.Random, *pools: Sequence[bytes]) -> bytes:
        """A word from ``pools``, or, half the time when there are any, a seen token."""
        if self.tokens and rng.random() < 0.5:
            return self.token(rng)
        pool = rng.choice(pools)
        return rng.choice(pool)

    def token(self, rng: random.Random) -> bytes:
        """A seen token: one of the last eight half the time, as the fuzzer favours recent
        corpus entries: a word seen late was read on a path found late, deeper in."""
        tokens = self.tokens
        if len(tokens) > 8 and rng.random() < 0.5:
            return rng.choice(tokens[-8:])
        return rng.choice(tokens)


# ---------------------------------------------------------------------- byte level

def flip(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    if not data:
        return bytes([rng.randrange(256)])
    out = bytearray(data)
    i = rng.randrange(len(out))
    out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_byte(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    if not data:
        return rng.choice(INTERESTING)
    out = bytearray(data)
    i = rng.randrange(len(out))
    out[i] = rng.randrange(256)
    return bytes(out)


def insert(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    i = rng.randrange(len(data) + 1)
    if rng.random() < 0.5:
        piece = ctx.word(rng, INTERESTING)
    else:
        piece = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return data[:i] + piece + data[i:]


def delete(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    if len(data) < 2:
        return data
    i = rng.randrange(len(data))
    n = rng.randint(1, max(1, min(32, len(data) - i)))
    return data[:i] + data[i + n:]


def repeat(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """A piece repeated many times: long lines, long paths, many headers."""
    if not data:
        return data
    i = rng.randrange(len(data))
    n = rng.randint(1, min(16, len(data) - i))
    times = rng.choice((2, 8, 64, 256, 1024))
    return data[:i] + data[i:i + n] * times + data[i + n:]


# ---------------------------------------------------------------------- HTTP aware

def _parts(data: bytes) -> tuple[list[bytes], bytes, bytes]:
    """(request line and header lines, the line ending, the rest after the empty line)."""
    end = data.find(b"\r\n\r\n")
    sep = b"\r\n"
    if end < 0:
        lf = data.find(b"\n\n")
        if lf >= 0:
            end, sep = lf, b"\n"
    if end < 0:
        head, body = data, b""
    else:
        head, body = data[:end], data[end + 2 * len(sep):]
    # re.split(rb"\r?\n") in effect, without the regular expression: a line end is "\r\n"
    # or "\n" (a "\r" before a "\n" belongs to it); bytes' own methods run at memchr's
    # speed (the regex took 8.8 µs a head on the corpus's long heads, these 1.9).
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    return lines, sep, body


def _join(lines: list[bytes], sep: bytes, body: bytes) -> bytes:
    return sep.join(lines) + sep + sep + body


def _request_line(lines: list[bytes]) -> list[bytes]:
    words = lines[0].split(b" ") if lines and lines[0] else []
    while len(words) < 3:
        words.append([b"GET", b"/", b"HTTP/1.1"][len(words)])
    return words


def method(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    lines, sep, body = _parts(data)
    words = _request_line(lines)
    words[0] = ctx.word(rng, METHODS)
    lines[0:1] = [b" ".join(words)]
    return _join(lines, sep, body)


def target(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    lines, sep, body = _parts(data)
    words = _request_line(lines)
    path = words[1]
    choice = rng.randrange(5)
    if choice == 0:
        path = rng.choice(TARGETS)
    elif choice == 1:  # a query word
        path = path.split(b"?")[0] + b"?" + ctx.word(rng, VALUES)
    elif choice == 2:  # a long path
        path = b"/" + rng.choice((b"A", b"a/", b"%41", b"../")) * rng.choice((64, 128, 300, 1000,
                                                                           4000))
    elif choice == 3:
        path = path.rstrip(b"/") + b"/" + ctx.word(rng, TARGETS)
    else:
        path = b"/" + ctx.word(rng, TARGETS).lstrip(b"/")
    words[1] = path
    lines[0:1] = [b" ".join(words)]
    return _join(lines, sep, body)


def version(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    lines, sep, body = _parts(data)
    words = _request_line(lines)
    words[-1] = rng.choice(VERSIONS)
    lines[0:1] = [b" ".join(words)]
    return _join(lines, sep, body)


def header(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """Add, replace, change the value of, duplicate or drop one header field line."""
    lines, sep, body = _parts(data)
    if not lines:
        lines = [b"GET / HTTP/1.1"]
    fields = len(lines) - 1
    choice = rng.randrange(5)
    if choice == 0 or fields == 0:  # a new field
        line = ctx.word(rng, HEADER_NAMES) + b": " + ctx.word(rng, VALUES)
        lines.insert(rng.randint(1, len(lines)), line)
    elif choice == 1:  # a new value
        i = rng.randint(1, fields)
        name = lines[i].split(b":", 1)[0]
        lines[i] = name + b": " + ctx.word(rng, VALUES)
    elif choice == 2:  # a new name
        i = rng.randint(1, fields)
        value = lines[i].split(b":", 1)[1] if b":" in lines[i] else b""
        lines[i] = ctx.word(rng, HEADER_NAMES) + b":" + value
    elif choice == 3:
        i = rng.randint(1, fields)
        lines.insert(i, lines[i])
    else:
        del lines[rng.randint(1, fields)]
    return _join(lines, sep, body)


def word_header(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """A header made of seen words: the value of a field whose name is one becomes another
    (a name the guest compared has been matched: now its value), else a new field
    ``word: word``.  Without words, a header mutation."""
    if not ctx.tokens:
        return header(rng, data, ctx)
    lines, sep, body = _parts(data)
    if not lines:
        lines = [b"GET / HTTP/1.1"]
    words = set(ctx.tokens)
    named = [i for i, line in enumerate(lines[1:], 1) if line.split(b":", 1)[0] in words]
    if named and rng.random() < 0.75:
        i = rng.choice(named)
        lines[i] = lines[i].split(b":", 1)[0] + b": " + ctx.token(rng)
    else:
        line = ctx.token(rng) + b": " + ctx.token(rng)
        lines.insert(rng.randint(1, len(lines)), line)
    return _join(lines, sep, body)


def line_endings(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    choice = rng.randrange(3)
    if choice == 0:
        return data.replace(b"\r\n", b"\n")
    if choice == 1:
        return re.sub(rb"(?<!\r)\n", b"\r\n", data)
    i = data.find(b"\r\n", rng.randrange(len(data) + 1)) if data else -1
    return data if i < 0 else data[:i] + rng.choice((b"\n", b"\r", b"\r\r\n", b"\n\r")) + \
        data[i + 2:]


def length(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """A Content-Length (or chunked framing) that agrees, or not, with the body."""
    lines, sep, body = _parts(data)
    if not lines:
        lines = [b"POST / HTTP/1.1"]
    lines = [line for line in lines if not line.lower().startswith(b"content-length:")]
    choice = rng.randrange(4)
    if choice == 0:
        value = str(len(body)).encode()
    elif choice == 1:
        value = str(max(0, len(body) + rng.choice((-1, 1, 100)))).encode()
    elif choice == 2:
        value = rng.choice((b"-1", b"0x10", b"99999999999999999999", b"1, 1", b" 5"))
    else:
        lines.append(b"Transfer-Encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        return _join(lines, sep, body)
    lines.append(b"Content-Length: " + value)
    return _join(lines, sep, body)


def splice(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """This input's first lines and another corpus entry's last ones."""
    if not ctx.corpus:
        return data
    other = rng.choice(ctx.corpus)
    mine, theirs = data.split(b"\n"), other.split(b"\n")
    i, j = rng.randint(0, len(mine)), rng.randint(0, len(theirs))
    return b"\n".join(mine[:i] + theirs[j:])


def pipeline(rng: random.Random, data: bytes, ctx: Context) -> bytes:
    """Another request after this one, on the same connection."""
    other = rng.choice(ctx.corpus) if ctx.corpus else data
    return data + other


#: The mutations, each as often as it appears: header fields of seen words are where a
#: server's comparisons usually wait.
MUTATORS: tuple[Mutator, ...] = (flip, set_byte, insert, delete, repeat, method, target,
                                 version, header, header, word_header, word_header,
                                 word_header, line_endings, length, splice, pipeline)


def mutate(rng: random.Random, data: bytes, ctx: Context, max_size: int = 16384) -> bytes:
    """One to four stacked mutations of ``data``, at most ``max_size`` bytes."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        data = rng.choice(MUTATORS)(rng, data, ctx)
    return data[:max_size]
