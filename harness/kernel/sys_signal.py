"""Signal dispositions and the mask: signal, rt_sigaction, rt_sigprocmask (kernel/signal.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L
from .abi import SIG_DFL

if TYPE_CHECKING:
    from .process import Kernel

#: i386 struct kernel_sigaction: handler, flags, restorer, 64-bit mask.
SIGACTION_SIZE = 20
SIGSET_SIZE = 8


def sys_signal(k: Kernel, sig: int, handler: int, *_: int) -> int:
    """signal(2) as i386's sys_signal: SA_ONESHOT|SA_NOMASK semantics, old handler back."""
    if not 1 <= sig <= L.NSIG or sig in (L.SIGKILL, L.SIGSTOP):
        return -L.EINVAL
    old = k.dispositions.get(sig, SIG_DFL)
    k.dispositions[sig] = handler
    return old


def sys_rt_sigaction(k: Kernel, sig: int, act: int, oact: int, size: int, *_: int) -> int:
    if size != SIGSET_SIZE:
        return -L.EINVAL
    if not 1 <= sig <= L.NSIG:
        return -L.EINVAL
    new = None
    if act:
        raw = k.copy_in(act, SIGACTION_SIZE)
        if raw.__class__ is int:
            return raw
        new = int.from_bytes(raw[:4], "little")
        if sig in (L.SIGKILL, L.SIGSTOP):
            return -L.EINVAL
    if oact:
        old = k.dispositions.get(sig, SIG_DFL).to_bytes(4, "little") + bytes(16)
        if k.copy_out(oact, old):
            return -L.EFAULT
    if new is not None:
        k.dispositions[sig] = new
    return 0


def sys_rt_sigprocmask(k: Kernel, how: int, set_: int, oset: int, size: int, *_: int) -> int:
    if size != SIGSET_SIZE:
        return -L.EINVAL
    old = k.sigmask
    if set_:
        raw = k.copy_in(set_, 8)
        if raw.__class__ is int:
            return raw
        value = int.from_bytes(raw, "little") & ~(1 << (L.SIGKILL - 1) | 1 << (L.SIGSTOP - 1))
        if how == 0:
            k.sigmask |= value
        elif how == 1:
            k.sigmask &= ~value
        elif how == 2:
            k.sigmask = value
        else:
            return -L.EINVAL
    if oset and k.copy_out(oset, old.to_bytes(8, "little")):
        return -L.EFAULT
    return 0
