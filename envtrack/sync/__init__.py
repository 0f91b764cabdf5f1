"""`envtrack sync`: write what changed at runtime back into build.envd.

    changes.py  fold journal rows into net changes per package      (pure)
    forms.py    the form a package is written in, for the rebuild   (pure)
    sites.py    install calls in the libcst tree, and editability  (pure)
    into.py     the state new calls go to                          (pure)
    decide.py   what to change: Edits and notes, without libcst     (pure)
    tree.py     carry Edits out on the libcst tree                  (pure)
    rewrite.py  the new file text and notes: sites, decide, tree    (pure)
    result.py   Rewrite and Note, without libcst
    placement.py  the rebuilt plan reaches every call sync wrote    (pure)
    journal.py  read the journal, keep the sync bookmark            (I/O)
    files.py    validate, back up, replace atomically               (I/O)
    service.py  the one call the CLI makes (sync), and its two steps: propose, then apply

Requirement strings per manager (parse, re-pin) are envtrack.requirements.
"""
