"""`cfipt reproduce`: the paper's protocol (seeded splits x variants, through prepare, train, predict
and evaluate) on a benchmark's files, with the results tables beside the paper's figures.

A composition of stages (floor 4): it runs each stage through its typed request, in this process or in
worker processes (`worker`), and re-implements none of them.
"""
