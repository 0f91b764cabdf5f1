"""Folding journal rows into net changes, and what cannot be rebuilt from an index."""

from __future__ import annotations

from envtrack.journal.row import Change
from envtrack.sync.changes import fold_changes
from envtrack.sync.forms import unreproducible as unreproducible_reason, vcs_url

SITE = "/usr/lib/python3/dist-packages"


def row(id, action, name, old=None, new=None, requested=1, manager="pip", source="", detail=""):
    """The row the journal gives sync for a record as the table holds it."""
    return Change.from_sql({"id": id, "time": "2026-11-29T01:00:00.000Z", "manager": manager, "env": "/" if manager == "apt" else SITE,
            "action": action, "name": name, "old_version": old, "new_version": new, "requested": requested,
            "source": source, "arch": "", "build": "", "reconciled": 0, "detail": detail})


def net(rows):
    return {(c.manager, c.name): (c.before, c.version, c.requested) for c in fold_changes(rows)}


def test_install_then_remove_is_nothing():
    assert net([row(1, "install", "six", new="1.16.0"), row(2, "remove", "six", old="1.16.0")]) == {}


def test_installed_twice_keeps_the_last_version():
    rows = [row(1, "install", "six", new="1.15.0"), row(2, "upgrade", "six", old="1.15.0", new="1.16.0")]
    assert net(rows) == {("pip", "six"): (None, "1.16.0", True)}


def test_removed_then_reinstalled_at_the_same_version_is_nothing():
    rows = [row(1, "remove", "six", old="1.16.0"), row(2, "install", "six", new="1.16.0")]
    assert net(rows) == {}


def test_removed_then_reinstalled_at_another_version_is_a_version_change():
    rows = [row(1, "remove", "six", old="1.16.0"), row(2, "install", "six", new="1.17.0")]
    assert net(rows) == {("pip", "six"): ("1.16.0", "1.17.0", True)}


def test_rows_are_folded_in_id_order_whatever_order_they_come_in():
    rows = [row(2, "remove", "jq", old="1.6", manager="apt"), row(1, "install", "jq", new="1.6", manager="apt")]
    assert net(rows) == {}


def test_pip_names_are_canonicalised_so_spellings_fold_together():
    rows = [row(1, "install", "Typing_Extensions", new="4.0"), row(2, "upgrade", "typing-extensions", old="4.0", new="4.1")]
    assert net(rows) == {("pip", "typing-extensions"): (None, "4.1", True)}


def test_a_dependency_stays_unrequested_and_a_later_explicit_install_marks_it_requested():
    assert net([row(1, "install", "idna", new="3.4", requested=0)]) == {("pip", "idna"): (None, "3.4", False)}
    rows = [row(1, "install", "idna", new="3.4", requested=0), row(2, "upgrade", "idna", old="3.4", new="3.6")]
    assert net(rows) == {("pip", "idna"): (None, "3.6", True)}


def test_same_package_in_different_managers_is_kept_apart():
    rows = [row(1, "install", "six", new="1.16.0"), row(2, "install", "python3-six", new="1.16.0-4", manager="apt")]
    assert set(net(rows)) == {("pip", "six"), ("apt", "python3-six")}


def test_editable_and_local_installs_are_unreproducible_vcs_and_index_installs_are_not():
    editable, local, vcs, plain = fold_changes([
        row(1, "install", "mine", new="0.1", source="file:///src/mine", detail='{"editable": true}'),
        row(2, "install", "wheel", new="0.2", source="file:///tmp/wheel-0.2-py3-none-any.whl"),
        row(3, "install", "lib", new="1.0", source="git+https://example.org/lib.git@0123abcd"),
        row(4, "install", "six", new="1.16.0"),
    ])
    assert "editable" in unreproducible_reason(editable)
    assert "local path" in unreproducible_reason(local)
    assert unreproducible_reason(vcs) is None and vcs_url(vcs) == "git+https://example.org/lib.git@0123abcd"
    assert unreproducible_reason(plain) is None and vcs_url(plain) is None


def test_vcs_kind_from_detail_is_prefixed_to_the_url():
    (change,) = fold_changes([row(1, "install", "lib", new="1.0", source="https://example.org/lib@abc",
                                  detail='{"vcs": "git"}')])
    assert vcs_url(change) == "git+https://example.org/lib@abc"


def test_a_mark_row_is_the_final_word_on_the_requested_flag():
    """An early read guessed mpmath was requested; the agent's mark row corrects it."""
    rows = [row(1, "install", "mpmath", new="1.3.0", requested=1), row(2, "install", "sympy", new="1.13.3"),
            row(3, "mark", "mpmath", old="1.3.0", new="1.3.0", requested=0)]
    assert net(rows) == {("pip", "mpmath"): (None, "1.3.0", False), ("pip", "sympy"): (None, "1.13.3", True)}
    rows = [row(1, "install", "jq", new="1.6", requested=0, manager="apt"),
            row(2, "mark", "jq", old="1.6", new="1.6", requested=1, manager="apt")]   # apt-mark manual
    assert net(rows) == {("apt", "jq"): (None, "1.6", True)}


def test_a_mark_alone_changes_no_version_and_is_no_net_change():
    assert net([row(1, "mark", "six", old="1.16.0", new="1.16.0", requested=0)]) == {}
