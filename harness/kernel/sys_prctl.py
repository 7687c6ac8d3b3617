"""prctl(2): the options C libraries and small tools use (kernel/sys.c ``SYS_prctl``).

The task's name (``comm``) is what Linux sets at exec: the last part of the executed path,
cut to TASK_COMM_LEN - 1 bytes (``__set_task_comm(me, kbasename(bprm->filename))`` in
fs/exec.c).  Busybox reads it with PR_GET_NAME to learn which applet it is.  Any option not
listed here answers -EINVAL, as the kernel does for an option it does not know.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel


def comm_of(path: str) -> bytes:
    return posixpath.basename(path).encode()[:L.TASK_COMM_LEN - 1]


def sys_prctl(k: Kernel, option: int, arg2: int, *_: int) -> int:
    if option == L.PR_SET_NAME:
        name = k.copy_string(arg2, L.TASK_COMM_LEN - 1)
        if name.__class__ is int:
            if name != -L.ENAMETOOLONG:
                return name
            name = k.copy_in(arg2, L.TASK_COMM_LEN - 1)  # strncpy_from_user stops at the limit
            if name.__class__ is int:
                return name
        k.comm = name
        return 0
    if option == L.PR_GET_NAME:
        comm = k.comm if k.comm is not None else comm_of(k.exe_path)
        return k.copy_out(arg2, comm.ljust(L.TASK_COMM_LEN, b"\0"))
    if option == L.PR_GET_DUMPABLE:
        return k.dumpable
    if option == L.PR_SET_DUMPABLE:
        if arg2 not in (L.SUID_DUMP_DISABLE, L.SUID_DUMP_USER):
            return -L.EINVAL
        k.dumpable = arg2
        return 0
    return -L.EINVAL
