"""User and group ids (kernel/sys.c, kernel/groups.c, kernel/uid16.c).

Who the guest is: ``k.uid`` and ``k.gid`` (real, effective and saved alike), 0 when the
network is privileged (the default: the guest binds ports below 1024, as root in a
container would, and the auxiliary vector's AT_UID/AT_GID say 0 too) and 1000, an ordinary
user, when it is not.  No supplementary groups: getgroups returns 0.

The 16-bit calls of old binaries (getuid, 24; getgid, 47; ...) return ids above 65535 as
the overflow id 65534 (``high2lowuid``, include/linux/highuid.h).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import linux as L

if TYPE_CHECKING:
    from .process import Kernel

OVERFLOW_ID = 65534


def _low(value: int) -> int:
    return OVERFLOW_ID if value & ~0xFFFF else value


def sys_getuid32(k: Kernel, *_: int) -> int:
    return k.uid


def sys_getgid32(k: Kernel, *_: int) -> int:
    return k.gid


def sys_getuid(k: Kernel, *_: int) -> int:
    return _low(k.uid)


def sys_getgid(k: Kernel, *_: int) -> int:
    return _low(k.gid)


def _put_ids(k: Kernel, pointers: tuple[int, int, int], value: int, size: int) -> int:
    """put_user of the three ids in order: the first that faults is -EFAULT, the earlier
    ones stay written (getresuid, kernel/sys.c)."""
    data = value.to_bytes(size, "little")
    for pointer in pointers:
        err = k.copy_out(pointer, data)
        if err:
            return err
    return 0


def sys_getresuid32(k: Kernel, r: int, e: int, s: int, *_: int) -> int:
    return _put_ids(k, (r, e, s), k.uid, 4)


def sys_getresgid32(k: Kernel, r: int, e: int, s: int, *_: int) -> int:
    return _put_ids(k, (r, e, s), k.gid, 4)


def sys_getresuid(k: Kernel, r: int, e: int, s: int, *_: int) -> int:
    return _put_ids(k, (r, e, s), _low(k.uid), 2)


def sys_getresgid(k: Kernel, r: int, e: int, s: int, *_: int) -> int:
    return _put_ids(k, (r, e, s), _low(k.gid), 2)


def sys_getgroups32(k: Kernel, size: int, _list: int, *_: int) -> int:
    """getgroups(2): -EINVAL for a negative size; otherwise the number of supplementary
    groups, which is 0, so nothing is written and no size is too small."""
    if size & 0x80000000:
        return -L.EINVAL
    return 0


sys_getgroups = sys_getgroups32
