"""Thread-local storage: set_thread_area (arch/x86/kernel/tls.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from .. import linux64 as L64
from .abi import p32, s32, u32

if TYPE_CHECKING:
    from .process import Kernel


def descriptor(base: int, limit: int, flags: int) -> bytes:
    """The 8-byte segment descriptor for a struct user_desc (``fill_ldt`` in
    arch/x86/include/asm/desc.h): flags bits are seg_32bit, contents (2 bits),
    read_exec_only, limit_in_pages, seg_not_present, useable."""
    seg_32bit, contents = flags & 1, flags >> 1 & 3
    read_exec_only, limit_in_pages = flags >> 3 & 1, flags >> 4 & 1
    present, useable = not flags >> 5 & 1, flags >> 6 & 1
    type_ = (contents << 2) | ((read_exec_only ^ 1) << 1) | 1  # accessed
    access = 0x80 * present | 0x60 | 0x10 | type_  # DPL 3, code/data
    gran = (limit >> 16 & 0xF) | useable << 4 | seg_32bit << 6 | limit_in_pages << 7
    return bytes([limit & 0xFF, limit >> 8 & 0xFF, base & 0xFF, base >> 8 & 0xFF,
                  base >> 16 & 0xFF, access, gran, base >> 24 & 0xFF])


def sys_set_thread_area(k: Kernel, u_info: int, *_: int) -> int:
    """set_thread_area(2) (``do_set_thread_area``): read a struct user_desc, pick a free
    TLS slot for entry_number -1 and write the slot back, then install the descriptor that
    ``fill_ldt`` builds."""
    raw = k.copy_in(u_info, 16)
    if raw.__class__ is int:
        return raw
    entry, base, limit, flags = (u32(raw, i) for i in (0, 4, 8, 12))
    first, count = L.GDT_ENTRY_TLS_MIN, L.GDT_ENTRY_TLS_ENTRIES
    if entry == 0xFFFFFFFF:
        free = [i for i in range(first, first + count) if i not in k.tls_used]
        if not free:
            return -L.ESRCH
        entry = free[0]
        if k.copy_out(u_info, p32(entry)):
            return -L.EFAULT
    if not first <= entry < first + count:
        return -L.EINVAL
    if k.cpu is None:
        return -L.ENOSYS
    k.tls_used.add(entry)
    k.cpu.set_gdt_entry(entry, descriptor(base, limit, flags))
    return 0


# --- arch_prctl (arch/x86/kernel/process_64.c) -------------------------------------------------

#: The highest user address a segment base may hold: TASK_SIZE_MAX (``do_arch_prctl_64``
#: refuses ``arg2 >= TASK_SIZE_MAX`` with -EPERM).
_TASK_SIZE_MAX = L64.TASK_SIZE_64


def sys_arch_prctl(k: Kernel, code: int, addr: int, *_: int) -> int:
    """arch_prctl(2) of an x86-64 process, as ``do_arch_prctl_64`` and ``do_arch_prctl_common``:
    ARCH_SET_FS and ARCH_SET_GS load the fs or gs base (-EPERM for an address at or above
    TASK_SIZE_MAX); ARCH_GET_FS and ARCH_GET_GS store the base as an unsigned long at
    ``addr`` (-EFAULT).  ARCH_GET_CPUID answers 1 (cpuid does not fault); ARCH_SET_CPUID,
    the XSTATE permission calls, the vDSO maps and the shadow stack calls are -EINVAL (a CPU
    without CPUID faulting, AMX or user shadow stacks, and a kernel built without the 32-bit
    vDSO maps, as the answers of ``arch_prctl`` on such a machine are); any other code
    -EINVAL."""
    code = s32(code)
    if code in (L64.ARCH_SET_FS, L64.ARCH_SET_GS):
        if addr >= _TASK_SIZE_MAX:
            return -L.EPERM
        k.cpu.set_segment_base("fs" if code == L64.ARCH_SET_FS else "gs", addr)
        return 0
    if code in (L64.ARCH_GET_FS, L64.ARCH_GET_GS):
        base = k.cpu.segment_base("fs" if code == L64.ARCH_GET_FS else "gs")
        return k.copy_out(addr, base.to_bytes(8, "little"))
    if code == L64.ARCH_GET_CPUID:
        return 1
    return -L.EINVAL
