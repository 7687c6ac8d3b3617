"""The CPU a 32-bit Linux task runs on: a GDT, ring 3, and the signal for each exception.

Linux runs user code at CPL 3 with flat 4 GiB segments from its own GDT: a 32-bit task on a
64-bit kernel has ``cs`` = ``__USER32_CS`` (0x23) and ``ds``, ``es``, ``ss`` = ``__USER_DS``
(0x2b), ``fs`` = ``gs`` = 0 (``start_thread_common`` in arch/x86/kernel/process_64.c), and
the TLS slots ``set_thread_area`` fills (entries 12-14).  unicorn starts its CPU at CPL 0
with hidden descriptor caches and no GDT: privileged instructions run, and the first
``mov gs, ax`` after set_thread_area loads a 16-bit segment that cuts the stack pointer
(unicorn issue 877).  :class:`Cpu` gives the guest what Linux gives it:

* **The GDT.**  A table of Linux's descriptors, in the page at TASK_SIZE (0xFFFFE000), the
  first address a 32-bit task cannot reach on a 64-bit kernel.
* **Ring 3.**  The only way into CPL 3 is the one the kernel uses: ``iret`` to an outer
  privilege level.  Once per guest, a one-instruction trampoline in the GDT's page irets to
  the entry point with ``cs`` = 0x23 and ``ss`` = 0x2b.  From then on every privileged
  instruction (``hlt``, ``cli``, ``in``, ``lgdt``, ``mov cr0``, ``wrmsr``...) raises #GP, as
  on the real CPU.
* **The table out of the guest's reach.**  Natively the GDT lives in kernel memory; here
  its page stays *unmapped* while the guest runs, so a load from it faults with SIGSEGV as
  natively.  The CPU reads descriptors only when an instruction loads a segment register
  (``mov gs, ax``, ``pop ds``, ``lgs``, a far jump...) or asks about one (``lar``, ``verr``).
  Such an instruction faults on the unmapped table; :meth:`Cpu.load_segment` then maps the
  page, runs that one instruction, and unmaps it again.  Segment loads are rare (a C
  library loads ``gs`` once), so this costs nothing on the hot path.

Exceptions become the signals of arch/x86/kernel/traps.c (:func:`signal_for`).  unicorn
hands every exception and every ``int n`` to the interrupt hook without consulting an IDT,
so ``int n`` is told apart by its bytes: Linux's IDT lets user code reach only vectors 3
(``int3``), 4 (``into``) and 0x80 through a DPL-3 gate; any other ``int n`` is #GP.

Two instructions depend on the CPU's vendor natively, and the harness picks one answer:
``sysenter`` is #UD (SIGILL), as on AMD CPUs in compatibility mode (Intel CPUs enter the
kernel, which returns through the vDSO the harness does not map); ``syscall`` is #UD, as on
Intel CPUs (AMD CPUs enter the kernel's compat SYSCALL path, which expects the vDSO's calling
sequence).  Programs reach the kernel through ``int 0x80`` when there is no vDSO
(no AT_SYSINFO in the auxiliary vector), as every C library does.
"""

from __future__ import annotations

from unicorn import UC_PROT_EXEC, UC_PROT_READ, Uc
from unicorn.x86_const import (
    UC_X86_REG_CS, UC_X86_REG_DS, UC_X86_REG_EFLAGS, UC_X86_REG_EIP, UC_X86_REG_ES,
    UC_X86_REG_ESP, UC_X86_REG_FS, UC_X86_REG_GDTR, UC_X86_REG_GS, UC_X86_REG_SS,
)

from . import linux as L
from .elf import PAGE_SIZE, TASK_SIZE

#: Where the GDT lives: the page at TASK_SIZE, unmapped while the guest runs.
GDT_BASE = TASK_SIZE
GDT_LIMIT = 8 * L.GDT_ENTRIES - 1
#: The trampoline (``iretd``) and its frame, in the same page after the table.
_TRAMPOLINE = GDT_BASE + 0x800
_FRAME = GDT_BASE + 0xF00
_IRETD = b"\xcf"
#: EFLAGS of a new task: IF set, IOPL 0 (so cli/sti/in/out fault), bit 1 always set.
INITIAL_EFLAGS = 0x202


def flat_descriptor(code: bool, dpl: int) -> bytes:
    """A present, 32-bit, 4 GiB (limit 0xFFFFF pages) code or data segment, accessed:
    GDT_ENTRY_INIT(0xc0fb, 0, 0xfffff) for __USER32_CS, (0xc0f3, ...) for __USER_DS
    (arch/x86/kernel/cpu/common.c ``gdt_page``)."""
    type_ = 0xB if code else 0x3  # execute/read, or read/write; accessed
    access = 0x80 | dpl << 5 | 0x10 | type_
    return bytes([0xFF, 0xFF, 0, 0, 0, access, 0xCF, 0])


#: Opcodes (after prefixes) of the instructions that read a descriptor: mov Sreg,r/m (8E);
#: pop es/ss/ds (07 17 1F); les, lds (C4 C5); far ret, iret (CA CB CF); far jmp and call
#: (EA 9A, FF /3 and /5); and with 0F: pop fs/gs (A1 A9), lss/lfs/lgs (B2 B4 B5),
#: lar/lsl (02 03), verr/verw (00 /4 /5).
_LOADS_ONE = frozenset({0x8E, 0x07, 0x17, 0x1F, 0xC4, 0xC5, 0xCA, 0xCB, 0xCF, 0xEA, 0x9A})
_LOADS_0F = frozenset({0xA1, 0xA9, 0xB2, 0xB4, 0xB5, 0x02, 0x03})
_PREFIXES = frozenset({0x66, 0x67, 0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65})


def reads_descriptor(code: bytes) -> bool:
    """Whether the instruction in ``code`` loads a segment register or reads a descriptor."""
    i = 0
    while i < len(code) and code[i] in _PREFIXES:
        i += 1
    if i >= len(code):
        return False
    op = code[i]
    if op in _LOADS_ONE:
        return True
    reg = (code[i + 1] >> 3 & 7) if i + 1 < len(code) else -1
    if op == 0xFF:
        return reg in (3, 5)
    if op == 0x0F and i + 1 < len(code):
        op2 = code[i + 1]
        if op2 in _LOADS_0F:
            return True
        return op2 == 0x00 and i + 2 < len(code) and (code[i + 2] >> 3 & 7) in (4, 5)
    return False


class Cpu:
    """One task's descriptor table, and the switch of unicorn's CPU to Linux's ring 3."""

    #: Where the table lives (the page at TASK_SIZE).
    base = GDT_BASE

    def __init__(self, uc: Uc) -> None:
        self._uc = uc
        self.gdt = bytearray(PAGE_SIZE)
        self._put(L.GDT_ENTRY_DEFAULT_USER32_CS, flat_descriptor(code=True, dpl=3))
        self._put(L.GDT_ENTRY_DEFAULT_USER_DS, flat_descriptor(code=False, dpl=3))
        # The kernel's data segment, for the trampoline's own stack: unicorn's initial ss is
        # a 16-bit segment, which would cut esp to 16 bits.
        self._put(L.GDT_ENTRY_KERNEL_DS, flat_descriptor(code=False, dpl=0))
        self.gdt[_TRAMPOLINE - GDT_BASE] = _IRETD[0]

    def _put(self, index: int, descriptor: bytes) -> None:
        self.gdt[8 * index:8 * index + 8] = descriptor

    def set_gdt_entry(self, index: int, descriptor: bytes) -> None:
        """Install a descriptor (set_thread_area's TLS slots); the guest's next segment
        load reads it."""
        self._put(index, descriptor)

    def _map(self) -> None:
        self._uc.mem_map(self.base, PAGE_SIZE, UC_PROT_READ | UC_PROT_EXEC)
        self._uc.mem_write(self.base, bytes(self.gdt))

    def _unmap(self) -> None:
        self._uc.mem_unmap(self.base, PAGE_SIZE)

    def enter_user_mode(self, entry: int, esp: int) -> None:
        """Leave unicorn's CPL 0 for Linux's CPL 3 at ``entry`` with stack ``esp``: load the
        GDT, the data segments, and ``iretd`` through a frame of (eip, cs, eflags, esp, ss),
        as the kernel's return to user space does."""
        uc = self._uc
        self._map()
        try:
            uc.reg_write(UC_X86_REG_GDTR, (0, GDT_BASE, GDT_LIMIT, 0))
            uc.reg_write(UC_X86_REG_SS, L.KERNEL_DS)
            uc.reg_write(UC_X86_REG_DS, L.USER_DS)
            uc.reg_write(UC_X86_REG_ES, L.USER_DS)
            uc.reg_write(UC_X86_REG_FS, 0)
            uc.reg_write(UC_X86_REG_GS, 0)
            frame = b"".join(v.to_bytes(4, "little") for v in
                             (entry, L.USER32_CS, INITIAL_EFLAGS, esp, L.USER_DS))
            uc.mem_write(_FRAME, frame)
            uc.reg_write(UC_X86_REG_ESP, _FRAME)
            uc.emu_start(_TRAMPOLINE, 0xFFFFFFFF, 0, 1)
        finally:
            self._unmap()
        assert uc.reg_read(UC_X86_REG_CS) == L.USER32_CS and uc.reg_read(UC_X86_REG_EIP) == entry
        assert uc.reg_read(UC_X86_REG_SS) == L.USER_DS and uc.reg_read(UC_X86_REG_ESP) == esp
        assert uc.reg_read(UC_X86_REG_EFLAGS) & 0xFFF == INITIAL_EFLAGS

    def load_segment(self, eip: int) -> int:
        """Run the one instruction at ``eip`` that faulted reading the (unmapped) table,
        with the table mapped: what the CPU does natively, where the table is always there
        for it.  Returns unicorn's status for that instruction (0, or the error that a bad
        selector or another fault gave)."""
        self._map()
        try:
            return _emu_one(self._uc, eip)
        finally:
            self._unmap()


def _emu_one(uc: Uc, eip: int) -> int:
    from unicorn import UcError

    try:
        uc.emu_start(eip, 0xFFFFFFFF, 0, 1)
        return 0
    except UcError as exc:
        return exc.errno


# --- exceptions -> signals (arch/x86/kernel/traps.c) ------------------------------------------

X86_TRAP_DE, X86_TRAP_DB, X86_TRAP_BP, X86_TRAP_OF, X86_TRAP_BR, X86_TRAP_UD = 0, 1, 3, 4, 5, 6
X86_TRAP_NM, X86_TRAP_TS, X86_TRAP_NP, X86_TRAP_SS, X86_TRAP_GP = 7, 10, 11, 12, 13
X86_TRAP_MF, X86_TRAP_AC, X86_TRAP_XF = 16, 17, 19

#: (signal, si_code) for each exception user code can raise.  #DE: do_error_trap(SIGFPE,
#: FPE_INTDIV, ip); #DB (icebp, which unicorn reports as invalid): send_sigtrap with
#: TRAP_BRKPT; #BP: do_int3_user ->
#: do_trap(SIGTRAP), si_code SI_KERNEL; #OF, #BR: do_trap(SIGSEGV) SI_KERNEL; #UD: SIGILL
#: ILL_ILLOPN at ip; #NP, #SS: SIGBUS SI_KERNEL; #GP: SIGSEGV SI_KERNEL (gp_user_force_sig_segv);
#: #AC: SIGBUS BUS_ADRALN.
_TRAPS = {
    X86_TRAP_DE: (L.SIGFPE, L.FPE_INTDIV),
    X86_TRAP_DB: (L.SIGTRAP, L.TRAP_BRKPT),
    X86_TRAP_BP: (L.SIGTRAP, L.SI_KERNEL),
    X86_TRAP_OF: (L.SIGSEGV, L.SI_KERNEL),
    X86_TRAP_BR: (L.SIGSEGV, L.SI_KERNEL),
    X86_TRAP_UD: (L.SIGILL, L.ILL_ILLOPN),
    X86_TRAP_NP: (L.SIGBUS, L.SI_KERNEL),
    X86_TRAP_SS: (L.SIGBUS, L.SI_KERNEL),
    X86_TRAP_GP: (L.SIGSEGV, L.SI_KERNEL),
    X86_TRAP_AC: (L.SIGBUS, L.BUS_ADRALN),
}
#: Vectors whose IDT gate has DPL 3 (arch/x86/kernel/idt.c: SYSG for X86_TRAP_BP,
#: X86_TRAP_OF and IA32_SYSCALL_VECTOR): ``int n`` reaches them; any other ``int n`` is #GP.
USER_GATES = frozenset({X86_TRAP_BP, X86_TRAP_OF, 0x80})


def exception(intno: int, code: bytes, eip: int) -> tuple[int, int, int, int]:
    """What Linux does when the CPU raises vector ``intno`` with eip at ``eip`` (as unicorn
    leaves it: after a trap or ``int n``, on a fault): (signal, si_code, si_addr, the
    address of the instruction that raised it).  ``code`` is the two bytes before ``eip``,
    to tell ``int n`` (CD nn), ``int3`` (CC), ``into`` (CE) and ``icebp`` (F1) from faults."""
    at = eip
    if len(code) == 2 and code[0] == 0xCD and code[1] == intno:
        at = eip - 2
        if intno not in USER_GATES:
            intno = X86_TRAP_GP  # the gate's DPL is 0: #GP at the int instruction
    elif intno in (X86_TRAP_BP, X86_TRAP_OF, X86_TRAP_DB) and code[-1:] in (b"\xcc", b"\xce",
                                                                           b"\xf1"):
        at = eip - 1
    signal, si_code = _TRAPS.get(intno, (L.SIGSEGV, L.SI_KERNEL))
    if si_code == L.SI_KERNEL:
        address = 0
    else:
        address = at
    return signal, si_code, address, at


def _opcode(code: bytes) -> tuple[bytes, int]:
    """The instruction's prefixes and the index of its opcode byte in ``code``."""
    i = 0
    while i < len(code) and code[i] in _PREFIXES:
        i += 1
    return code[:i], i


#: in/out and their string forms: #GP at CPL 3 with IOPL 0 and no I/O bitmap (Linux gives a
#: task none unless it calls ioperm or iopl).  unicorn checks no I/O permission at all.
_IO_OPCODES = frozenset({0xE4, 0xE5, 0xE6, 0xE7, 0xEC, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F})


def is_io(code: bytes) -> bool:
    _, i = _opcode(code)
    return i < len(code) and code[i] in _IO_OPCODES


def segment_override(code: bytes) -> int | None:
    """0x64 (fs) or 0x65 (gs) when the instruction names that segment, else None."""
    prefixes, _ = _opcode(code)
    for p in reversed(prefixes):
        if p in (0x64, 0x65):
            return p
    return None


def invalid_opcode(code: bytes, eip: int) -> tuple[int, int, int, int]:
    """What Linux does for an instruction unicorn calls invalid (it raises #UD for a few
    that the real CPU treats otherwise): ``int n`` through a DPL-0 gate is #GP; ``rdpmc``
    with CR4.PCE clear is #GP at CPL 3; ``icebp`` (F1) is #DB, a trap; the rest #UD."""
    _, i = _opcode(code)
    op = code[i:i + 2]
    if op[:1] == b"\xcd" or op == b"\x0f\x33":
        return exception(X86_TRAP_GP, b"", eip)
    if op[:1] == b"\xf1":
        return L.SIGTRAP, L.TRAP_BRKPT, eip, eip  # si_addr: the icebp, as the kernel reports
    return exception(X86_TRAP_UD, b"", eip)
