"""Three unicorn hooks in C, for the fuzzer's hot path, built once with the host's compiler.

unicorn calls a hook for every basic block (coverage: :mod:`harness.edges`), for every
TLB fill (dirty pages: :mod:`harness.snapshot`) and, while the fuzzer looks for words, for
every ``cmp`` (:mod:`harness.words`); through ctypes each call into Python costs about a
microsecond, more than the work it does, and a request makes thousands of blocks, dozens
of fills and a thousand comparisons, nearly all of single bytes.  So when a C compiler is
at hand (``$CC``, else ``cc`` or ``gcc``) these few lines are compiled into a shared
library in the user's cache directory (``$XDG_CACHE_HOME/webelf``, else
``~/.cache/webelf``, else a directory of the system's temporary one when that cannot be
written), once per source, and handed to unicorn as plain function pointers.  Without a
compiler (or with ``WEBELF_PYTHON_HOOKS=1``) :func:`library` is None and the callers use
the same hooks written in Python.

The structures are shared with Python by layout (ctypes.Structure in the callers):

- ``struct edges``: AFL's trace map and virgin map, the previous block's hash, the count of
  edges seen first in this run, the last block's address, and a budget of blocks past which
  the hook stops the emulation (``uc_emu_stop``): a runaway is caught without making unicorn
  count every instruction;
- ``struct dirty``: the pages written since the TLB was last flushed, as a list (the first
  ``capacity`` of ``count``); the fill hook maps every page 1:1 and grants write permission
  only to a write, so that the first store to a page refills it;
- ``struct compares``: the comparisons of two bytes or more whose operands differ, as
  (address, operand, operand, bits), the first ``COMPARE_CAPACITY`` of ``count``: those of
  single bytes, most of them, are not worth a word (harness.words._compare_words).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from unicorn import UC_MEM_WRITE, UC_PROT_ALL, UC_PROT_EXEC, UC_PROT_READ

#: How many written pages one run may note before the snapshot restores everything.
DIRTY_CAPACITY = 4096
#: How many comparisons one run may log.
COMPARE_CAPACITY = 4096

SOURCE = r"""
#include <stdbool.h>
#include <stdint.h>

struct edges {
    uint8_t trace[65536];
    uint8_t virgin[65536];
    uint32_t prev;
    uint32_t new_edges;
    uint64_t last;
    uint64_t blocks;                /* blocks run since the count was last reset */
    uint64_t budget;                /* past it, the emulation stops (0: no budget) */
    int (*stop)(void *uc);          /* uc_emu_stop */
};

/* UC_HOOK_BLOCK: void (*)(uc_engine *, uint64_t address, uint32_t size, void *user) */
void webelf_block(void *uc, uint64_t address, uint32_t size, void *user)
{
    struct edges *e = user;
    if (++e->blocks > e->budget && e->budget) {
        e->stop(uc);
        return;
    }
    uint32_t cur = (uint32_t)(((address * 0x9E3779B1u) >> 13) & 0xFFFF);
    uint32_t i = (cur ^ e->prev) & 0xFFFF;
    e->trace[i]++;
    if (!e->virgin[i]) {
        e->virgin[i] = 1;
        e->new_edges++;
    }
    e->prev = cur >> 1;
    e->last = address;
    (void)uc;
    (void)size;
}

struct tlb_entry { uint64_t paddr; int perms; };   /* uc_tlb_entry, include/unicorn/unicorn.h */

struct dirty {
    uint64_t count;
    uint64_t pages[DIRTY_CAPACITY];
};

/* UC_HOOK_TLB_FILL: bool (*)(uc_engine *, uint64_t vaddr, uc_mem_type, uc_tlb_entry *, void *) */
bool webelf_tlb_fill(void *uc, uint64_t vaddr, int type, struct tlb_entry *entry, void *user)
{
    struct dirty *d = user;
    entry->paddr = vaddr;
    if (type == MEM_WRITE) {
        if (d->count < DIRTY_CAPACITY)
            d->pages[d->count] = vaddr;
        d->count++;
        entry->perms = PROT_ALL;
    } else {
        entry->perms = PROT_READ_EXEC;
    }
    (void)uc;
    return true;
}

struct compare { uint64_t address, a, b, bits; };

struct compares {
    uint64_t count;
    struct compare log[COMPARE_CAPACITY];
};

/* UC_HOOK_TCG_OPCODE: void (*)(uc_engine *, uint64_t address, uint64_t arg1, uint64_t arg2,
   uint32_t size, void *user), size in bits */
void webelf_compare(void *uc, uint64_t address, uint64_t a, uint64_t b, uint32_t bits,
                    void *user)
{
    struct compares *c = user;
    uint64_t mask = bits >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << bits) - 1;
    if (bits < 16 || ((a ^ b) & mask) == 0)
        return;
    if (c->count < COMPARE_CAPACITY) {
        struct compare *e = &c->log[c->count];
        e->address = address;
        e->a = a & mask;
        e->b = b & mask;
        e->bits = bits;
    }
    c->count++;
    (void)uc;
}
"""

_DEFINES = (f"-DDIRTY_CAPACITY={DIRTY_CAPACITY}", f"-DCOMPARE_CAPACITY={COMPARE_CAPACITY}",
            f"-DMEM_WRITE={UC_MEM_WRITE}",
            f"-DPROT_ALL={UC_PROT_ALL}", f"-DPROT_READ_EXEC={UC_PROT_READ | UC_PROT_EXEC}")

_LOADED: list[ctypes.CDLL | None] = []


def library() -> ctypes.CDLL | None:
    """The compiled hooks (built on first use), or None without a compiler."""
    if not _LOADED:
        _LOADED.append(_build())
    return _LOADED[0]


def _build() -> ctypes.CDLL | None:
    if os.environ.get("WEBELF_PYTHON_HOOKS", "") not in ("", "0"):
        return None
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None
    digest = hashlib.sha256((SOURCE + " ".join(_DEFINES)).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "webelf"
    # A home that cannot be written (a CI sandbox) falls back to the temporary directory.
    uid = os.getuid() if hasattr(os, "getuid") else None
    for base in (cache, Path(tempfile.gettempdir()) / f"webelf-{uid}"):
        lib = base / f"hooks-{digest}.so"
        try:  # a shared directory someone else made could hold any library: not used
            if uid is not None and base.is_dir() and base.stat().st_uid != uid:
                continue
        except OSError:
            continue
        if not lib.is_file():
            try:
                base.mkdir(mode=0o700, parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=base) as tmp:
                    source = Path(tmp) / "hooks.c"
                    source.write_text(SOURCE)
                    out = Path(tmp) / "hooks.so"
                    subprocess.run([cc, "-O2", "-shared", "-fPIC", *_DEFINES, "-o", str(out),
                                    str(source)], capture_output=True, timeout=60, check=True)
                    os.replace(out, lib)  # atomic: another process may be building it too
            except subprocess.SubprocessError:
                return None  # the compiler refused: no use trying elsewhere
            except OSError:
                continue
        try:
            return ctypes.CDLL(str(lib))
        except OSError:
            continue
    return None


class Dirty(ctypes.Structure):
    """``struct dirty``."""

    _fields_ = (("count", ctypes.c_uint64), ("pages", ctypes.c_uint64 * DIRTY_CAPACITY))


class Compare(ctypes.Structure):
    """``struct compare``."""

    _fields_ = (("address", ctypes.c_uint64), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64),
                ("bits", ctypes.c_uint64))


class Compares(ctypes.Structure):
    """``struct compares``."""

    _fields_ = (("count", ctypes.c_uint64), ("log", Compare * COMPARE_CAPACITY))
