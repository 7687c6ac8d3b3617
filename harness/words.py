"""The fuzzer's dictionary: the words its mutations offer (:mod:`harness.mutate`), taken
from what the guest held its input against.

When an input takes an edge no run took before, the fuzzer runs it once more
(:meth:`harness.fuzz.Fuzzer._harvest`) with a hook on reads of the bytes the program file
put in memory, and the strings the guest read there (NUL-terminated or length-prefixed:
what ``strcmp``, ``strstr``, a byte-by-byte loop or a route table compare input against)
become words (:func:`_string_at`); and with a hook on every ``cmp`` (unicorn's
UC_HOOK_TCG_OPCODE, logged by :class:`CompareLog`), whose constants held against the
input's bytes become words too: a value compared as one integer (``*(uint32_t *)p ==
0x4b43414d``) is in no string the guest reads (:func:`_compare_words`).  Comparisons fed
back as a dictionary, paid for only on new coverage (``compares=False`` leaves the second
hook out).

The fuzzer places the hooks, as it owns the guest's hooks and runs; what they saw becomes
words here, in :class:`Dictionary`, which keeps them (up to :data:`MAX_TOKENS`) in the
order found, so that the same runs give the same words.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable

from . import native
from .trace import _capstone

#: void (*)(uc_engine *, uc_mem_type, uint64_t address, int size, int64_t value,
#: void *user): UC_HOOK_MEM_READ, for each read of the program file's bytes.
MEM_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64,
                             ctypes.c_int, ctypes.c_int64, ctypes.c_void_p)
_STRING = re.compile(rb"[\x20-\x7e]{2,64}")
_PRINTABLE = re.compile(rb"[\x20-\x7e]+")
_IMMEDIATE = re.compile(r"-?(0x[0-9a-f]+|[0-9]+)")
#: void (*)(uc_engine *, uint64_t address, uint64_t arg1, uint64_t arg2, uint32_t size,
#: void *user): UC_HOOK_TCG_OPCODE, for each cmp the guest runs (size in bits).
_CMP_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64,
                              ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
#: Words kept from what the guest read, and of them, from what it compared.
MAX_TOKENS = 256
MAX_COMPARE_TOKENS = 128


class Dictionary:
    """The words found so far (``tokens``, the list the mutations take them from), out of
    what the guest (``machine``) and a reference read and compared in the fuzzer's harvest
    runs: :meth:`read` takes a run's reads, :meth:`compared` its comparisons.  The two
    programs' bytes and instructions are told apart by whether a machine is ``machine``."""

    def __init__(self, machine) -> None:
        self.machine = machine
        self.tokens: list[bytes] = []
        self._token_set: set[bytes] = set()
        self._compare_tokens = 0
        self._immediates: dict[tuple[bool, int], int | None] = {}
        self._images: dict[bool, bytes] = {}  # the program file's bytes (the reference's)

    def read(self, machine, found: set[int]) -> None:
        """The strings ``machine``'s guest read at the addresses ``found``."""
        for address in sorted(found):
            self.add(_string_at(machine.mem, address))

    def compared(self, data: bytes, machine, compares: set[tuple[int, int, int, int]]) -> None:
        """The constants ``machine``'s guest compared ``data`` against (:func:`_compare_words`),
        up to :data:`MAX_COMPARE_TOKENS` of them in all."""
        mine = machine is self.machine
        if mine not in self._images:
            self._images[mine] = b"\0".join(seg.data for seg in machine.image.segments)
        for word in _compare_words(data, compares, self._images[mine],
                                   lambda address, m=machine: self.immediate(m, address)):
            if self._compare_tokens < MAX_COMPARE_TOKENS and self.add(word):
                self._compare_tokens += 1

    def immediate(self, machine, address: int) -> int | None:
        """The immediate operand of ``machine``'s instruction at ``address`` (a ``cmp``),
        if it has one; remembered."""
        key = (machine is self.machine, address)
        try:
            return self._immediates[key]
        except KeyError:
            pass
        value = None
        code = machine.mem.fetch(address)
        for _at, _size, _mnemonic, operands in _capstone(machine.wide).disasm_lite(
                code, address, 1):
            last = operands.rsplit(",", 1)[-1].strip()
            if _IMMEDIATE.fullmatch(last):
                value = int(last, 0)
        self._immediates[key] = value
        return value

    def add(self, word: bytes | None) -> bool:
        """Offer ``word`` to the mutations, if it is new and there is room."""
        if not word or word in self._token_set or len(self.tokens) >= MAX_TOKENS:
            return False
        self._token_set.add(word)
        self.tokens.append(word)
        return True


class CompareLog:
    """The comparisons a run makes (UC_HOOK_TCG_OPCODE on ``cmp``), those of two bytes or
    more whose operands differ: logged by the compiled hook (:mod:`harness.native`), a
    thousand a request mostly of single bytes, or without a compiler by the same hook in
    Python.  ``callback`` and ``user`` are for uc_hook_add."""

    def __init__(self) -> None:
        lib = native.library()
        self._log = native.Compares()
        self._found: set[tuple[int, int, int, int]] | None = None
        if lib is not None:
            self.callback = ctypes.cast(lib.webelf_compare, ctypes.c_void_p)
            self.user: ctypes.c_void_p | None = ctypes.c_void_p(ctypes.addressof(self._log))
            self._keep = lib
        else:
            found = self._found = set()

            def on_compare(_uch: int, address: int, a: int, b: int, bits: int,
                           _user: int) -> None:
                mask = (1 << bits) - 1
                if bits >= 16 and (a ^ b) & mask:
                    found.add((address, a & mask, b & mask, bits))

            self.callback = _CMP_CFUNC(on_compare)
            self.user = None

    def compares(self) -> set[tuple[int, int, int, int]]:
        """(address, a, b, bits) of each comparison logged (the first
        :data:`native.COMPARE_CAPACITY` the compiled hook saw)."""
        if self._found is not None:
            return self._found
        log = self._log
        return {(e.address, e.a, e.b, e.bits)
                for e in log.log[:min(log.count, native.COMPARE_CAPACITY)]}


def _compare_words(data: bytes, compares: set[tuple[int, int, int, int]], image: bytes,
                   immediate: Callable[[int], int | None]) -> list[bytes]:
    """The constants the input was compared against, as words: of each comparison of two
    to eight bytes (``(address, a, b, bits)``, as UC_HOOK_TCG_OPCODE reports a ``cmp``),
    the constant side when the other side's bytes (little-endian, as x86 loads them) are
    in ``data`` and the constant's are not: the input's bytes held against a constant
    (RedQueen's input-to-state correspondence, Aschermann et al. 2019, without the
    encodings).  The constant is the instruction's ``immediate`` where it has one (else
    a server that lowercases a window of the request before comparing it would offer
    the lowercased window); with none, either side may be, if its bytes are in the
    program file (``image``: a constant loaded from .rodata; not a value computed from
    the input, as a string search's shifted windows are).  The input's side must hold no
    zero byte: such a value is mostly a length or a return value, matching a binary
    input's bytes by chance.  A word that is printable once its high zero bytes are
    dropped is that text, else the bytes; none of only 0xff.  Single bytes are left out:
    a byte mutation tries every value, and a byte-by-byte loop over a constant string is
    seen as a read of that string.  Sorted, so that the same run gives the same words."""
    words: list[bytes] = []
    seen: set[bytes] = set()
    for address, a, b, bits in sorted(compares):
        size = bits // 8
        if size not in (2, 4, 8):
            continue
        mask = (1 << bits) - 1
        a, b = a & mask, b & mask
        if a == b:
            continue
        constant = immediate(address)
        sides = [(a, b), (b, a)]
        if constant is not None:
            sides = [(mine, theirs) for mine, theirs in sides if theirs == constant & mask]
        for mine, theirs in sides:
            ours = mine.to_bytes(size, "little")
            word = theirs.to_bytes(size, "little")
            if b"\0" in ours or ours not in data or word in data or (
                    constant is None and word not in image):
                continue
            text = word.rstrip(b"\0")
            if _PRINTABLE.fullmatch(text):
                word = text
            if len(word) >= 2 and word.strip(b"\xff") and word not in seen:
                seen.add(word)
                words.append(word)
    return words


def _string_at(mem, address: int) -> bytes | None:
    """The printable string the guest read at ``address``, if it is one: NUL-terminated as
    C writes them, or length-prefixed (a byte of length before it, as webelf's own route
    table keeps them: the read may be of that byte)."""
    r = mem.region_at(address)
    if r is None:
        return None
    lo = max(r.start, address - 64)
    hi = min(r.end, address + 66)
    window = mem.contents(lo, hi)
    at = address - lo
    n = window[at]
    if 2 <= n <= 64 and _STRING.fullmatch(window[at + 1:at + 1 + n]) and at + 1 + n <= len(window):
        return window[at + 1:at + 1 + n]
    if not 0x20 <= n <= 0x7E:
        return None
    start = at
    while start > 0 and 0x20 <= window[start - 1] <= 0x7E:
        start -= 1
    end = at
    while end < len(window) and 0x20 <= window[end] <= 0x7E:
        end += 1
    if end < len(window) and window[end] == 0 and end - start >= 2 and start > 0:
        return window[start:end]
    if start > 0 and 2 <= window[start - 1] <= end - start:
        return window[start:start + window[start - 1]]
    return None
