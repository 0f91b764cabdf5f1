"""Seeded fuzz of sync's pure core: valid build.envd variants x random journals.

Each variant mixes literal install calls (one line or several, with comments), helpers,
loops, `if not GPU: return`, a final `return` and a `name=[]` call with requirements=;
each journal installs, upgrades and removes packages in two pip environments and apt,
some requested, some dependencies. The rewrite (rewrite_source, no engine) must:
re-plan; keep every full-line comment; leave every line outside the edited install
calls as it was, in order; make the last declaration of each requested package its
installed version, with nothing uninstalling it afterwards; never write a dependency;
be idempotent; and a rejected write leaves build.envd byte for byte.
ENVTRACK_FUZZ_SYNC sets how many (variant, journal) pairs; a failure names its seed.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from envtrack.errors import EnvtrackError
from envtrack.frontend import load_plan
from envtrack.journal.row import Change
from envtrack.sync.changes import fold_changes
from envtrack.sync.files import replace_validated
from envtrack.llb.compile import compile_plan
from envtrack.sync.placement import misplaced
from envtrack.sync.rewrite import UNINSTALL, rewrite_source

COUNT = int(os.environ.get("ENVTRACK_FUZZ_SYNC", "180"))
SEEDS = (21, 22, 23)
PIP = ["six", "tomli", "idna", "attrs", "packaging"]
APT = ["jq", "htop", "tree", "curl"]
SITES = ["/usr/local/lib/python3.11/dist-packages", "/opt/envtrack/venv/lib/python3.11/site-packages"]
KIND = {"pip": "install.python_packages", "apt": "install.apt_packages"}


@dataclass
class Variant:
    lines: list[str] = field(default_factory=list)
    install_lines: set[int] = field(default_factory=set)   # 0-based lines sync may edit: install calls and
                                                           # the lists feeding them (variable, loop, helper)

    def add(self, text: str, install: bool = False) -> None:
        for line in text.split("\n"):
            if install:
                self.install_lines.add(len(self.lines))
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def variant(rng: random.Random) -> Variant:
    v = Variant()
    v.add("# generated variant\nGPU = False")
    v.add('TOOLS = ["htop", "tree"]\n', install=True)
    v.add('def extra():\n    install.apt_packages(name=["curl"])\n', install=True)
    v.add("def build():")
    v.add('    base(image="envtrack/base:bookworm")')
    v.add("    install.python()")
    returned = False
    for _ in range(rng.randint(1, 7)):
        choice = rng.random()
        if choice < 0.45:
            manager = rng.choice(["pip", "apt"])
            v.add(install_call(rng, manager), install=True)
        elif choice < 0.55:
            v.add(f'    run(commands=["echo {rng.randint(0, 99)}"])')
        elif choice < 0.65:
            v.add(f"    # note {rng.randint(0, 99)}")
        elif choice < 0.72:
            v.add("    extra()")
        elif choice < 0.76:
            v.add('    for p in ["jq", "tree"]:\n        install.apt_packages(name=[p])', install=True)
        elif choice < 0.79:
            v.add("    install.apt_packages(name=TOOLS)", install=True)
        elif choice < 0.86:
            v.add('    install.python_packages(name=[], requirements="requirements.txt")', install=True)
        elif not returned:
            v.add("    # the rest is for GPU machines\n    if not GPU:\n        return")
            returned = True
    if rng.random() < 0.3:
        v.add("    return")
    v.add("\n# trailing comment")
    return v


def install_call(rng: random.Random, manager: str) -> str:
    pool = PIP if manager == "pip" else APT
    names = rng.sample(pool, rng.randint(0 if manager == "pip" and rng.random() < 0.1 else 1, 3))
    entries = [f'"{n}"' if rng.random() < 0.5 else f'"{n}{"==1.0" if manager == "pip" else "=1.0-1"}"' for n in names]
    if rng.random() < 0.5 or not entries:
        return f"    {KIND[manager]}(name=[{', '.join(entries)}])" + ("  # same-line note" if rng.random() < 0.3 else "")
    body = []
    for entry in entries:
        if rng.random() < 0.4:
            body.append(f"        # about {entry.strip(chr(34))}")
        body.append(f"        {entry}," + ("  # own" if rng.random() < 0.3 else ""))
    if rng.random() < 0.3:
        body.append("        # closing note")
    return f"    {KIND[manager]}(name=[\n" + "\n".join(body) + "\n    ])"


def journal(rng: random.Random) -> list[dict]:
    rows = []
    for number in range(1, rng.randint(1, 8) + 1):
        manager = rng.choice(["pip", "apt"])
        name = rng.choice(PIP if manager == "pip" else APT)
        action = rng.choice(["install", "install", "upgrade", "remove"])
        old = None if action == "install" else ("1.0" if manager == "pip" else "1.0-1")
        new = None if action == "remove" else (f"2.{rng.randint(0, 3)}" if manager == "pip" else f"2.{rng.randint(0, 3)}-1")
        rows.append({"id": number, "time": "2026-11-29T01:00:00.000Z", "manager": manager,
                     "env": "/" if manager == "apt" else rng.choice(SITES), "action": action, "name": name,
                     "old_version": old, "new_version": new, "requested": int(rng.random() < 0.6),
                     "source": "", "detail": ""})
    return rows


def declarations(plan) -> dict[tuple[str, str], str]:  # noqa: ANN001 - a Plan
    """(manager, name) -> the last entry the build declares for it, or "" when a later run() uninstalls it."""
    last: dict[tuple[str, str], str] = {}
    for step in plan.steps:
        for manager, kind in KIND.items():
            if step.kind == kind:
                for entry in step.args.get("name") or []:
                    last[(manager, entry.split("=")[0])] = entry
        if step.kind == "run":
            for command in step.args.get("commands") or []:
                for manager in KIND:
                    for key in [k for k in last if k[0] == manager]:
                        if command == UNINSTALL[manager].format(key[1]):
                            last[key] = ""
    return last


def expected_pins(rows: list[dict]) -> tuple[dict, set]:
    """What the journal says: requested packages still installed somewhere, with their
    newest version; and the packages only ever seen as dependencies."""
    final: dict[tuple[str, str, str], dict] = {}
    requested: set[tuple[str, str, str]] = set()   # asked for in that environment
    for row in rows:
        key = (row["manager"], row["env"], row["name"])
        final[key] = row
        if row["requested"]:
            requested.add(key)
    installed: dict[tuple[str, str], dict] = {}
    for (manager, _, name), row in final.items():
        if row["action"] != "remove":
            best = installed.get((manager, name))
            if best is None or row["id"] > best["id"]:
                installed[(manager, name)] = row
    asked = {key for key, row in installed.items() if (key[0], row["env"], key[1]) in requested}
    pins = {key: row["new_version"] for key, row in installed.items() if key in asked}
    dependencies = {key for key in installed if key not in asked}
    return pins, dependencies


def subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(line == needle for line in it) for needle in needles)


def comments(text: str) -> list[str]:
    return sorted(line.strip() for line in text.split("\n") if line.strip().startswith("#"))


def contains_all(needed: list[str], have: list[str]) -> bool:
    pool = list(have)
    for item in needed:
        if item not in pool:
            return False
        pool.remove(item)
    return True


def placement_problem(plan, gone: set[str]) -> str | None:
    """Each call sync writes comes after the steps it needs, judged from the plan alone: base()
    first, install.python before any pip install, and no install of a package that ended up
    removed (GONE) after its uninstall (the package would stay)."""
    seen_python = False
    removed: dict[str, int] = {}
    for index, step in enumerate(plan.steps):
        if step.kind == "base" and index:
            return f"step {index}: base() after other steps"
        seen_python = seen_python or step.kind == "install.python"
        if step.kind == "install.python_packages" and not seen_python:
            return f"step {index}: a pip install before install.python()"
        for command in step.args.get("commands") or [] if step.kind == "run" else []:
            for verb in UNINSTALL.values():
                prefix = verb.format("")
                if str(command).startswith(prefix):
                    removed[str(command)[len(prefix):]] = index
        for name in step.args.get("name") or [] if step.kind in ("install.apt_packages", "install.python_packages") else []:
            bare = re.split(r"[=<>~!\[ ;@]", str(name), maxsplit=1)[0]
            if bare in removed and bare in gone:
                return f"step {index}: installs {bare} after the uninstall at step {removed[bare]}"
    return None


@pytest.mark.parametrize("seed", SEEDS)
def test_sync_rewrites_keep_their_invariants(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    (tmp_path / "requirements.txt").write_text("six\n")
    envd = tmp_path / "build.envd"
    for index in range(COUNT // len(SEEDS)):
        v, rows = variant(rng), journal(rng)
        context = f"seed {seed} case {index}\n{v.text}\n{rows}"
        envd.write_text(v.text)
        plan = load_plan(envd)
        changes = fold_changes([Change.from_sql({"arch": "", "build": "", "reconciled": 0, **r}) for r in rows])
        result = rewrite_source(v.text, plan, changes, envd_file=envd)
        out = result.text

        envd.write_text(out)
        new_plan = load_plan(envd)                                          # re-plans
        compile_plan(new_plan)                                              # and lowers (no Engine)
        gone = {c.name for c in changes if c.removed} - {c.name for c in changes if not c.removed}
        problem = placement_problem(new_plan, gone)
        assert problem is None, f"{context}\n--- out:\n{out}\n{problem}"
        assert misplaced(new_plan, result.added) is None, f"{context}\n--- out:\n{out}"
        assert contains_all(comments(v.text), comments(out)), f"{context}\n--- out:\n{out}"   # comments kept
        untouched = [line for n, line in enumerate(v.lines) if n not in v.install_lines]
        assert subsequence(untouched, out.split("\n")), f"{context}\n--- out:\n{out}"    # lines outside edits
        declared_before = declarations(plan)
        declared = declarations(new_plan)
        pins, dependencies = expected_pins(rows)
        for (manager, name), version in pins.items():                     # requested pinned
            separator = "==" if manager == "pip" else "="
            assert declared.get((manager, name)) == f"{name}{separator}{version}", f"{context}\n--- out:\n{out}"
        for key in dependencies - set(declared_before) - set(pins):         # dependencies never written
            assert key not in declared, f"{context}\n--- out:\n{out}"
        again = rewrite_source(out, new_plan, changes, envd_file=envd).text
        assert again == out, f"{context}\n--- out:\n{out}\n--- again:\n{again}"   # idempotent

        if index % 10 == 0:                                                 # intact on failure
            envd.write_text(v.text)

            def reject(temp: Path) -> None:
                raise EnvtrackError("rejected")

            with pytest.raises(EnvtrackError):
                replace_validated(envd, v.text, out, reject)
            assert envd.read_text() == v.text
            assert sorted(p.name for p in tmp_path.iterdir()) == ["build.envd", "requirements.txt"]
