"""Mutated ELFs for the property test (tests/test_mutants.py): deterministic from a seed.

``mutate(seed_bytes, rng)`` returns one mutant: bit flips, a truncation, an edited ELF
header field (e_entry, e_phoff, e_phnum, e_phentsize, e_type...) or an edited program
header field (p_type, p_offset, p_vaddr, p_filesz, p_memsz, p_flags, p_align), often
several at once.  The values tried are the ones that find bugs: 0, all ones, page edges,
the edges of user space and of the places the harness puts the stack, the vDSO and mmaps.
"""

from __future__ import annotations

import random
import struct

_EHDR_FIELDS = {  # name: (offset, struct format)
    "e_type": (16, "<H"), "e_machine": (18, "<H"), "e_version": (20, "<I"),
    "e_entry": (24, "<I"), "e_phoff": (28, "<I"), "e_shoff": (32, "<I"),
    "e_flags": (36, "<I"), "e_ehsize": (40, "<H"), "e_phentsize": (42, "<H"),
    "e_phnum": (44, "<H"), "e_shentsize": (46, "<H"), "e_shnum": (48, "<H"),
    "e_shstrndx": (50, "<H"),
}
_PHDR_FIELDS = {  # name: offset inside one 32-byte program header
    "p_type": 0, "p_offset": 4, "p_vaddr": 8, "p_paddr": 12, "p_filesz": 16,
    "p_memsz": 20, "p_flags": 24, "p_align": 28,
}
#: Addresses and sizes at the edges of what the loader and the address space care about.
INTERESTING = (
    0, 1, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0x1001, 0xFFFF, 0x10000, 0x10001,
    0x8048000, 0x8049000, 0x7FFFFFFF, 0x80000000, 0xBFFFF000, 0xC0000000, 0xF7FF6000,
    0xF7FFE000, 0xF7F00000, 0xFF7FE000, 0xFF800000, 0xFF900000, 0xFFF00000, 0xFFFDC000,
    0xFFFDD000, 0xFFFDE000, 0xFFFFC000, 0xFFFFD000, 0xFFFFE000, 0xFFFFF000, 0xFFFFFFFF,
    0x40000000, 0x3FFFFFFF, 0x100000, 0x800000, 0x1000000, 0x6474E551, 0x6474E552,
)


def _ehdr_field(data: bytearray, name: str) -> int:
    off, fmt = _EHDR_FIELDS[name]
    if len(data) < off + struct.calcsize(fmt):
        return 0
    return struct.unpack_from(fmt, data, off)[0]


def _put(data: bytearray, off: int, fmt: str, value: int) -> None:
    size = struct.calcsize(fmt)
    if off < 0 or off + size > len(data):
        return
    struct.pack_into(fmt, data, off, value & ((1 << (8 * size)) - 1))


def _value(rng: random.Random, old: int, bits: int) -> int:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(INTERESTING)
    if roll < 0.7:  # near the old value: off by a little, a page, a sign
        return old + rng.choice((-1, 1, -0x1000, 0x1000, 0x10, -0x10, 0x100000, -0x100000,
                                 old, -old // 2))
    if roll < 0.85:
        return old ^ (1 << rng.randrange(bits))
    return rng.getrandbits(bits)


def _edit_ehdr(data: bytearray, rng: random.Random) -> None:
    name = rng.choice(("e_entry", "e_entry", "e_phoff", "e_phnum", "e_phnum", "e_phentsize",
                       "e_type", "e_machine", "e_version", "e_ehsize", "e_flags"))
    off, fmt = _EHDR_FIELDS[name]
    bits = 8 * struct.calcsize(fmt)
    old = _ehdr_field(data, name)
    if name == "e_phnum" and rng.random() < 0.6:
        value = rng.choice((0, 1, 2, old - 1, old + 1, old + 2, 127, 128, 129, 0xFFFF))
    elif name == "e_type" and rng.random() < 0.6:
        value = rng.choice((0, 1, 2, 3, 4, 0xFE00, 0xFFFF))
    else:
        value = _value(rng, old, bits)
    _put(data, off, fmt, value)


def _edit_phdr(data: bytearray, rng: random.Random) -> None:
    phoff, phnum = _ehdr_field(data, "e_phoff"), _ehdr_field(data, "e_phnum")
    if not phnum:
        return
    index = rng.randrange(min(phnum, 16))
    base = phoff + 32 * index
    name = rng.choice(tuple(_PHDR_FIELDS) + ("p_vaddr", "p_memsz", "p_filesz", "p_offset",
                                              "p_flags", "p_type"))
    off = base + _PHDR_FIELDS[name]
    if off + 4 > len(data):
        return
    old = struct.unpack_from("<I", data, off)[0]
    if name == "p_type" and rng.random() < 0.7:
        value = rng.choice((0, 1, 2, 3, 4, 6, 7, 0x6474E550, 0x6474E551, 0x6474E552,
                            0x6474E553, 0x70000000))
    elif name == "p_flags" and rng.random() < 0.7:
        value = rng.randrange(8) | (rng.choice((0, 0, 0x10, 0x80000000)))
    else:
        value = _value(rng, old, 32)
    _put(data, off, "<I", value)


def _flip_bits(data: bytearray, rng: random.Random) -> None:
    if not data:
        return
    # Mostly in the headers, where a flip changes what is loaded, sometimes in the code.
    span = min(len(data), rng.choice((52, 52 + 32 * 4, len(data))))
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        i = rng.randrange(span)
        data[i] ^= 1 << rng.randrange(8)


def _truncate(data: bytearray, rng: random.Random) -> bytearray:
    cut = rng.choice((rng.randrange(len(data) + 1), rng.randrange(min(len(data), 200) + 1)))
    return data[:cut]


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """One mutant of ``seed``, from 1 to 4 mutations chosen by ``rng``."""
    data = bytearray(seed)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        roll = rng.random()
        if roll < 0.3:
            _edit_phdr(data, rng)
        elif roll < 0.55:
            _edit_ehdr(data, rng)
        elif roll < 0.9:
            _flip_bits(data, rng)
        else:
            data = _truncate(data, rng)
    return bytes(data)


# ---------------------------------------------------------------------------- a chunk, in a child

#: How long one mutant may take, budget included, before the run counts as a hang.
SLOW = 5.0


def seeds() -> dict[str, bytes]:
    """The seed programs by name: the fixtures' ELFs and a generated server."""
    from pathlib import Path

    from generator import Page, build_server

    programs = Path(__file__).resolve().parent.parent / "fixtures" / "programs"
    out = {p.name: p.read_bytes() for p in sorted(programs.glob("*.elf"))}
    out["server"] = build_server(Page.make(b"<p>mutant</p>"))
    return out


def mutant(all_seeds: dict[str, bytes], index: int) -> tuple[str, bytes]:
    """Mutant number ``index``: the same bytes on every machine and every run."""
    names = sorted(all_seeds)
    name = names[index % len(names)]
    return name, mutate(all_seeds[name], random.Random(index))


def outcome(program: bytes) -> str:
    """Run ``program`` in the harness with a short budget: how it ended, as a word or two.
    Raises whatever the harness raises that is not a HarnessError."""
    from harness import ElfError, Guest, GuestFault, GuestTimeout, HarnessError

    try:
        guest = Guest(program, argv=["mutant"], max_seconds=0.2, max_syscalls=200,
                      max_instructions=50_000)
        stop = guest.run()
        if guest.waiting_in_accept:
            guest.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return "served"
        return f"exit {stop.status}" if stop.reason == "exited" else f"blocked {stop.syscall}"
    except ElfError:
        return "refused"
    except GuestFault as fault:
        return f"signal {fault.signal}"
    except GuestTimeout:
        return "timeout"
    except HarnessError as exc:
        return type(exc).__name__


def run_chunk(first: int, count: int) -> dict:
    """Mutants ``first`` to ``first + count - 1`` in this process: the ones that raised
    something other than a HarnessError (with the last lines of the traceback), the
    slowest, the outcomes counted, and this process's peak RSS."""
    import time
    import traceback
    from collections import Counter

    all_seeds = seeds()
    failures, outcomes, slowest = [], Counter(), (0.0, -1)
    for index in range(first, first + count):
        name, program = mutant(all_seeds, index)
        start = time.monotonic()
        try:
            outcomes[outcome(program)] += 1
        except Exception:  # noqa: BLE001 - what the property test looks for
            failures.append({"index": index, "seed": name,
                             "error": traceback.format_exc().splitlines()[-3:]})
        took = time.monotonic() - start
        slowest = max(slowest, (took, index))
    return {"failures": failures, "outcomes": dict(outcomes), "slowest": slowest,
            "maxrss_kib": peak_rss_kib()}


def peak_rss_kib() -> int:
    """This process's peak resident memory, in KiB.  On Linux VmHWM, the high-water mark of
    this address space: ru_maxrss survives execve, so a child of a big pytest worker
    would report the worker's peak."""
    import resource
    import sys

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run_chunk(int(sys.argv[1]), int(sys.argv[2]))))
