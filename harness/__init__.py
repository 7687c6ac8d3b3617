"""Run any static i386 Linux ELF inside unicorn, over an in-process fake network.

Nothing here imports ``generator/``: the harness must be able to judge any ELF, not only ours.
"""
