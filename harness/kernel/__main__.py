"""``python -m harness.kernel``: the README's table of modelled system calls."""

from .i386 import markdown

print(markdown())
