"""Process lifetime: exit and exit_group (kernel/exit.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .abi import EXIT

if TYPE_CHECKING:
    from .process import Kernel


def sys_exit(k: Kernel, status: int, *_: int) -> object:
    """exit(2), exit_group(2): one thread is the whole process, so both end it.  The status
    is the low 8 bits (``(error_code & 0xff) << 8`` in do_exit); every fd is closed, so
    sockets send FIN, or RST where unread data remains."""
    k.exit_status = status & 0xFF
    k.fds.close_all()
    return EXIT
