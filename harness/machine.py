"""The unicorn glue: map a loaded image, hook ``int 0x80`` (or x86-64's ``syscall``), park
and resume the guest.

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

x86-64: an ELF64 image runs in unicorn's 64-bit mode at CPL 3 (harness/cpu64.py) and enters
the kernel by ``syscall``, hooked as the instruction it is (UC_HOOK_INSN,
:meth:`Machine._on_syscall`): rax and the six argument registers rdi rsi rdx r10 r8 r9 in
one batch, rcx and r11 set as the CPU's SYSCALL sets them, the result in rax.  In that hook
rip is still the ``syscall``'s own address and unicorn adds 2 after it returns, so a parked
call keeps the instruction's address as ``int 0x80``'s does, and a call that moves rip (a
signal handler, sigreturn) writes its target less 2.  ``int 0x80`` from a 64-bit program
is Linux's ia32 compat entry (:meth:`Machine._compat_syscall`).

Budgets: a run that neither waits nor exits is stopped after ``max_seconds`` of wall
clock (one watchdog thread for every machine: :mod:`harness.watchdog`), after ``max_syscalls`` calls, or after
``max_instructions`` if that exact budget was asked for.
"""

from __future__ import annotations

import ctypes
import os
import struct
import time
from collections.abc import Callable, Sequence

from unicorn import (
    UC_ARCH_X86, UC_ERR_FETCH_PROT, UC_ERR_FETCH_UNALIGNED, UC_ERR_FETCH_UNMAPPED,
    UC_ERR_INSN_INVALID, UC_ERR_READ_PROT, UC_ERR_READ_UNALIGNED, UC_ERR_READ_UNMAPPED,
    UC_ERR_WRITE_PROT, UC_ERR_WRITE_UNALIGNED, UC_ERR_WRITE_UNMAPPED, UC_HOOK_BLOCK,
    UC_HOOK_CODE, UC_HOOK_INSN, UC_HOOK_INTR, UC_HOOK_MEM_INVALID, UC_MEM_FETCH_PROT,
    UC_MEM_FETCH_UNMAPPED, UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_PROT, UC_MEM_WRITE_UNMAPPED,
    UC_MODE_32, UC_MODE_64, Uc, UcError,
)
from unicorn.x86_const import (
    UC_X86_INS_IN, UC_X86_INS_OUT, UC_X86_INS_SYSCALL, UC_X86_INS_SYSENTER, UC_X86_REG_RAX,
    UC_X86_REG_RIP, UC_X86_REG_RSP, UC_X86_REG_CS, UC_X86_REG_DS,
    UC_X86_REG_EAX, UC_X86_REG_EBP, UC_X86_REG_EBX, UC_X86_REG_ECX, UC_X86_REG_EDI,
    UC_X86_REG_EDX, UC_X86_REG_EFLAGS, UC_X86_REG_EIP, UC_X86_REG_ES, UC_X86_REG_ESI,
    UC_X86_REG_ESP, UC_X86_REG_FS, UC_X86_REG_GS, UC_X86_REG_SS,
)

from . import cpu as cpumod
from . import cpu64
from . import linux64 as L64
from . import elf as elfmod
from .errors import GuestFault, GuestTimeout, HarnessError
from .linux import (
    SEGV_ACCERR, SEGV_MAPERR, SI_KERNEL, SIGSEGV,
)
from .kernel import BLOCK, Kernel, Stop
from .kernel.abi import RESTART
from .kernel.sigframe import REGISTERS, SigInfo, fault_arch, force
from .kernel.sys_mm import expand_stack, setup_exec, stack_rlimit
from .memory import Memory
from .trace import insn_text, trace_insn
from .watchdog import WATCHDOG

try:  # the C library behind the binding: the hot path calls it without the wrapper
    from unicorn.unicorn_py3.unicorn import uclib as _uclib
except ImportError:  # pragma: no cover - older bindings
    from unicorn.unicorn import _uc as _uclib

_reg_read_batch = _uclib.uc_reg_read_batch
_reg_write = _uclib.uc_reg_write
_reg_write_batch = _uclib.uc_reg_write_batch
#: rax, the six x86-64 argument registers, rip and rflags (harness/cpu64.py).
_unpack9 = struct.Struct("<9Q").unpack_from
#: eax and the six argument registers, as uc_reg_read_batch leaves them in _vals.
_unpack7 = struct.Struct("<7I").unpack_from

#: void (*)(uc_engine *uc, uint32_t intno, void *user_data): unicorn's interrupt hook.
_INTR_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
#: void (*)(uc_engine *uc, uint64_t address, uint32_t size, void *user_data): the block hook,
#: and the code hook.
_BLOCK_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                                ctypes.c_void_p)
#: bool (*)(uc_engine *uc, uc_mem_type type, uint64_t address, int size, int64_t value,
#: void *user_data): an access to unmapped or protected memory.
_MEM_INVALID_CFUNC = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_int,
                                      ctypes.c_uint64, ctypes.c_int, ctypes.c_int64,
                                      ctypes.c_void_p)
#: The x86 instruction hooks (unicorn's include/unicorn/x86.h): in, out, sysenter.
_INSN_IN_CFUNC = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32,
                                  ctypes.c_int, ctypes.c_void_p)
_INSN_OUT_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                   ctypes.c_uint32, ctypes.c_void_p)
_INSN_SYSENTER_CFUNC = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)

PAGE = elfmod.PAGE_SIZE
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
#: unicorn's id of each register a signal frame saves, in sigframe.REGISTERS order.
_STATE_REGS = {"gs": UC_X86_REG_GS, "fs": UC_X86_REG_FS, "es": UC_X86_REG_ES,
               "ds": UC_X86_REG_DS, "edi": UC_X86_REG_EDI, "esi": UC_X86_REG_ESI,
               "ebp": UC_X86_REG_EBP, "esp": UC_X86_REG_ESP, "ebx": UC_X86_REG_EBX,
               "edx": UC_X86_REG_EDX, "ecx": UC_X86_REG_ECX, "eax": UC_X86_REG_EAX,
               "eip": UC_X86_REG_EIP, "cs": UC_X86_REG_CS, "eflags": UC_X86_REG_EFLAGS,
               "ss": UC_X86_REG_SS}
_SEGMENTS = frozenset({"gs", "fs", "es", "ds", "cs", "ss"})

_UNMAPPED = {UC_ERR_READ_UNMAPPED, UC_ERR_WRITE_UNMAPPED, UC_ERR_FETCH_UNMAPPED,
             UC_ERR_READ_UNALIGNED, UC_ERR_WRITE_UNALIGNED, UC_ERR_FETCH_UNALIGNED}
_PROTECTED = {UC_ERR_READ_PROT, UC_ERR_WRITE_PROT, UC_ERR_FETCH_PROT}
_UNMAPPED_ACCESS = frozenset({UC_MEM_READ_UNMAPPED, UC_MEM_WRITE_UNMAPPED, UC_MEM_FETCH_UNMAPPED})


class Machine:
    """One guest process: an ELF loaded into unicorn, with a :class:`Kernel` beside it.

    ``run()`` executes until the guest exits (``Stop("exited", status)``), waits in a
    system call (``Stop("blocked", ...)``), is killed by a signal (raises
    :class:`GuestFault`) or uses up its budget without stopping -- ``max_seconds`` of
    wall-clock time, ``max_instructions`` if given, ``max_syscalls`` -- (raises
    :class:`GuestTimeout`).  After ``blocked`` the caller changes the network and calls
    ``run()`` again.
    """

    #: A hook that may stop the emulation for a budget of its own (the fuzzer's block
    #: budget, harness.edges) sets this: called when a run stopped for no reason the
    #: machine knows, it returns the budget's description (the run is then a GuestTimeout),
    #: or None.
    overrun: Callable[[], str | None] | None = None

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
        self.kernel = kernel if kernel is not None else Kernel()
        self.max_instructions = max_instructions
        self.max_seconds = max_seconds
        self.max_syscalls = max_syscalls
        self._deadline = 0.0
        self._running = False
        self._interrupted = False
        self._uch = None  # until unicorn exists: close() and the watchdog look at it
        WATCHDOG.watch(self)
        self._syscalls_left = max_syscalls
        self._next_image: tuple | None = None
        execfn = argv[0] if argv else ""
        self._load(image, argv, envp, random16, execfn, trace, coverage)

    def _load(self, image: elfmod.Image, argv: Sequence[str | bytes],
              envp: Sequence[str | bytes], random16: bytes | None, execfn: str | bytes,
              trace: Callable[[str], None] | None, coverage: bool) -> None:
        """A new emulator with ``image`` mapped and its initial stack, as a new process or
        execve (load_elf_binary) makes it."""
        self.image = image
        wide = self.wide = image.arch == "x86_64"
        self.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64 if wide else UC_MODE_32)
        self._uch = uc._uch
        self.mem = mem = Memory(uc)
        stack_top = elfmod.STACK_TOP_64 if wide else elfmod.STACK_TOP
        if wide:
            mem.set_layout(L64.TASK_SIZE_64, stack_top, L64.MMAP_BASE_64,
                           L64.TASK_UNMAPPED_BASE_64)
        kernel = self.kernel
        # The stack grows down on a fault below it, within the process's RLIMIT_STACK.
        mem.grow = lambda address: expand_stack(mem, address, stack_rlimit(kernel))
        stack_prot = elfmod.PROT_READ | elfmod.PROT_WRITE
        if image.stack_executable:
            stack_prot |= elfmod.PROT_EXEC
        random16 = random16 if random16 is not None else os.urandom(16)
        self.kernel.random_seed = random16  # getrandom's stream is keyed by AT_RANDOM
        esp, stack = elfmod.build_initial_stack(
            image, stack_top, list(argv), list(envp), random16, execfn,
            uid=self.kernel.uid, gid=self.kernel.gid)
        strings = elfmod.arg_strings_start(stack_top, list(argv), list(envp), execfn)
        setup_exec(mem, image, stack_prot, esp, stack, strings, stack_rlimit(kernel))
        # Ring 3 with Linux's segments, esp at argc; every other general register starts at
        # 0 (ELF_PLAT_INIT, arch/x86/include/asm/elf.h); x86-64's (harness/cpu64.py) too.
        self.cpu = cpu64.Cpu64(uc) if wide else cpumod.Cpu(uc)
        self.cpu.enter_user_mode(image.entry, esp)
        self.eip = image.entry
        self.kernel.attach(self.mem, image, self)
        self._syscall = self.kernel.syscall

        self._hook(trace, coverage)

    def _hook(self, trace: Callable[[str], None] | None, coverage: bool,
              covered: set[tuple[int, int]] | None = None) -> None:
        """The per-run state and the hooks of a new emulator (a new machine, or a fork:
        ``covered``, the parent's set, which a forked child adds its blocks to)."""
        wide = self.wide
        if wide:  # x86-64: 64-bit registers, entered by syscall (harness/cpu64.py)
            self._vals = (ctypes.c_uint64 * 9)()
            self._ids = (ctypes.c_int * 9)(*cpu64.SYSCALL_REGS)
            base = ctypes.addressof(self._vals)
            self._ptrs = (ctypes.c_void_p * 9)(*[base + 8 * i for i in range(9)])
            self._clobber = (ctypes.c_uint64 * 2)()
            self._clobber_ids = (ctypes.c_int * 2)(*cpu64.CLOBBERED)
            base = ctypes.addressof(self._clobber)
            self._clobber_ptrs = (ctypes.c_void_p * 2)(base, base + 8)
            self._ret = ctypes.c_uint64()
            self._eip = ctypes.c_uint64()
        else:
            self._vals = (ctypes.c_uint32 * 7)()
            self._ids = (ctypes.c_int * 7)(*_ARG_REGS)
            base = ctypes.addressof(self._vals)
            self._ptrs = (ctypes.c_void_p * 7)(*[base + 4 * i for i in range(7)])
            self._ret = ctypes.c_uint32()
            self._eip = ctypes.c_uint32()
        self._ret_ref = ctypes.byref(self._ret)
        self._eip_ref = ctypes.byref(self._eip)
        #: The program counter and the result register, their width, and the address
        #: emu_start never reaches: eip/eax for i386, rip/rax for x86-64.
        self._pc_reg = UC_X86_REG_RIP if wide else UC_X86_REG_EIP
        self._ret_reg = UC_X86_REG_RAX if wide else UC_X86_REG_EAX
        self._mask = (1 << 64) - 1 if wide else 0xFFFFFFFF
        self._never = cpu64.NEVER if wide else _NEVER
        self._in_syscall = False

        self._stop: Stop | None = None
        self._parked: tuple[int, ...] | None = None
        #: The parked call came by int 0x80 from a 64-bit program (the ia32 table).
        self._parked_compat = False
        self._error: BaseException | None = None
        self._bad_access: tuple[int, int] | None = None
        self.exit_status: int | None = None
        self.killed_by: int | None = None
        #: With ``coverage``, the (address, size) of every basic block that started to run:
        #: what :mod:`harness.coverage` turns into instructions.  A forked child shares its
        #: parent's set (the same program), so a guest's coverage is its every process's;
        #: execve starts a set of its own (another program).
        self.covered: set[tuple[int, int]] | None = (
            covered if covered is not None else set() if coverage else None)
        self._trace = trace
        # Every hook is registered with the C library directly: the binding's wrapper costs
        # more per call than the hook's own work, and ties each callback into reference
        # cycles that close() could not break.  The callbacks are kept here, so that
        # close() can let go of them once unicorn is closed.
        self._callbacks: list[ctypes._CFuncPtr] = []
        self._add_hook(UC_HOOK_INTR, _INTR_CFUNC(self._on_interrupt), "interrupt")
        self._add_hook(UC_HOOK_MEM_INVALID, _MEM_INVALID_CFUNC(self._on_bad_access),
                       "memory")
        # Instructions unicorn runs that fault at CPL 3 on the real CPU (harness/cpu.py).
        self._fault_context: object | None = None
        self._add_hook(UC_HOOK_INSN, _INSN_IN_CFUNC(self._on_io_in), "in",
                       UC_X86_INS_IN)
        self._add_hook(UC_HOOK_INSN, _INSN_OUT_CFUNC(self._on_io_out), "out",
                       UC_X86_INS_OUT)
        if wide:
            self._add_hook(UC_HOOK_INSN, _INSN_SYSENTER_CFUNC(self._on_syscall), "syscall",
                           UC_X86_INS_SYSCALL)
        else:
            self._add_hook(UC_HOOK_INSN, _INSN_SYSENTER_CFUNC(self._on_sysenter), "sysenter",
                           UC_X86_INS_SYSENTER)
        if trace is not None:
            self._add_hook(UC_HOOK_CODE, _BLOCK_CFUNC(self._on_insn), "code")
        if self.covered is not None:
            add = self.covered.add
            self._add_hook(UC_HOOK_BLOCK, _BLOCK_CFUNC(lambda _uch, address, size, _user:
                                                       add((address, size))), "block")

    def fork(self, kernel: Kernel) -> Machine:
        """fork(2)'s copy of this process, for the child's ``kernel``: a new emulator with a
        copy of every region of memory (MAP_SHARED anonymous ones stay shared), the same
        registers and descriptor table, returning 0 from the call at the ``int 0x80`` this
        machine is in (call it from a system call handler)."""
        child = Machine.__new__(Machine)
        child.image = self.image
        child.kernel = kernel
        child.max_instructions = self.max_instructions
        child.max_seconds = self.max_seconds
        child.max_syscalls = self.max_syscalls
        child._deadline = 0.0
        child._running = False
        child._interrupted = False
        child._uch = None
        WATCHDOG.watch(child)
        child._syscalls_left = self.max_syscalls
        child._next_image = None
        wide = child.wide = self.wide
        child.uc = uc = Uc(UC_ARCH_X86, UC_MODE_64 if wide else UC_MODE_32)
        child._uch = uc._uch
        child.mem = mem = Memory(uc)
        mem.copy_from(self.mem)
        mem.grow = lambda address: expand_stack(mem, address, stack_rlimit(kernel))
        child.cpu = cpu64.Cpu64(uc) if wide else cpumod.Cpu(uc)
        child.cpu.gdt[:] = self.cpu.gdt
        uc.context_restore(self.uc.context_save())  # every register, fs and gs bases too
        _uclib.uc_reg_read(self._uch, self._pc_reg, self._eip_ref)
        # past the int 0x80; in the syscall hook rip is still on the instruction
        child.eip = self._eip.value + (cpu64.SYSCALL_LEN if self._in_syscall else 0)
        uc.reg_write(self._ret_reg, 0)
        uc.reg_write(self._pc_reg, child.eip)
        kernel.attach(mem, self.image, child)
        kernel.brk_start, kernel.brk_end = self.kernel.brk_start, self.kernel.brk_end
        kernel.mapped_brk = self.kernel.mapped_brk
        child._syscall = kernel.syscall
        child._hook(self._trace, self.covered is not None, self.covered)
        return child

    def exec_later(self, image: elfmod.Image, argv: Sequence[bytes], envp: Sequence[bytes],
                   execfn: bytes) -> None:
        """execve(2) past its point of no return, from its handler: the emulation stops
        after the call and :meth:`run` replaces this process's memory and registers with
        ``image`` (a new emulator; this machine, its kernel and its pid stay)."""
        self._next_image = (image, argv, envp, execfn)
        _uclib.uc_emu_stop(self._uch)

    def _exec(self) -> None:
        image, argv, envp, execfn = self._next_image
        self._next_image = None
        trace, coverage = self._trace, self.covered is not None
        self._release()
        self._load(image, argv, envp, None, execfn, trace, coverage)

    def _release(self) -> None:
        """Let go of the emulator and guest memory (close() and execve)."""
        uc = self.uc
        finalizer = getattr(uc, "_Uc__finalizer", None)
        if finalizer is not None:
            finalizer()  # uc_close, once: unicorn lets go of the host memory first
        for name in ("_callbacks", "_mmio_callbacks"):
            table = getattr(uc, name, None)
            if table is not None:
                table.clear()  # the binding's hooks close over uc: a cycle
        self._callbacks.clear()  # bound methods of this machine: a cycle until now
        self.mem.close()

    def _add_hook(self, kind: int, callback: ctypes._CFuncPtr, what: str,
                  *insn: int) -> None:
        handle = ctypes.c_size_t()
        # The function pointer read from the callback's own buffer: ctypes.cast would tie
        # the two objects in a reference cycle.
        pointer = ctypes.c_void_p.from_address(ctypes.addressof(callback))
        status = _uclib.uc_hook_add(self._uch, ctypes.byref(handle), kind, pointer, None,
                                    ctypes.c_uint64(1), ctypes.c_uint64(0),
                                    *(ctypes.c_int(i) for i in insn))
        if status != 0:
            raise HarnessError(f"unicorn refused the {what} hook: {UcError(status)}")
        self._callbacks.append(callback)

    # ------------------------------------------------------------------ running

    @property
    def done(self) -> bool:
        return self.exit_status is not None or self.killed_by is not None

    def run(self, slice_: int | None = None) -> Stop:
        """Run until the guest exits or waits; with ``slice_``, also until it has run that
        many instructions (``Stop("preempted")``: the scheduler's time slice when several
        processes can run; unicorn then counts instructions, which costs a little)."""
        if self.exit_status is not None:
            return Stop("exited", self.exit_status)
        if self._uch is None:
            raise HarnessError("the machine was closed; it cannot run")
        if self.killed_by is not None:
            raise HarnessError(f"the guest was killed by signal {self.killed_by}; it cannot run")
        self._stop = None
        self._error = None
        self._bad_access = None
        self._syscalls_left = self.max_syscalls
        self._deadline = time.monotonic() + self.max_seconds
        if self.kernel.itimer_at is not None:  # an alarm (sys_itimer): due yet?
            self.kernel.fire_timers()
        if self._parked is None and self.kernel.pending_signal is not None:
            # Preempted with a signal pending (another process's kill): taken on the way
            # back to user mode, as Linux does after a timer interrupt.
            self._signals(self.eip, at=self.eip)
        if self._parked is not None:
            # The guest waits in a system call.  Finish it here, as the kernel does when it
            # wakes a sleeping task, instead of letting the guest execute int 0x80 again:
            # the same handler, one round trip through the emulator less, and none at all
            # while the call would still block.
            args, self._parked = self._parked, None
            ret = None
            if self.kernel.pending_signal is not None:  # a signal came while it slept
                ret = self.kernel.interrupts(args[0])
                if ret is not None:
                    self.kernel.trace_woken(args)
            if ret is RESTART:  # the handler runs, then the int 0x80 again (eax = nr)
                self._ret.value = args[0]
                _reg_write(self._uch, self._ret_reg, self._ret_ref)
                self._signals(self.eip, at=self.eip)
            else:
                if ret is None:
                    call = self.kernel.compat_syscall if self._parked_compat else self._syscall
                    ret = call(*args)
                    self._parked_compat = self._parked_compat and ret is BLOCK
                self.eip += len(_INT80)
                if self._settle(args, ret, self.eip):  # may move eip to a signal handler
                    return self._stop
        count = self.max_instructions or 0
        preemptible = bool(slice_) and (not count or slice_ < count)
        if preemptible:
            count = slice_
        while True:
            self._running = True
            try:
                status = _uclib.uc_emu_start(self._uch, self.eip, self._never, 0, count)
            finally:
                self._running = False
            if self._interrupted:  # Ctrl-C, under interruptible()
                self._interrupted = False
                _uclib.uc_reg_read(self._uch, self._pc_reg, self._eip_ref)
                self.eip = self._eip.value
                raise KeyboardInterrupt
            _uclib.uc_reg_read(self._uch, self._pc_reg, self._eip_ref)
            segment_loaded = False
            if status in _UNMAPPED and self._reads_gdt(self._eip.value):
                # A segment load met the descriptor table, which is unmapped while the guest
                # runs (harness/cpu.py): run that one instruction with the table there.
                self._bad_access = None
                status = self.cpu.load_segment(self._eip.value)
                _uclib.uc_reg_read(self._uch, self._pc_reg, self._eip_ref)
                segment_loaded = status == 0
            if self._error is not None:
                error, self._error = self._error, None
                if self._fault_context is not None:
                    self.uc.context_restore(self._fault_context)
                    self._fault_context = None
                if isinstance(error, GuestFault) and self.killed_by is None:
                    self._fault(error)  # a CPU exception: its handler, or death
                    continue
                raise error
            if status != 0:
                self._fault(self._fault_from(status, self._eip.value))
                continue
            if self._stop is not None:
                return self._stop
            if self._next_image is not None:  # execve succeeded: run the new image
                self._exec()
                continue
            eip = self.eip = self._eip.value
            if segment_loaded:
                continue  # the run stopped for the segment load, not for a budget
            if preemptible:
                # The slice is used up (or a late watchdog stop), unless a hook's own
                # budget stopped it: that budget spans the slices (harness.fuzz).
                over = self.overrun() if self.overrun is not None else None
                if not over:
                    return Stop("preempted")
                budget = over
            elif time.monotonic() >= self._deadline:
                budget = f"time budget of {self.max_seconds:g} s"
            elif self.max_instructions:
                budget = f"budget of {self.max_instructions:,} instructions"
            elif self.overrun is not None and (over := self.overrun()):
                budget = over  # a hook's own budget stopped it (harness.fuzz)
            else:
                continue  # the watchdog's stop was meant for an earlier run: go on
            raise GuestTimeout(eip, insn_text(self.mem.fetch(eip), eip, self.wide), budget)

    def _reads_gdt(self, eip: int) -> bool:
        bad = self._bad_access
        return (bad is not None and self.cpu.base <= bad[1] < self.cpu.base + PAGE
                and cpumod.reads_descriptor(self.mem.fetch(eip)))

    def _fault_from(self, status: int, eip: int) -> GuestFault:
        code = self.mem.fetch(eip)
        if status == UC_ERR_INSN_INVALID:
            signal, si_code, address, at = cpumod.invalid_opcode(code, eip)
            text = insn_text(self.mem.fetch(at), at, self.wide)
            return GuestFault(signal, address, at, text, si_code)
        if status not in _UNMAPPED and status not in _PROTECTED:
            raise HarnessError(f"unicorn stopped: {UcError(status)} at eip 0x{eip:08x}")
        if cpumod.is_io(code) or self._null_segment(code):
            # #GP before any memory access, natively: I/O at CPL 3, or a null fs/gs used.
            signal, si_code, address, _ = cpumod.exception(cpumod.X86_TRAP_GP, b"", eip)
        else:
            signal = SIGSEGV
            address = self._bad_access[1] if self._bad_access else None
            si_code = SEGV_ACCERR if status in _PROTECTED else SEGV_MAPERR
        return GuestFault(signal, address, eip, insn_text(code, eip, self.wide), si_code)

    def _null_segment(self, code: bytes) -> bool:
        prefix = cpumod.segment_override(code)
        if prefix is None:
            return False
        return self.uc.reg_read(UC_X86_REG_FS if prefix == 0x64 else UC_X86_REG_GS) & 0xFFFC == 0

    def _die(self, fault: GuestFault) -> GuestFault:
        """The process is gone: record the signal, and show it as strace would (the
        ``---`` line was shown when the kernel dequeued the signal).  No core is dumped,
        as under RLIMIT_CORE 0, so strace prints no ``(core dumped)``."""
        self.killed_by = fault.signal
        strace = self.kernel.strace
        if strace is not None:
            from .trace import killed_line

            strace(killed_line(fault.signal))
        return fault

    # ------------------------------------------------------------------ signals

    def _fault(self, fault: GuestFault) -> None:
        """A CPU exception: force its signal on the process (force_sig_fault) and deliver
        it.  Returns when a handler is to run (``self.eip`` is its first instruction; when
        it returns, the faulting instruction runs again, as on Linux); raises the fault when
        the process dies of it."""
        kernel = self.kernel
        info = SigInfo(fault.signal, fault.code, addr=fault.address)
        access = self._bad_access[0] if self._bad_access else None
        self._bad_access = None
        kernel.fault_arch = fault_arch(
            info, write=access in (UC_MEM_WRITE_UNMAPPED, UC_MEM_WRITE_PROT),
            fetch=access in (UC_MEM_FETCH_UNMAPPED, UC_MEM_FETCH_PROT))
        force(kernel, info)
        eip = fault.eip
        code = self.mem.fetch(eip, 2)
        if code[:1] in (b"\xcc", b"\xce", b"\xf1"):  # int3, into, icebp: traps, resumed after
            eip += 1
        elif len(code) == 2 and code[0] == 0xCD and code[1] in (3, 4):
            eip += 2
        self._signals(eip, fault)

    def _signals(self, eip: int, fault: GuestFault | None = None, at: int | None = None) -> None:
        """Deliver the pending signals with the guest about to resume at ``eip``: the
        registers go to the kernel, which builds handler frames or says the process dies
        (then the GuestFault is raised: ``fault``, or one at ``at`` for a sent signal)."""
        state = self.cpu_state()
        pc = "rip" if self.wide else "eip"
        state[pc] = eip
        outcome = self.kernel.handle_signals(state)
        if outcome is not None:
            info = outcome.info
            if fault is None or fault.signal != info.signo:
                where = at if at is not None else eip if fault is None else fault.eip
                fault = GuestFault(info.signo, info.addr, where,
                                   insn_text(self.mem.fetch(where), where, self.wide), info.code)
            raise self._die(fault)
        self.set_cpu_state(state)
        self.eip = state[pc]

    def set_gdt_entry(self, index: int, descriptor: bytes) -> None:
        """set_thread_area's descriptor, into the task's GDT (harness/cpu.py)."""
        self.cpu.set_gdt_entry(index, descriptor)

    def cpu_state(self) -> dict[str, int]:
        """Every register a signal frame saves, by its sigcontext name (cold path: only when
        a signal is delivered or a handler returns); an x86-64 program's by
        sigcontext_64's names (harness/cpu64.py)."""
        read = self.uc.reg_read
        if self.wide:
            return {name: read(reg) for name, reg in cpu64.STATE_REGS.items()}
        return {name: read(_STATE_REGS[name]) for name in REGISTERS}

    def stack_pointer(self) -> int:
        return self.uc.reg_read(UC_X86_REG_RSP if self.wide else UC_X86_REG_ESP)

    def set_stack_pointer(self, sp: int) -> None:
        """clone's newsp, in the child."""
        self.uc.reg_write(UC_X86_REG_RSP if self.wide else UC_X86_REG_ESP, sp)

    def set_segment_base(self, segment: str, base: int) -> None:
        """arch_prctl's ARCH_SET_FS and ARCH_SET_GS (x86-64)."""
        self.uc.reg_write(cpu64.SEGMENT_BASES[segment], base)

    def segment_base(self, segment: str) -> int:
        return self.uc.reg_read(cpu64.SEGMENT_BASES[segment])

    def set_cpu_state(self, state: dict[str, int]) -> None:
        """Write back what :meth:`cpu_state` returned, changed; a segment register is only
        loaded when its selector changes.  A selector the CPU refuses is the #GP Linux's
        iret would take: the process gets SIGSEGV."""
        uc = self.uc
        if self.wide:
            for name, reg in cpu64.STATE_REGS.items():
                value = state[name]
                if name == "rip" and self._in_syscall:  # unicorn adds 2 after the hook
                    value -= cpu64.SYSCALL_LEN
                if name in ("cs", "ss"):
                    continue
                uc.reg_write(reg, value & 0xFFFFFFFFFFFFFFFF)
            return
        for name in REGISTERS:
            value = state[name]
            if name in _SEGMENTS:
                # Only the selector counts: the RPL is the CPU's privilege level, which
                # Linux forces to 3 on sigreturn and the machine's CPU set-up decides.
                if uc.reg_read(_STATE_REGS[name]) | 3 == value | 3:
                    continue
                try:
                    uc.reg_write(_STATE_REGS[name], value)
                except UcError:
                    force(self.kernel, SigInfo(SIGSEGV, SI_KERNEL))
                continue
            uc.reg_write(_STATE_REGS[name], value & 0xFFFFFFFF)

    # ------------------------------------------------------------------ hooks

    def _on_interrupt(self, _uch: int, intno: int, _user: int) -> None:
        uch = self._uch
        if self._error is not None:  # the rest of a block after a fault (_on_privileged)
            _uclib.uc_emu_stop(uch)
            return
        try:
            if intno != 0x80 or self.wide:
                if intno == 0x80:
                    self._compat_syscall()
                else:
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

    def _compat_syscall(self) -> None:
        """``int 0x80`` from a 64-bit program: Linux's ia32 entry (entry_INT80_compat,
        arch/x86/entry/entry_64_compat.S) runs the i386 table with i386 layouts on the low
        32 bits of eax, ebx, ecx, edx, esi, edi and ebp, and stores the result in rax,
        sign-extended; no other register changes (r8-r11 are preserved since Linux 4.14)."""
        uc = self.uc
        self._syscalls_left -= 1
        rip = uc.reg_read(UC_X86_REG_RIP)  # past the int 0x80
        if self._syscalls_left < 0:
            self.eip = rip - len(_INT80)
            raise GuestTimeout(self.eip, "int 0x80",
                               f"budget of {self.max_syscalls:,} system calls")
        args = tuple(uc.reg_read(reg) & 0xFFFFFFFF for reg in _ARG_REGS)
        ret = self.kernel.compat_syscall(*args)
        self._parked_compat = ret is BLOCK
        if self._settle(args, ret, rip):
            _uclib.uc_emu_stop(self._uch)

    def _on_syscall(self, _uch: int, _user: int) -> None:
        """The ``syscall`` instruction of an x86-64 program (harness/cpu64.py): rcx and r11
        clobbered as the CPU does, the call run, rax set; unicorn then moves rip past it."""
        uch = self._uch
        if self._error is not None:
            _uclib.uc_emu_stop(uch)
            return
        try:
            _reg_read_batch(uch, self._ids, self._ptrs, 9)
            values = _unpack9(self._vals)
            at = values[7]
            self._syscalls_left -= 1
            if self._syscalls_left < 0:
                self.eip = at
                raise GuestTimeout(at, "syscall", f"budget of {self.max_syscalls:,} system calls")
            clobber = self._clobber
            clobber[0], clobber[1] = at + cpu64.SYSCALL_LEN, values[8]
            _reg_write_batch(uch, self._clobber_ids, self._clobber_ptrs, 2)
            args = values[:7]
            self._in_syscall = True
            try:
                ret = self._syscall(*args)
                if ret.__class__ is int and self.kernel.pending_signal is None:
                    self._ret.value = ret & 0xFFFFFFFFFFFFFFFF
                    _reg_write(uch, UC_X86_REG_RAX, self._ret_ref)
                    return
                if self._settle(args, ret, at + cpu64.SYSCALL_LEN):
                    _uclib.uc_emu_stop(uch)
            finally:
                self._in_syscall = False
        except BaseException as exc:  # noqa: BLE001 - handed to run(), raised there
            self._error = exc
            _uclib.uc_emu_stop(uch)

    def _settle(self, args: tuple[int, ...], ret: object, eip_after: int) -> bool:
        """Put a system call's outcome into the CPU; True when the guest must stop."""
        if ret.__class__ is int:
            self._ret.value = ret & self._mask
            _reg_write(self._uch, self._ret_reg, self._ret_ref)
            if self.kernel.pending_signal is not None:  # kill, tgkill, SIGPIPE, an unblock
                self._signals(eip_after, at=eip_after - len(_INT80))
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
        _uclib.uc_reg_read(self._uch, self._pc_reg, self._eip_ref)
        eip = self._eip.value
        signal, code, address, at = cpumod.exception(intno, self.mem.fetch(eip - 2, 2), eip)
        raise GuestFault(signal, address, at, insn_text(self.mem.fetch(at), at, self.wide),
                         code)

    def _on_io_in(self, _uch: int, port: int, size: int, _user: int) -> int:
        self._on_privileged()
        return 0

    def _on_io_out(self, _uch: int, port: int, size: int, value: int, _user: int) -> None:
        self._on_privileged()

    def _on_sysenter(self, _uch: int, _user: int) -> None:
        self._on_privileged()

    def _on_privileged(self) -> None:
        """in, out, or sysenter, which unicorn runs at CPL 3 but the real CPU refuses: in and
        out are #GP without I/O permission (Linux grants none unless ioperm or iopl is
        called; unicorn checks none); sysenter is #UD in compatibility mode on AMD CPUs, and
        on Intel CPUs returns through the vDSO, which the harness does not map.  unicorn calls
        this hook in the middle of the instruction and cannot abandon it, so the CPU state
        is saved here and restored when the run stops (memory written by the rest of the
        translation block is not undone), and no system call runs in between."""
        if self._error is not None:
            return
        uc = self.uc
        try:
            eip = uc.reg_read(self._pc_reg)
            code = self.mem.fetch(eip)
            if code[:2] == b"\x0f\x34":
                signal, si_code, address, at = cpumod.exception(cpumod.X86_TRAP_UD, b"", eip)
            else:
                signal, si_code, address, at = cpumod.exception(cpumod.X86_TRAP_GP, b"", eip)
            self._fault_context = uc.context_save()
            self._error = GuestFault(signal, address, at, insn_text(code, at, self.wide),
                                     si_code)
        except BaseException as exc:  # noqa: BLE001 - ctypes would swallow it: run() raises it
            self._error = exc
        _uclib.uc_emu_stop(self._uch)

    def _on_bad_access(self, _uch: int, access: int, address: int, size: int, value: int,
                       _user: int) -> bool:
        if access in _UNMAPPED_ACCESS:
            try:
                if self.mem.grow(address):
                    return True  # the stack grew down to it: unicorn retries the access
            except BaseException as exc:  # noqa: BLE001 - handed to run(), raised there
                self._error = exc
        self._bad_access = (access, address)
        return False

    def _on_insn(self, _uch: int, address: int, size: int, _user: int) -> None:
        if self._error is not None:
            return
        try:
            self._trace(trace_insn(address, self.mem.fetch(address, size), self.wide))
        except BaseException as exc:  # noqa: BLE001 - ctypes would swallow it: run() raises it
            self._error = exc
            _uclib.uc_emu_stop(self._uch)

    # ------------------------------------------------------------------ the end

    def close(self) -> None:
        """Release the emulator and guest memory now.

        A machine is a cycle (unicorn holds its hooks, which are bound methods; the kernel
        holds the machine), so without close() CPython frees it only when the cyclic
        garbage collector runs.  :class:`harness.Guest` closes its machine when it is
        dropped or closed.  Idempotent; the machine cannot run afterwards."""
        uch, self._uch = self._uch, None
        if uch is None:
            return
        self._running = False
        self._release()
        self._syscall = None
        self._error = None
        self._fault_context = None
        self._next_image = None
        if getattr(self.kernel, "cpu", None) is self:
            self.kernel.cpu = None

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
