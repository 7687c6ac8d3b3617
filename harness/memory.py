"""Guest memory as host buffers, shared with unicorn (``uc_mem_map_ptr``).

The kernel reads and writes guest memory here as Python buffers, without a call into the
emulator, with Linux's rules for bad pointers: copy_from_user and copy_to_user fail with
EFAULT on an address that is unmapped or, for a write, not writable.
"""

from __future__ import annotations

import ctypes
import mmap
from dataclasses import dataclass

from unicorn import Uc

from . import elf as elfmod
from .kernel import BadAddress


@dataclass
class _Region:
    start: int
    end: int
    prot: int
    buf: mmap.mmap
    view: memoryview


class Memory:
    """Guest memory as host buffers: what a system call reads or writes, with Linux's
    rules for bad pointers (copy_from_user/copy_to_user fail with EFAULT on an address
    that is unmapped or, for writes, not writable)."""

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self.regions: list[_Region] = []

    def map(self, start: int, size: int, prot: int, data: bytes = b"") -> None:
        buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        view = memoryview(buf)
        if data:
            view[:len(data)] = data
        address = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        self._uc.mem_map_ptr(start, size, prot, address)
        self.regions.append(_Region(start, start + size, prot, buf, view))
        self.regions.sort(key=lambda r: r.start)

    def _find(self, address: int, size: int, need: int) -> tuple[_Region, int]:
        for r in self.regions:
            if r.start <= address < r.end:
                if address + size > r.end or not r.prot & need:
                    break
                return r, address - r.start
        raise BadAddress(address)

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; a range crossing into another region is followed."""
        if size <= 0:
            return b""
        try:
            r, off = self._find(address, size, elfmod.PROT_READ)
            return r.view[off:off + size].tobytes()
        except BadAddress:
            return b"".join(self._pieces(address, size, elfmod.PROT_READ, None))

    def write(self, address: int, data: bytes) -> None:
        size = len(data)
        if size == 0:
            return
        try:
            r, off = self._find(address, size, elfmod.PROT_WRITE)
            r.view[off:off + size] = data
        except BadAddress:
            for _ in self._pieces(address, size, elfmod.PROT_WRITE, data):
                pass

    def _pieces(self, address: int, size: int, need: int, data: bytes | None):
        """The slow path: an access spanning adjacent regions, or a bad one."""
        done = 0
        while done < size:
            at = address + done
            for r in self.regions:
                if r.start <= at < r.end and r.prot & need:
                    n = min(size - done, r.end - at)
                    off = at - r.start
                    if data is None:
                        yield r.view[off:off + n].tobytes()
                    else:
                        r.view[off:off + n] = data[done:done + n]
                    done += n
                    break
            else:
                raise BadAddress(at)

    def readable(self, address: int, size: int = 1) -> bool:
        try:
            self.read(address, size)
            return True
        except BadAddress:
            return False

    def fetch(self, address: int, size: int = 16) -> bytes:
        """Instruction bytes for messages: as many of ``size`` as are mapped, maybe none."""
        for r in self.regions:
            if r.start <= address < r.end:
                off = address - r.start
                return r.view[off:min(off + size, r.end - r.start)].tobytes()
        return b""

    def close(self) -> None:
        for r in self.regions:
            r.view.release()
        self.regions.clear()
