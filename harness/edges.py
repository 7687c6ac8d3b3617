"""AFL-style edge coverage of a guest, into a 64 KiB map, from a unicorn block hook.

Each basic block the guest enters is hashed to 16 bits (``cur``), and the edge from the
previous block is the map entry ``cur ^ prev`` (``prev`` is the previous block's hash shifted
right by one, so that A->B and B->A differ and a block jumping to itself does not give 0):
afl-fuzz's ``__afl_trace`` (docs/technical_details.md, "coverage measurements").  The hook
counts hits into :attr:`EdgeMap.trace` and sets, in :attr:`EdgeMap.virgin`, every edge seen
for the first time, counting them in :attr:`EdgeMap.new`: the fuzzer asks after each run
whether anything was new without looking at the map.

The hook runs for every block, so its cost is the fuzzer's: as a Python ctypes callback it
costs about a microsecond a block, and a server that parses a request byte by byte runs
thousands of blocks per request.  So when a C compiler is at hand the hook is a dozen lines
of C (:mod:`harness.native`) handed to unicorn as a plain function pointer; without one,
the same hook is Python.
"""

from __future__ import annotations

import ctypes

from . import native

MAP_SIZE = 1 << 16

class _Edges(ctypes.Structure):
    _fields_ = (("trace", ctypes.c_uint8 * MAP_SIZE), ("virgin", ctypes.c_uint8 * MAP_SIZE),
                ("prev", ctypes.c_uint32), ("new_edges", ctypes.c_uint32),
                ("last", ctypes.c_uint64), ("blocks", ctypes.c_uint64),
                ("budget", ctypes.c_uint64), ("stop", ctypes.c_void_p))


#: void (*)(uc_engine *, uint64_t address, uint32_t size, void *user): UC_HOOK_BLOCK.
BLOCK_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                               ctypes.c_void_p)


class EdgeMap:
    """The maps, and the hook that fills them (``callback`` and ``user`` for uc_hook_add)."""

    def __init__(self, stop: ctypes.c_void_p | None = None) -> None:
        """``stop`` is uc_emu_stop's address, which the hook calls past the budget."""
        self.edges = _Edges()
        if stop is not None:
            self.edges.stop = stop
        self.user = ctypes.c_void_p(ctypes.addressof(self.edges))
        lib = native.library()
        #: Whether the hook is the compiled one.
        self.native = lib is not None
        if lib is not None:
            self.callback = ctypes.cast(lib.webelf_block, ctypes.c_void_p)
            self._keep = lib
        else:
            edges = self.edges
            trace, virgin = edges.trace, edges.virgin

            stop_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(edges.stop or 0)

            def on_block(uch: int, address: int, _size: int, _user: int) -> None:
                edges.blocks += 1
                if edges.budget and edges.blocks > edges.budget:
                    stop_fn(uch)
                    return
                cur = (address * 0x9E3779B1 >> 13) & 0xFFFF
                i = cur ^ edges.prev
                trace[i] = (trace[i] + 1) & 0xFF
                if not virgin[i]:
                    virgin[i] = 1
                    edges.new_edges += 1
                edges.prev = cur >> 1
                edges.last = address

            self._keep = BLOCK_CFUNC(on_block)
            self.callback = ctypes.c_void_p.from_address(ctypes.addressof(self._keep))

    def reset(self) -> None:
        """Before a run: an empty trace, no previous block, nothing new."""
        ctypes.memset(self.edges.trace, 0, MAP_SIZE)
        self.edges.prev = 0
        self.edges.new_edges = 0

    def set_budget(self, blocks: int) -> None:
        """Stop the emulation once ``blocks`` blocks have run since :meth:`count_from_zero`
        (0: never)."""
        self.edges.budget = blocks

    def count_from_zero(self) -> None:
        self.edges.blocks = 0

    @property
    def over_budget(self) -> bool:
        return bool(self.edges.budget) and self.edges.blocks > self.edges.budget

    @property
    def new(self) -> int:
        """Edges the last run saw first."""
        return self.edges.new_edges

    @property
    def last_block(self) -> int:
        return self.edges.last

    def hits(self) -> set[int]:
        """The edges the last run took (their map indices)."""
        data = bytes(self.edges.trace)
        return {i for i, count in enumerate(data) if count}

    def seen(self) -> int:
        """How many edges any run has taken."""
        return bytes(self.edges.virgin).count(1)
