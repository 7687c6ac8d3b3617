"""``python -m harness.kernel [i386|x86_64]``: the README's table of modelled system calls
for that architecture (i386 unless told)."""

import sys

from . import i386, x86_64

tables = {"i386": i386, "x86_64": x86_64}
arch = sys.argv[1] if len(sys.argv) > 1 else "i386"
if arch not in tables:
    sys.exit(f"usage: python -m harness.kernel [{'|'.join(tables)}]")
print(tables[arch].markdown())
