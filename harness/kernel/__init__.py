"""The harness's Linux: one process's system calls, with the layout Linux itself has.

:mod:`.process` holds :class:`Kernel` (one process's state and the dispatch); the handlers
live by subsystem in the ``sys_*`` modules; :mod:`.i386` is the table that maps each i386
number to its handler, with a support note.  Nothing here imports unicorn: the machine
(:mod:`harness.machine`) hands the kernel registers and guest memory.
"""

from .abi import BLOCK, EXIT, BadAddress, Stop
from .process import GuestCpu, GuestMemory, Kernel

__all__ = ["BLOCK", "EXIT", "BadAddress", "GuestCpu", "GuestMemory", "Kernel", "Stop"]
