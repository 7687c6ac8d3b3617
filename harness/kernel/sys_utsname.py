"""uname(2) (kernel/sys.c, ``newuname``): struct new_utsname, six 65-byte NUL-padded fields.

The values are fixed so that runs are reproducible and independent of the host:

* sysname ``Linux``;
* nodename ``webelf`` (a host name of its own, not the host's);
* release ``6.1.0-webelf``: the kernel series the harness is written against (the strace
  and kernel sources it cites are 6.1), marked as not being a real build;
* version ``#1 SMP PREEMPT_DYNAMIC webelf``;
* machine ``x86_64``: what a 32-bit program sees on a 64-bit kernel unless it runs under
  ``linux32`` (PER_LINUX32, ``override_architecture`` in kernel/sys.c); checked natively on
  the test machine (tests/test_calls.py);
* domainname ``(none)``, the kernel's default (UTS_DOMAINNAME, include/linux/uts.h).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel

UTSNAME = (b"Linux", b"webelf", b"6.1.0-webelf", b"#1 SMP PREEMPT_DYNAMIC webelf", b"x86_64",
           b"(none)")
_FIELD = L.NEW_UTS_LEN + 1
#: The struct as the guest receives it (390 bytes).
UTSNAME_BYTES = b"".join(field.ljust(_FIELD, b"\0") for field in UTSNAME)


def sys_uname(k: Kernel, buf: int, *_: int) -> int:
    """uname(2): 0, or -EFAULT when ``buf`` cannot take the whole struct."""
    return k.copy_out(buf, UTSNAME_BYTES)
