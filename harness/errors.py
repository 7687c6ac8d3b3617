"""One exception family for the harness: everything it raises on purpose is a HarnessError.

Each ``str()`` is one line, fit to print after ``webelf: error:``; the fields behind it stay
on the exception for callers that decide something from them (the CLI's exit status is
128 + ``GuestFault.signal``).
"""

from __future__ import annotations

from .linux import ERRNO_NAMES, SIGNAL_DESCRIPTIONS, SIGNAL_NAMES, SYSCALL_NAMES, strerror


class HarnessError(Exception):
    """Base class: the message is one line, fit to print after ``webelf: error:``."""


class ElfError(HarnessError):
    """A file the harness cannot load, for the reason Linux would refuse it (or a harness limit)."""


class GuestFault(HarnessError):
    """The guest did what Linux answers with a fatal signal: a bad memory access (SIGSEGV),
    an invalid instruction (SIGILL), a division error (SIGFPE)."""

    def __init__(self, signal: int, address: int | None, eip: int, disassembly: str = "",
                 code: int = 0) -> None:
        self.signal = signal
        self.address = address
        self.eip = eip
        self.disassembly = disassembly
        self.code = code  # si_code: SEGV_MAPERR, SI_KERNEL, ... (0 is SI_USER)
        super().__init__(signal, address, eip, disassembly, code)

    def __str__(self) -> str:
        name = SIGNAL_NAMES.get(self.signal, f"signal {self.signal}")
        what = SIGNAL_DESCRIPTIONS.get(self.signal, "killed")
        at = "" if self.address is None else f", address 0x{self.address:08x}"
        insn = f": {self.disassembly}" if self.disassembly else ""
        return f"{name} ({what}) at eip 0x{self.eip:08x}{at}{insn}"


class GuestTimeout(HarnessError):
    """The guest ran out of its instruction or time budget without exiting or blocking."""

    def __init__(self, eip: int, instruction: str = "", budget: str = "budget") -> None:
        self.eip = eip
        self.instruction = instruction
        self.budget = budget
        super().__init__(eip, instruction, budget)

    def __str__(self) -> str:
        insn = f": {self.instruction}" if self.instruction else ""
        return f"guest exceeded its {self.budget} at eip 0x{self.eip:08x}{insn}"


class UnsupportedSyscall(HarnessError):
    """Strict mode met a syscall the harness does not implement (lenient mode returns -ENOSYS)."""

    def __init__(self, number: int, name: str | None = None) -> None:
        self.number = number
        self.name = name if name is not None else SYSCALL_NAMES.get(number, "unknown")
        super().__init__(number, self.name)

    def __str__(self) -> str:
        return f"unsupported syscall {self.number} ({self.name})"


class NetError(HarnessError):
    """An operation of the fake network's outside client failed, with the errno a Linux client
    would have seen (ECONNREFUSED, ETIMEDOUT, EPIPE, ECONNRESET)."""

    def __init__(self, errno: int, context: str = "") -> None:
        self.errno = errno
        self.context = context
        super().__init__(errno, context)

    @property
    def name(self) -> str:
        return ERRNO_NAMES.get(self.errno, f"errno {self.errno}")

    def __str__(self) -> str:
        where = f"{self.context}: " if self.context else ""
        return f"{where}{self.name} ({strerror(self.errno)})"
