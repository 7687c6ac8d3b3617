"""execve (fs/exec.c do_execveat_common, bprm_execve; fs/binfmt_elf.c load_elf_binary).

The program is a file of the guest's ``--root`` tree (without one every path is ENOENT),
looked up as open does, following symbolic links; then, in the kernel's order:

* the lookup's errors (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG), EFAULT for the path;
* EACCES for what is not a regular file (a directory among them) or lacks the x bit for
  the guest's uid (do_open_execat, may_open with MAY_EXEC);
* argv and envp are counted (EFAULT for an unreadable pointer array; NULL is empty) and
  their strings copied, envp first: EFAULT, E2BIG past MAX_ARG_STRLEN (32 pages, the NUL
  counted) for one string or past the total bprm_stack_limits allows (a quarter of
  RLIMIT_STACK, at least ARG_MAX 128 KiB and at most 6 MiB, with a pointer's bytes (4 for
  i386, 8 for x86-64) each; never more than the harness's loader takes, elf.MAX_ARG_BYTES);
* ENOEXEC when the file is not a static i386 or x86-64 ELF the harness's loader accepts
  (harness/elf.py, harness/elf64.py): scripts (``#!``) among them -- there is no
  binfmt_script yet.  The call fails and the process goes on, as Linux's does before its
  point of no return.  Either architecture may exec the other: the new image brings its
  own CPU mode and system call table.

Then the process becomes the program: a new emulator with the image mapped and a new
stack (argv, envp, AT_EXECFN = the path as given), in the same :class:`Machine`, kernel
and pid; fds marked FD_CLOEXEC are closed, the rest stay; caught signals go back to
SIG_DFL, ignored ones stay ignored (flush_signal_handlers: flags, mask and restorer
cleared), the signal mask and pending signals stay; the alternate signal stack, TLS
entries, clear_child_tid and the robust list are gone; /proc/self/exe names the program
and the task's name is the path's last part.  execve returns only on failure.
"""

from __future__ import annotations

import os
import stat as st
from typing import TYPE_CHECKING

from .. import elf as elfmod
from .. import linux as L
from ..errors import ElfError
from .sigframe import SigAction
from .sys_fs import path_lookup, permitted
from .sys_mm import stack_rlimit

if TYPE_CHECKING:
    from .process import Kernel

#: include/uapi/linux/binfmts.h and fs/exec.c.
MAX_ARG_STRLEN = elfmod.MAX_ARG_STRLEN
ARG_MAX = 131072
_STK_LIM = 8 * 1024 * 1024
#: The largest program file execve reads (the harness's guest memory is bounded anyway).
MAX_PROGRAM_BYTES = 256 * 1024 * 1024


def _arg_limit(k: Kernel) -> int:
    """bprm_stack_limits: the bytes the strings and pointers may take."""
    limit = min(_STK_LIM // 4 * 3, stack_rlimit(k) // 4)
    return min(max(limit, ARG_MAX), elfmod.MAX_ARG_BYTES)


def _pointers(k: Kernel, array: int, most: int) -> list[int] | int:
    """count(): the pointers of a NULL-terminated array (NULL: none); -EFAULT; -E2BIG once
    more than ``most`` (the limit is met by the pointers alone)."""
    out: list[int] = []
    if not array:
        return out
    word = k.abi.word
    while True:
        raw = k.peek(array + word * len(out), word)
        if raw is None:
            return -L.EFAULT
        pointer = int.from_bytes(raw, "little")
        if not pointer:
            return out
        out.append(pointer)
        if len(out) > most:
            return -L.E2BIG


def _strings(k: Kernel, pointers: list[int]) -> list[bytes] | int:
    out = []
    for pointer in pointers:
        text = k.copy_string(pointer, MAX_ARG_STRLEN)
        if text.__class__ is int:
            return -L.E2BIG if text == -L.ENAMETOOLONG else text
        out.append(text)
    return out


def sys_execve(k: Kernel, path: int, argv: int, envp: int, *_: int) -> int:
    name = k.copy_string(path)
    if name.__class__ is int:
        return name
    r = path_lookup(k, L.AT_FDCWD & 0xFFFFFFFF, name)
    if r.__class__ is int:
        return r
    info = r.stat
    if not st.S_ISREG(info.st_mode) or not permitted(k, info, L.X_OK):
        return -L.EACCES
    try:
        fd = k.tree.open(r.parts)
        try:
            data = os.read(fd, MAX_PROGRAM_BYTES)
        finally:
            os.close(fd)
    except OSError as exc:
        return -(exc.errno or L.EACCES)
    limit = _arg_limit(k)
    word = k.abi.word
    args = _pointers(k, argv, limit // word)
    if args.__class__ is int:
        return args
    envs = _pointers(k, envp, limit // word)
    if envs.__class__ is int:
        return envs
    used = (max(len(args), 1) + len(envs)) * word
    if used >= limit:
        return -L.E2BIG
    env_strings = _strings(k, envs)
    if env_strings.__class__ is int:
        return env_strings
    arg_strings = _strings(k, args)
    if arg_strings.__class__ is int:
        return arg_strings
    used += len(name) + 1 + sum(len(s) + 1 for s in env_strings + arg_strings)
    if not arg_strings:
        used += 1  # "" as argv[0] (Linux 5.18 and later)
    if used > limit:
        return -L.E2BIG
    try:
        image = elfmod.load(data)
    except ElfError:
        return -L.ENOEXEC
    # The point of no return (begin_new_exec).
    k.fds.close_on_exec()
    k.sigactions = {sig: SigAction(handler=L.SIG_IGN) for sig, action in k.sigactions.items()
                    if action.handler == L.SIG_IGN}
    k.altstack_sp = k.altstack_size = 0
    k.altstack_flags = 0
    k.tls_used = set()
    k.clear_child_tid = 0
    k.robust_list = 0
    k.random = None
    k.exe_path = r.path
    k.comm = os.path.basename(name)[:L.TASK_COMM_LEN - 1]
    k.dumpable = L.SUID_DUMP_USER
    k.cpu.exec_later(image, arg_strings, env_strings, name)
    return 0
