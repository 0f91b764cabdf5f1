"""`envtrack sync`: write what changed at runtime back into build.envd.

    changes.py  fold journal rows into net changes per package      (pure)
    specs.py    requirement strings per manager: parse, re-pin      (pure)
    sites.py    install calls in the libcst tree, and editability  (pure)
    rewrite.py  the new file text and notes                         (pure)
    result.py   Rewrite and Note, without libcst
    journal.py  read the journal, keep the sync bookmark            (I/O)
    files.py    validate, back up, replace atomically               (I/O)
    service.py  the two steps the CLI runs: propose, then apply
"""
