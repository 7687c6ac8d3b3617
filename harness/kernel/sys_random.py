"""getrandom(2) (drivers/char/random.c) from a deterministic generator.

Reproducible runs come first: the bytes are a SHAKE-256 stream keyed by the 16 bytes the
machine put at AT_RANDOM (``k.random_seed``; a fixed all-zero seed when none was handed
over), so the same program with the same AT_RANDOM reads the same bytes, and two runs of a
test agree.  They are not secret, which a test harness does not need.

The pool is always initialised (``crng_ready``), so GRND_NONBLOCK never sees -EAGAIN and
GRND_RANDOM, GRND_INSECURE and none behave alike.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel

_VALID = L.GRND_NONBLOCK | L.GRND_RANDOM | L.GRND_INSECURE
_INT_MAX = 0x7FFFFFFF
_PAGE = 4096


class RandomStream:
    """An endless deterministic byte stream from a seed."""

    __slots__ = ("seed", "offset")

    def __init__(self, seed: bytes = bytes(16)) -> None:
        self.seed = bytes(seed)
        self.offset = 0

    def take(self, size: int) -> bytes:
        start = self.offset
        self.offset += size
        block = start // _PAGE
        out = bytearray()
        while len(out) < size:
            chunk = hashlib.shake_256(self.seed + block.to_bytes(8, "little")).digest(_PAGE)
            skip = (start + len(out)) - block * _PAGE
            out += chunk[skip:skip + size - len(out)]
            block += 1
        return bytes(out)

    def give_back(self, size: int) -> None:
        self.offset -= size


def sys_getrandom(k: Kernel, buf: int, count: int, flags: int, *_: int) -> int:
    """getrandom(2): -EINVAL for unknown flags or GRND_INSECURE with GRND_RANDOM; at most
    INT_MAX bytes; a buffer that faults part way returns the bytes written before the
    fault, one that faults at once -EFAULT (``get_random_bytes_user``)."""
    if flags & ~_VALID:
        return -L.EINVAL
    if flags & (L.GRND_INSECURE | L.GRND_RANDOM) == L.GRND_INSECURE | L.GRND_RANDOM:
        return -L.EINVAL
    count = min(count, _INT_MAX)
    stream = k.random
    if stream is None:
        stream = k.random = RandomStream(k.random_seed or bytes(16))
    done = 0
    while done < count:
        size = min(count - done, _PAGE - (buf + done) % _PAGE)
        if k.copy_out(buf + done, stream.take(size)):
            stream.give_back(size)
            break
        done += size
    return done if done or not count else -L.EFAULT
