"""The unicorn glue: map a loaded image, hook ``int 0x80``, park and resume the guest.

This module translates between the CPU and :mod:`harness.kernel`: registers in, a
return value out.  It knows nothing of sockets.  The hot path is one ``int 0x80``:

1. unicorn calls :meth:`Machine._on_interrupt`;
2. one ``uc_reg_read_batch`` call reads eax and the six argument registers;
3. the kernel's handler runs and returns a value, or :data:`~harness.kernel.BLOCK`;
4. one ``uc_reg_write`` call stores eax.

No per-instruction hook is installed unless a trace was asked for, no per-block hook
unless coverage was (one set add per block, from a ctypes callback), and guest memory
is host memory we own (``uc_mem_map_ptr`` over anonymous mmaps), so the kernel reads and
writes it as Python buffers, not through unicorn calls.

Blocking: when a handler says the call would block (accept4 on an empty queue, read with
no data, nanosleep), the guest is *parked*: eip stays on the ``int 0x80`` (2 bytes, CD 80),
the call's registers are kept, and emulation stops.  :meth:`Machine.run` returns; when the
caller has changed the world (a client connected or sent, the clock moved), the next
``run()`` first runs the same handler again with the same arguments, as Linux re-checks
the condition a task slept on, and only resumes the guest past the ``int 0x80`` once the
call has completed.

Budgets: a run that neither waits nor exits is stopped after ``max_seconds`` of wall
clock (one watchdog thread for every machine), after ``max_syscalls`` calls, or after
``max_instructions`` if that exact budget was asked for.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from unicorn import (
    UC_ARCH_X86, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNALIGNED, UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID, UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED, UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT, UC_ERR_WRITE_UNALIGNED, UC_ERR_WRITE_UNMAPPED, UC_HOOK_BLOCK,
    UC_HOOK_CODE, UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_MODE_32, Uc, UcError,
)
from unicorn.x86_const import (
    UC_X86_REG_EAX, UC_X86_REG_EBP, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDI,
    UC_X86_REG_EDX, UC_X86_REG_EFLAGS, UC_X86_REG_EIP, UC_X86_REG_ESI, UC_X86_REG_ESP,
    UC_X86_REG_GDTR,
)

from . import elf as elfmod
from .errors import GuestFault, GuestTimeout, HarnessError
from .linux import (
    FPE_INTDIV, ILL_ILLOPN, SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGFPE, SIGILL, SIGSEGV, SIGTRAP,
)
from .kernel import BLOCK, Kernel, Stop
from .kernel.sys_mm import reserve_vdso
from .memory import Memory
from .trace import insn_text, trace_insn

try:  # the C library behind the binding: the hot path calls it without the wrapper
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - older bindings
    from unicorn.unicorn import _uc as _uclib

_reg_read_batch = _uclib.uc_reg_read_batch
_reg_write = _uclib.uc_reg_write
#: eax and the six argument registers, as uc_reg_read_batch leaves them in _vals.
_unpack7 = struct.Struct("<7I").unpack_from

#: void (*)(uc_engine *uc, uint32_t intno, void *user_data): unicorn's interrupt hook.
_INTR_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
#: void (*)(uc_engine *uc, uint64_t address, uint32_t size, void *user_data): the block hook.
_BLOCK_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                ctypes.c_void_p)

PAGE = elfmod.PAGE_SIZE
#: The stack mapping: RLIMIT_STACK's default, 8 MiB, ending at STACK_TOP.
STACK_SIZE = 8 << 20
#: Wall-clock seconds a guest may run between two stops (exit, block) before it counts
#: as runaway.  A time budget costs nothing per instruction; an instruction budget
#: (``max_instructions``) is exact and reproducible but makes unicorn count every
#: instruction, which slows a server's request path by about a tenth.
DEFAULT_MAX_SECONDS = 10.0
#: System calls likewise: a loop of failing calls (accept4 at EMFILE, say) runs few
#: instructions per call but costs the harness far more per call than per instruction.
DEFAULT_MAX_SYSCALLS = 1_000_000
#: The address emu_start is told to stop at; nothing is ever mapped there.
_NEVER = 0xFFFFFFFF
_ARG_REGS = (UC_X86_REG_EAX, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDX,
             UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EBP)
_INT80 = b"\xcd\x80"

#: Which signal Linux sends for each CPU exception an ``int``-less program can raise
#: (arch/x86/kernel/traps.c): #DE divide error -> SIGFPE, #BP -> SIGTRAP, #OF, #BR and a
#: software ``int n`` through a gate with DPL 0 (#GP) -> SIGSEGV, #UD -> SIGILL.
_EXCEPTION_SIGNALS = {0: SIGFPE, 3: SIGTRAP, 4: SIGSEGV, 5: SIGSEGV, 6: SIGILL}

#: si_code for each: what strace shows in the ``--- SIG... {si_code=...} ---`` line.
_EXCEPTION_CODES = {0: FPE_INTDIV, 6: ILL_ILLOPN}

_UNMAPPED = {UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED,
             UC_ERR_READ_UNALIGNED, UC_ERR_WRITE_UNALIGNED, UC_ERR_FETCH_UNALIGNED}
_PROTECTED = {UC_ERR_READ_PROT, UC_ERR_WRITE_PROT, UC_ERR_FETCH_PROT}


class _Watchdog:
    """One thread for every machine: it stops a run that has outlived its time budget.

    uc_emu_stop may be called from another thread (it is how unicorn's own timeout
    works); ctypes releases the GIL during uc_emu_start, so this thread gets to run.  A
    stop that arrives just after its run ended only cuts the next run short, and
    :meth:`Machine.run` resumes that one.
    """

    PERIOD = 0.05

    def __init__(self) -> None:
        self._machines: weakref.WeakSet[Machine] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, machine: Machine) -> None:
        with self._lock:
            self._machines.add(machine)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="webelf-watchdog",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(self.PERIOD)
            now = time.monotonic()
            with self._lock:
                machines = list(self._machines)
            for m in machines:
                if m._running and now >= m._deadline:
                    _uclib.uc_emu_stop(m._uch)


_WATCHDOG = _Watchdog()


class Machine:
    """One guest process: an ELF loaded into unicorn, with a :class:`Kernel` beside it.

    ``run()`` executes until the guest exits (``Stop("exited", status)``), waits in a
    system call (``Stop("blocked", ...)``), is killed by a signal (raises
    :class:`GuestFault`) or uses up its budget without stopping -- ``max_seconds`` of
    wall-clock time, ``max_instructions`` if given, ``max_syscalls`` -- (raises
    :class:`GuestTimeout`).  After ``blocked`` the caller changes the network and calls
    ``run()`` again.
    """

    def __init__(
        self,
        program: bytes | elfmod.Image,
        kernel: Kernel | None = None,
        *,
        argv: Sequence[str] = ("guest",),
        envp: Sequence[str] = (),
        max_instructions: int | None = None,
        max_seconds: float = DEFAULT_MAX_SECONDS,
        max_syscalls: int = DEFAULT_MAX_SYSCALLS,
        trace: Callable[[str], None] | None = None,
        coverage: bool = False,
        random16: bytes | None = None,
    ) -> None:
        image = program if isinstance(program, elfmod.Image) else elfmod.load(program)
        self.image = image
        self.kernel = kernel if kernel is not None else Kernel()
        self.max_instructions = max_instructions
        self.max_seconds = max_seconds
        self.max_syscalls = max_syscalls
        self._deadline = 0.0
        self._running = False
        _WATCHDOG.watch(self)
        self._syscalls_left = max_syscalls
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_32)
        self._uch = uc._uch
        self.mem = Memory(uc)
        for m in image.mappings:
            self.mem.map(m.start, m.size, m.prot, m.data)
        stack_prot = elfmod.PROT_READ | elfmod.PROT_WRITE
        if image.stack_executable:
            stack_prot |= elfmod.PROT_EXEC
        self.mem.map(elfmod.STACK_TOP - STACK_SIZE, STACK_SIZE, stack_prot, kind="stack")
        reserve_vdso(self.mem)
        esp, stack = elfmod.build_initial_stack(
            image, elfmod.STACK_TOP, list(argv), list(envp),
            random16 if random16 is not None else os.urandom(16), argv[0] if argv else "")
        self.mem.write(esp, stack)
        uc.reg_write(UC_X86_REG_ESP, esp)
        uc.reg_write(UC_X86_REG_EFLAGS, 0x202)  # IF set, as every user process runs
        # Every other general register starts at 0 (ELF_PLAT_INIT, arch/x86/include/asm/elf.h).
        self.eip = image.entry
        self.kernel.attach(self.mem, image, self)
        self._syscall = self.kernel.syscall
        self._gdt: int | None = None

        self._vals = (ctypes.c_uint32 * 7)()
        self._ids = (ctypes.c_int * 7)(*_ARG_REGS)
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * 7)(*[base + 4 * i for i in range(7)])
        self._ret = ctypes.c_uint32()
        self._ret_ref = ctypes.byref(self._ret)
        self._eip = ctypes.c_uint32()
        self._eip_ref = ctypes.byref(self._eip)

        self._stop: Stop | None = None
        self._parked: tuple[int, ...] | None = None
        self._error: BaseException | None = None
        self._bad_access: tuple[int, int] | None = None
        self.exit_status: int | None = None
        self.killed_by: int | None = None
        #: With ``coverage``, the (address, size) of every basic block that started to run:
        #: what :mod:`harness.coverage` turns into instructions.
        self.covered: set[tuple[int, int]] | None = set() if coverage else None
        self._trace = trace
        # The interrupt and block hooks are registered with the C library directly: the
        # binding's wrapper costs more per call than the hook's own work.
        self._intr_callback = _INTR_CFUNC(self._on_interrupt)
        self._add_hook(UC_HOOK_INTR, self._intr_callback, "interrupt")
        uc.hook_add(UC_HOOK_MEM_INVALID, self._on_bad_access)
        if trace is not None:
            uc.hook_add(UC_HOOK_CODE, self._on_insn)
        if self.covered is not None:
            add = self.covered.add
            self._block_callback = _BLOCK_CFUNC(lambda _uch, address, size, _user:
                                                add((address, size)))
            self._add_hook(UC_HOOK_BLOCK, self._block_callback, "block")

    def _add_hook(self, kind: int, callback: ctypes._CFuncPtr, what: str) -> None:
        handle = ctypes.c_size_t()
        status = _uclib.uc_hook_add(self._uch, ctypes.byref(handle), kind,
                                    ctypes.cast(callback, ctypes.c_void_p), None,
                                    ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != 0:
            raise HarnessError(f"unicorn refused the {what} hook: {UcError(status)}")

    # ------------------------------------------------------------------ running

    @property
    def done(self) -> bool:
        return self.exit_status is not None or self.killed_by is not None

    def run(self) -> Stop:
        if self.exit_status is not None:
            return Stop("exited", self.exit_status)
        if self.killed_by is not None:
            raise HarnessError(f"the guest was killed by signal {self.killed_by}; it cannot run")
        self._stop = None
        self._error = None
        self._bad_access = None
        self._syscalls_left = self.max_syscalls
        self._deadline = time.monotonic() + self.max_seconds
        if self._parked is not None:
            # The guest waits in a system call.  Finish it here, as the kernel does when it
            # wakes a sleeping task, instead of letting the guest execute int 0x80 again:
            # the same handler, one round trip through the emulator less, and none at all
            # while the call would still block.
            args, self._parked = self._parked, None
            ret = self._syscall(*args)
            try:
                if self._settle(args, ret, self.eip + len(_INT80)):
                    return self._stop
            except GuestFault as fault:
                raise self._die(fault) from None
            self.eip += len(_INT80)
        while True:
            self._running = True
            try:
                status = _uclib.uc_emu_start(self._uch, self.eip, _NEVER, 0,
                                             self.max_instructions or 0)
            finally:
                self._running = False
            _uclib.uc_reg_read(self._uch, UC_X86_REG_EIP, self._eip_ref)
            if self._error is not None:
                error, self._error = self._error, None
                if isinstance(error, GuestFault):
                    self._die(error)
                raise error
            if status != 0:
                raise self._die(self._fault_from(status, self._eip.value))
            if self._stop is not None:
                return self._stop
            eip = self.eip = self._eip.value
            if self.mem.fetch(eip - 1, 1) == b"\xf4":  # hlt: privileged, #GP in user mode
                raise self._die(GuestFault(SIGSEGV, None, eip - 1, "hlt", SI_KERNEL))
            if time.monotonic() >= self._deadline:
                budget = f"time budget of {self.max_seconds:g} s"
            elif self.max_instructions:
                budget = f"budget of {self.max_instructions:,} instructions"
            else:
                continue  # the watchdog's stop was meant for an earlier run: go on
            raise GuestTimeout(eip, insn_text(self.mem.fetch(eip), eip), budget)

    def _fault_from(self, status: int, eip: int) -> GuestFault:
        if status == UC_ERR_INSN_INVALID:
            signal, address, code = SIGILL, eip, ILL_ILLOPN
        elif status in _UNMAPPED or status in _PROTECTED:
            signal = SIGSEGV
            address = self._bad_access[1] if self._bad_access else None
            code = SEGV_ACCERR if status in _PROTECTED else SEGV_MAPERR
        else:
            raise HarnessError(f"unicorn stopped: {UcError(status)} at eip 0x{eip:08x}")
        return GuestFault(signal, address, eip, insn_text(self.mem.fetch(eip), eip), code)

    def _die(self, fault: GuestFault) -> GuestFault:
        """The process is gone: record the signal, and show it as strace would."""
        self.killed_by = fault.signal
        strace = self.kernel.strace
        if strace is not None:
            from .trace import killed_line, signal_line

            strace(signal_line(fault.signal, fault.code, fault.address))
            strace(killed_line(fault.signal))
        return fault

    # ------------------------------------------------------------------ hooks

    def _on_interrupt(self, _uch: int, intno: int, _user: int) -> None:
        uch = self._uch
        try:
            if intno != 0x80:
                self._cpu_exception(intno)
                return
            self._syscalls_left -= 1
            if self._syscalls_left < 0:
                _uclib.uc_reg_read(uch, UC_X86_REG_EIP, self._eip_ref)
                eip = self._eip.value - len(_INT80)
                self.eip = eip
                raise GuestTimeout(eip, "int 0x80", f"budget of {self.max_syscalls:,} system calls")
            _reg_read_batch(uch, self._ids, self._ptrs, 7)
            args = _unpack7(self._vals)
            ret = self._syscall(*args)
            if ret.__class__ is int and self.kernel.pending_signal is None:  # the usual case
                self._ret.value = ret & 0xFFFFFFFF
                _reg_write(uch, UC_X86_REG_EAX, self._ret_ref)
                return
            _uclib.uc_reg_read(uch, UC_X86_REG_EIP, self._eip_ref)
            if self._settle(args, ret, self._eip.value):
                _uclib.uc_emu_stop(uch)
        except BaseException as exc:  # noqa: BLE001 - handed to run(), raised there
            self._error = exc
            _uclib.uc_emu_stop(uch)

    def _settle(self, args: tuple[int, ...], ret: object, eip_after: int) -> bool:
        """Put a system call's outcome into the CPU; True when the guest must stop."""
        if ret.__class__ is int:
            self._ret.value = ret & 0xFFFFFFFF
            _reg_write(self._uch, UC_X86_REG_EAX, self._ret_ref)
            signal = self.kernel.pending_signal
            if signal is not None:  # SIGPIPE, sent as by kill: SI_USER
                eip = eip_after - len(_INT80)
                raise GuestFault(signal, None, eip, insn_text(self.mem.fetch(eip), eip), 0)
            return False
        if ret is BLOCK:
            self.eip = eip_after - len(_INT80)
            self._parked = args
            self._stop = self.kernel.blocked
        else:  # EXIT
            self.eip = eip_after
            self.exit_status = self.kernel.exit_status
            self._stop = Stop("exited", self.exit_status)
        return True

    def _cpu_exception(self, intno: int) -> None:
        """A trap or fault other than a system call: the signal Linux delivers for it."""
        _uclib.uc_reg_read(self._uch, UC_X86_REG_EIP, self._eip_ref)
        eip = self._eip.value
        code = self.mem.fetch(eip - 2, 2)
        if intno in (3, 4) or (len(code) == 2 and code[0] == 0xCD and code[1] == intno):
            eip -= 1 if intno in (3, 4) and self.mem.fetch(eip - 1, 1) in (b"\xcc", b"\xce") else 2
        signal = _EXCEPTION_SIGNALS.get(intno, SIGSEGV)
        code = _EXCEPTION_CODES.get(intno, SI_KERNEL)
        address = eip if code != SI_KERNEL else 0
        raise GuestFault(signal, address, eip, insn_text(self.mem.fetch(eip), eip), code)

    def _on_bad_access(self, uc: Uc, access: int, address: int, size: int, value: int,
                       _user: object) -> bool:
        self._bad_access = (access, address)
        return False

    def _on_insn(self, uc: Uc, address: int, size: int, _user: object) -> None:
        self._trace(trace_insn(address, self.mem.fetch(address, size)))

    # ------------------------------------------------------------------ the CPU, for the kernel

    def set_gdt_entry(self, index: int, descriptor: bytes) -> None:
        """Write a GDT descriptor, creating the table on first use.  It lives in the page
        above TASK_SIZE, where Linux keeps no user mapping either; unicorn reads it when the
        guest loads a segment register (``mov gs, ax`` after set_thread_area)."""
        if self._gdt is None:
            self._gdt = elfmod.TASK_SIZE
            self.uc.mem_map(self._gdt, PAGE, elfmod.PROT_READ)
            self.uc.reg_write(UC_X86_REG_GDTR, (0, self._gdt, PAGE - 1, 0))
        self.uc.mem_write(self._gdt + 8 * index, descriptor)

    # ------------------------------------------------------------------ the end

    def close(self) -> None:
        """Release the emulator and guest memory (also done when garbage-collected)."""
        self.mem.close()
