"""Guest coverage: which instructions of a program ran, out of all it has.

A test suite that claims to exercise a program should be able to say which of its
instructions no test ever reached.  The emulator only reports basic blocks (unicorn's block
hook gives the address and size of each block as it starts, and
:class:`harness.machine.Machine` keeps the set of them when asked for ``coverage=True``);
everything else happens here, without unicorn:

- the *universe* is every instruction of the program's executable segments exactly as
  ``webelf disasm`` decodes them (:func:`harness.trace.listing_lines`): the ELF header and
  program headers are not code, and neither are the ``.byte`` lines of a linear sweep that
  ran into data;
- a block's bytes are decoded once with capstone (cached per program and (address, size)),
  and each instruction it holds counts as run;
- coverage is ``run / universe`` and the rest, listed as ``webelf disasm`` lists them, is
  what no run reached.

::

    guest = Guest(program, coverage=True)
    guest.start()
    guest.request(b"GET / HTTP/1.1\\r\\n\\r\\n")
    print(Coverage.of(guest).report())       # coverage: 177/253 instructions (70.0%)
                                             # 0804811b:  f7d8   neg eax ...

Coverage of several runs of one program merges (``a.merge(b)``, or :class:`CoverageMap`
for many programs at once); programs are told apart by :func:`program_key`, a hash of what
the universe is made of, so two guests loaded from the same bytes always merge.  For
crossing process boundaries (pytest-xdist workers), :meth:`Coverage.to_data` is plain
lists, strings and numbers.

Limits, each an over-approximation a test can live with: a block counts from its first
instruction to its last even when a fault cut it short (the process is dead then, and the
harness reports the fault), and blocks are decoded from the file's bytes, so code the
guest rewrote at run time (which W^X programs cannot do) would be decoded as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .elf import Image, Segment
from .trace import ListingLine, _capstone, listing_lines

if TYPE_CHECKING:
    from .guest import Guest
    from .machine import Machine

__all__ = ["Coverage", "CoverageMap", "Program", "program_key"]

Block = tuple[int, int]


def program_key(image: Image) -> str:
    """What makes two programs' universes the same: the executable segments (where, which
    flags, which bytes), the entry point the listing restarts at, and the program header
    table it skips.  Data segments do not count: they hold no instruction."""
    h = hashlib.sha256()
    h.update(f"{image.entry} {image.phdr} {image.phnum} {image.phent}".encode())
    if image.arch != "i386":   # the same bytes decode otherwise (i386 keys stay as they were)
        h.update(f" {image.arch}".encode())
    for seg in image.segments:
        if seg.executable:
            h.update(f";{seg.index} {seg.vaddr} {seg.offset} {seg.flags} {len(seg.data)}:".encode())
            h.update(seg.data)
    return h.hexdigest()[:16]


class Program:
    """One program's universe of instructions, and its decoded blocks.

    Built once per :func:`program_key` (:meth:`of` keeps the last few), because every
    guest of a test session that runs the same program shares it, and decoding is what
    costs.
    """

    def __init__(self, image: Image, key: str | None = None) -> None:
        self.key = key or program_key(image)
        self.image = image
        #: address -> the listing line of each instruction in the universe.
        self.instructions: dict[int, ListingLine] = {
            line.address: line for line in listing_lines(image) if line.decoded}
        self._code = [(seg.vaddr, seg.data) for seg in image.segments if seg.executable]
        self._wide = image.arch == "x86_64"   # decode blocks as the CPU ran them
        self._blocks: dict[Block, tuple[int, ...]] = {}

    @classmethod
    def of(cls, image: Image) -> Program:
        key = program_key(image)
        program = _PROGRAMS.get(key)
        if program is None:
            if len(_PROGRAMS) >= _KEEP_PROGRAMS:
                del _PROGRAMS[next(iter(_PROGRAMS))]
            program = _PROGRAMS[key] = cls(image, key)
        return program

    @property
    def total(self) -> int:
        return len(self.instructions)

    def block_instructions(self, block: Block) -> tuple[int, ...]:
        """The addresses of the instructions in a block that ran, decoded from the file's
        bytes; a block outside the executable segments' file bytes yields none."""
        found = self._blocks.get(block)
        if found is None:
            found = self._blocks[block] = self._decode(*block)
        return found

    def _decode(self, address: int, size: int) -> tuple[int, ...]:
        for start, data in self._code:
            if start <= address < start + len(data):
                code = data[address - start: address - start + size]
                return tuple(a for a, _size, _m, _o in
                             _capstone(self._wide).disasm_lite(code, address))
        return ()

    def executed(self, blocks: Iterable[Block]) -> tuple[set[int], set[int]]:
        """(instructions of the universe that ran, instructions that ran outside it: on the
        stack, in a data segment, or at an address the linear sweep decoded otherwise)."""
        ran: set[int] = set()
        for block in blocks:
            ran.update(self.block_instructions(block))
        inside = ran & self.instructions.keys()
        return inside, ran - inside


#: Programs by key, oldest first; a session rarely covers more than a handful.
_PROGRAMS: dict[str, Program] = {}
_KEEP_PROGRAMS = 64


class Coverage:
    """The blocks one program ran, over any number of runs, and what they cover.

    ``blocks`` is the raw material (merging is a set union); ``covered``, ``total``,
    ``uncovered()`` and ``report()`` are computed from it on demand.  ``name`` is how a
    report names the program (a path, or its key).
    """

    def __init__(self, program: Program | Image, blocks: Iterable[Block] = (),
                 name: str | None = None) -> None:
        self.program = program if isinstance(program, Program) else Program.of(program)
        self.blocks: set[Block] = set(blocks)
        self.name = name or f"program {self.program.key}"

    @classmethod
    def of(cls, run: Guest | Machine, name: str | None = None) -> Coverage:
        """The coverage of one guest (or machine) made with ``coverage=True``."""
        machine = getattr(run, "machine", run)
        if machine.covered is None:
            from .errors import HarnessError

            raise HarnessError("coverage is recorded only for a guest made with coverage=True")
        return cls(machine.image, machine.covered, name)

    @property
    def key(self) -> str:
        return self.program.key

    def add(self, blocks: Iterable[Block]) -> None:
        self.blocks.update(blocks)

    def merge(self, other: Coverage) -> Coverage:
        """Add ``other``'s runs to this one (the same program, or a ValueError); returns self."""
        if other.key != self.key:
            raise ValueError(f"cannot merge coverage of {other.name} ({other.key}) into "
                             f"{self.name} ({self.key}): different programs")
        self.blocks |= other.blocks
        return self

    def __ior__(self, other: Coverage) -> Coverage:
        return self.merge(other)

    # ------------------------------------------------------------------ the numbers

    def executed(self) -> set[int]:
        """Addresses of the universe's instructions that ran."""
        return self.program.executed(self.blocks)[0]

    @property
    def covered(self) -> int:
        return len(self.executed())

    @property
    def total(self) -> int:
        return self.program.total

    @property
    def outside(self) -> int:
        """Instructions that ran but are not in the listing (see :meth:`Program.executed`)."""
        return len(self.program.executed(self.blocks)[1])

    @property
    def complete(self) -> bool:
        return self.covered == self.total

    def uncovered(self) -> list[ListingLine]:
        """The universe's instructions that never ran, in address order."""
        ran = self.executed()
        return [line for address, line in sorted(self.program.instructions.items())
                if address not in ran]

    def summary(self) -> str:
        """``coverage: 391/402 instructions (97.3%)``: the report's first line."""
        return self.report().split("\n", 1)[0]

    def report(self) -> str:
        """The summary line, then each instruction that never ran as ``webelf disasm``
        lists it, so a line can be found in the listing (or a golden file) by grep."""
        inside, outside = self.program.executed(self.blocks)
        head = f"coverage: {len(inside)}/{self.total} instructions " \
               f"({_percent(len(inside), self.total)})"
        if outside:
            head += f"; {len(outside)} more ran outside the listing"
        missing = [str(line) for address, line in sorted(self.program.instructions.items())
                   if address not in inside]
        return "\n".join([head, *missing])

    def __repr__(self) -> str:
        return f"<Coverage {self.name}: {self.covered}/{self.total}>"

    # ------------------------------------------------------------------ plain data

    def to_data(self) -> dict:
        """Plain data (str, int, list, dict) that :meth:`from_data` turns back into an
        equal Coverage in another process: the executable segments (the controller must
        be able to decode blocks and list the universe without the ELF file) and the
        blocks as [address, size] pairs."""
        image = self.program.image
        return {
            "key": self.key,
            "name": self.name,
            "entry": image.entry, "phdr": image.phdr, "phnum": image.phnum,
            "phent": image.phent, "arch": image.arch, "machine": image.machine,
            "segments": [[s.index, s.vaddr, s.memsz, s.filesz, s.offset, s.align, s.flags,
                          s.data.hex()] for s in image.segments if s.executable],
            "blocks": sorted([address, size] for address, size in self.blocks),
        }

    @classmethod
    def from_data(cls, data: dict) -> Coverage:
        segments = tuple(Segment(index, vaddr, memsz, filesz, offset, align, flags,
                                 bytes.fromhex(code))
                         for index, vaddr, memsz, filesz, offset, align, flags, code
                         in data["segments"])
        image = Image(entry=data["entry"], segments=segments, mappings=(), phdr=data["phdr"],
                      phnum=data["phnum"], phent=data["phent"], stack_executable=False,
                      read_implies_exec=False, brk=0, machine=data["machine"],
                      arch=data["arch"])
        coverage = cls(image, (tuple(b) for b in data["blocks"]), data["name"])
        if coverage.key != data["key"]:
            raise ValueError(f"coverage data for {data['name']} does not match its key")
        return coverage


def _percent(covered: int, total: int) -> str:
    """Rounded to a tenth, except that it says 100.0% only when nothing is missing and
    0.0% only when nothing ran."""
    if total == 0:
        return "no instructions"
    value = round(100 * covered / total, 1)
    if covered < total:
        value = min(value, 99.9)
    if covered > 0:
        value = max(value, 0.1)
    return f"{value:.1f}%"


class CoverageMap:
    """Coverage of any number of programs, one :class:`Coverage` per program key: what a
    test session accumulates, and what pytest-xdist workers send to the controller."""

    def __init__(self) -> None:
        self.programs: dict[str, Coverage] = {}

    def add(self, coverage: Coverage | Guest | Machine, name: str | None = None) -> Coverage:
        """Merge a Coverage, or a guest's or machine's blocks; returns the program's total.
        The first name a program is added under (``name``, else the Coverage's) is the one
        reports use."""
        if not isinstance(coverage, Coverage):
            coverage = Coverage.of(coverage, name)
        mine = self.programs.get(coverage.key)
        if mine is None:
            mine = self.programs[coverage.key] = Coverage(coverage.program, (),
                                                          name or coverage.name)
        return mine.merge(coverage)

    def update(self, other: CoverageMap) -> None:
        for coverage in other:
            self.add(coverage)

    def __iter__(self) -> Iterator[Coverage]:
        return iter(sorted(self.programs.values(), key=lambda c: (c.name, c.key)))

    def __len__(self) -> int:
        return len(self.programs)

    def __getitem__(self, key: str) -> Coverage:
        return self.programs[key]

    def report(self) -> str:
        """Each program's name, then its :meth:`Coverage.report`."""
        return "\n".join(f"{c.name}\n{c.report()}" for c in self)

    def to_data(self) -> list[dict]:
        return [coverage.to_data() for coverage in self]

    @classmethod
    def from_data(cls, data: Iterable[dict]) -> CoverageMap:
        result = cls()
        for item in data:
            result.add(Coverage.from_data(item))
        return result
