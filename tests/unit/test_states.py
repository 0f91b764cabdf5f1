"""States in build.envd: the State merge/diff primitives, the frontend's state functions and
their errors, the graph lowering (MergeOp/DiffOp and the v0.8 fallback), and the replay tool."""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
from pathlib import Path

import pytest

from envtrack.errors import LocatedError
from envtrack.frontend import load_plan
from envtrack.llb import apply_delta
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions
from envtrack.pb import ops_pb2 as pb
from envtrack.state import Mkfile, Mount, State, marshal_graph


def ops_of(definition: pb.Definition) -> list[pb.Op]:
    return [pb.Op.FromString(raw) for raw in getattr(definition, "def")[:-1]]


def kinds(definition: pb.Definition) -> list[str]:
    return [op.WhichOneof("op") for op in ops_of(definition)]


# --- State.merge / State.diff -------------------------------------------------------------

def files(*names: str) -> State:
    return State.scratch().file(*(Mkfile(f"/{n}", n.encode()) for n in names))


def test_merge_marshals_a_merge_op_naming_each_layer_by_input_index():
    a, b = files("a"), files("b")
    marshalled = marshal_graph(State.merge([a, b]))
    merge = ops_of(marshalled.definition)[-1]
    assert merge.WhichOneof("op") == "merge"
    assert [i.input for i in merge.merge.inputs] == [0, 1]
    assert [i.digest for i in merge.inputs] == [marshalled.digest_of(a.output.vertex), marshalled.digest_of(b.output.vertex)]
    assert marshalled.definition.metadata[marshalled.digest].caps == {"mergeop": True}


def test_merge_drops_scratch_and_a_single_state_is_itself():
    a = files("a")
    assert State.merge([State.scratch(), a]) is a
    assert State.merge([State.scratch(), State.scratch()]).output is None


def test_diff_marshals_lower_and_upper_and_a_diff_from_scratch_is_the_upper_state():
    lower, upper = files("a"), files("b")
    marshalled = marshal_graph(State.diff(lower, upper))
    diff = ops_of(marshalled.definition)[-1]
    assert (diff.diff.lower.input, diff.diff.upper.input) == (0, 1)
    assert marshalled.definition.metadata[marshalled.digest].caps == {"diffop": True}
    assert State.diff(State.scratch(), upper) is upper


def test_an_exec_can_output_a_mount_instead_of_its_root():
    target = files("a")
    ran = files("tool").run(["true"], mounts=[Mount(dest="/out", source=target.output, readonly=False, output=True)])
    exec_op = ops_of(ran.marshal())[-1].exec
    outputs = {m.dest: m.output for m in exec_op.mounts}
    assert outputs == {"/": -1, "/out": 0}
    with pytest.raises(ValueError):
        Mount(dest="/out", source=target.output, readonly=True, output=True)


# --- the frontend --------------------------------------------------------------------------

BRANCHES = """\
def build():
    base(image="envtrack/base:bookworm")
    install.python()
    system = branch()
    install.apt_packages(name=["jq"], into=system)
    py = branch()
    install.python_packages(name=["{pip}"], into=py)
    return merge([system, py])
"""


def plan_of(tmp_path: Path, text: str):
    (tmp_path / "build.envd").write_text(textwrap.dedent(text))
    return load_plan(tmp_path)


def test_states_are_named_after_their_variables_and_steps_know_their_state(tmp_path):
    plan = plan_of(tmp_path, BRANCHES.format(pip="six"))
    assert [(d.name, d.origin, d.inputs) for d in plan.states] == [
        ("system", "branch", ("main",)), ("py", "branch", ("main",)), ("merge", "merge", ("system", "py"))]
    assert [s.state for s in plan.steps] == [None, None, "system", "py"]
    assert plan.result == "merge" and plan.image_state == "merge"
    assert [s.kind for s in plan.steps_of("py")] == ["install.python_packages"]


def test_a_plan_without_states_is_the_envd_v1_plan(tmp_path):
    plan = plan_of(tmp_path, 'def build():\n    base(image="envtrack/base:bookworm")\n    run(commands=["true"])\n')
    assert plan.states == () and plan.result is None and all(s.state is None for s in plan.steps)
    assert "state" not in plan.steps[0].to_json()


@pytest.mark.parametrize("body, line, column, message", [
    ('    a = scratch()\n    return merge([a, 3])', 3, 12, "merge: item 2: a int is not a state"),
    ('    a = scratch()\n    b = scratch()\n    return merge([a, "c"])', 4, 12, "merge: item 2: no state named 'c'"),
    ('    a = scratch()\n    return merge([a, a])', 3, 12, "merge: state 'a' is listed twice"),
    ('    a = scratch()\n    return merge([a])', 3, 12, "merge: give at least two states, got 1"),
    ('    a = scratch()\n    return diff(a, a)', 3, 12, "diff: lower and upper are both 'a'"),
    ('    run(commands=["true"], into="sytem")', 2, 5, "run: into: no state named 'sytem'"),
    ('    runtime.environ(env={"A": "1"}, into="main")', 2, 5, "runtime.environ: into= is not accepted"),
    ('    a = branch(of="b", name="a")\n    b = branch(of="a", name="b")', 2, 9, "branch: state cycle: a -> b -> a"),
    ('    a = scratch()\n    b = scratch(name="a")', 3, 9, "scratch: a state named 'a' already exists"),
    ('    return 3', 1, 5, "build() returned: a int is not a state"),
    ('    return "nothing"', 1, 5, "build() returned: no state named 'nothing'"),
    ('    image(3)', 2, 5, "image: ref must be an image reference string"),
])
def test_misused_states_are_located_errors(tmp_path, body, line, column, message):
    with pytest.raises(LocatedError) as raised:
        plan_of(tmp_path, "def build():\n" + body + "\n")
    error = raised.value
    assert (error.position.line, error.position.column) == (line, column), error
    assert error.reason.startswith(message), error.reason


def test_unassigned_states_get_unique_names(tmp_path):
    plan = plan_of(tmp_path, """\
        def build():
            for n in range(2):
                s = scratch()
            return merge(["s", "s-2", image("envtrack/base:bookworm")])
        """)
    assert [d.name for d in plan.states] == ["s", "s-2", "image", "merge"]


# --- lowering ----------------------------------------------------------------------------------

def compiled(tmp_path: Path, text: str, merge_op: bool):
    plan = plan_of(tmp_path, text)
    result = compile_plan(plan, BuildOptions(merge_op=merge_op))
    return result, pb.Definition.FromString(result.definition)


def branch_digests(result) -> dict[str, str]:
    return {step.label: digest for digest, step in result.steps_by_vertex.items()}


def test_with_mergeop_branches_become_diffs_of_their_common_state_merged_onto_it(tmp_path):
    result, definition = compiled(tmp_path, BRANCHES.format(pip="six"), merge_op=True)
    ops = ops_of(definition)
    merge = ops[-1]
    assert merge.WhichOneof("op") == "merge" and len(merge.merge.inputs) == 3
    by_digest = dict(zip((d for d in definition.metadata), ops))   # metadata keys are the digests
    diffs = [op for op in ops if op.WhichOneof("op") == "diff"]
    assert len(diffs) == 2
    # Every diff's lower is the merge's first layer: the common state (main after install.python).
    assert {d.inputs[d.diff.lower.input].digest for d in diffs} == {merge.inputs[0].digest}
    assert by_digest  # the metadata covers every vertex


@pytest.mark.parametrize("merge_op", [True, False])
def test_changing_one_branch_keeps_the_other_branch_vertex(tmp_path, merge_op):
    first, _ = compiled(tmp_path, BRANCHES.format(pip="six"), merge_op)
    second, _ = compiled(tmp_path, BRANCHES.format(pip="tomli"), merge_op)
    before, after = branch_digests(first), branch_digests(second)
    assert before["install.apt_packages jq"] == after["install.apt_packages jq"]
    assert before["install.python 3.11"] == after["install.python 3.11"]
    assert before["install.python_packages six"] != after["install.python_packages tomli"]
    assert first.digest != second.digest


def result_input_index(definition) -> int:
    """Which result of its vertex the definition's final op names."""
    parsed = pb.Definition()
    parsed.ParseFromString(definition if isinstance(definition, bytes) else definition.SerializeToString())
    final = pb.Op()
    final.ParseFromString(getattr(parsed, "def")[-1])
    return final.inputs[0].index


LOADER_ARGS = ["/dev/envtrack-delta/python/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "--library-path",
               "/dev/envtrack-delta/python/usr/lib/x86_64-linux-gnu", "/dev/envtrack-delta/python/usr/bin/python3",
               "-S", "-B", "/dev/envtrack-delta/tool/apply_delta.py"]


def delta_steps(ops) -> list:
    """The fallback's exec steps: each runs the replay tool, from its root or from below /dev."""
    return [op for op in ops if op.WhichOneof("op") == "exec" and any(a.endswith("/apply_delta.py")
                                                                       for a in op.exec.meta.args)]


def test_the_fallback_replays_the_second_branch_onto_the_first_without_merge_ops(tmp_path):
    result, definition = compiled(tmp_path, BRANCHES.format(pip="six"), merge_op=False)
    assert not {"merge", "diff"} & set(kinds(definition))
    ops = ops_of(definition)
    replay = ops[-1].exec
    # the first branch is the replay's root and its result; the base image's python3 runs the tool
    # from below /dev (the container's tmpfs: no mount point is made in the result)
    assert replay.meta.args[:7] == LOADER_ARGS and replay.network == pb.NONE and replay.meta.user == "root"
    assert replay.meta.args[7:] == ["--apply", "/", "/dev/envtrack-delta/1"]
    assert "PYTHONHOME=/dev/envtrack-delta/python/usr" in replay.meta.env and "PYTHONPATH=" in replay.meta.env
    mounts = {m.dest: m for m in replay.mounts}
    assert mounts["/"].output == 0 and result_input_index(definition) == 0
    # the rest are writable and committed (outputs nothing reads): keyed by their definition, never
    # checksummed by BuildKit, which hashes every input mount without an output
    assert {d: (m.readonly, m.output >= 1) for d, m in mounts.items() if d != "/"} == {
        "/dev/envtrack-delta/python": (False, True), "/dev/envtrack-delta/tool": (False, True),
        "/dev/envtrack-delta/1": (False, True)}
    labels = branch_digests(result)
    root = ops[-1].inputs[mounts["/"].input].digest
    digests = [i.digest for i in ops[-1].inputs]
    # the root = the apt branch, as built; the pip branch reaches the replay only through its delta.
    assert root == labels["install.apt_packages jq"] and labels["install.python_packages six"] not in digests
    by_digest = {"sha256:" + hashlib.sha256(op.SerializeToString(deterministic=True)).hexdigest(): op for op in ops}
    extract = by_digest[ops[-1].inputs[mounts["/dev/envtrack-delta/1"].input].digest]
    assert extract.exec.meta.args[2:] == ["--extract", "/envtrack-delta/delta", "/envtrack-delta/lower",
                                          "/envtrack-delta/upper"] and extract.exec.network == pb.NONE
    extract_mounts = {m.dest: m for m in extract.exec.mounts}
    # The branch and its common state are writable and committed as outputs nothing reads: keyed by
    # definition, never read by BuildKit's content checksum; the delta (from scratch) is the result.
    assert {d: (m.readonly, m.output) for d, m in extract_mounts.items()} == {
        "/": (False, -1), "/envtrack-delta/delta": (False, 0), "/envtrack-delta/lower": (False, 1),
        "/envtrack-delta/upper": (False, 2)}
    assert extract_mounts["/envtrack-delta/delta"].input == -1
    assert extract.inputs[extract_mounts["/envtrack-delta/upper"].input].digest == labels["install.python_packages six"]


def test_an_architecture_without_a_known_loader_replays_from_the_tool_image_as_root():
    from envtrack.llb import fallback

    common = State.image("envtrack/base:bookworm").run(["true"])
    first, second = common.run(["touch", "/a"]), common.run(["touch", "/b"])
    for arch, args in (("riscv64", ["python3", "/envtrack-delta/apply_delta.py", "--apply", "/envtrack-delta/out",
                                    "/envtrack-delta/1"]),
                       ("amd64", [*LOADER_ARGS, "--apply", "/", "/dev/envtrack-delta/1"])):
        merged = fallback.replay(first, [(common, second)], name="merge", position=None, arch=arch)
        assert ops_of(merged.marshal())[-1].exec.meta.args == args


def test_every_fallback_mount_point_and_the_tool_are_already_in_the_steps_root(tmp_path):
    # The extract steps' root is the image's shared read-only layer: a mount point runc had to make
    # there is removed when the step ends, which detaches that mount from every step running beside
    # it. The replay (whose root is its result) mounts all it runs below /dev, the container's tmpfs.
    _, definition = compiled(tmp_path, MIXED, merge_op=False)
    ops = ops_of(definition)
    by_digest = {"sha256:" + hashlib.sha256(op.SerializeToString(deterministic=True)).hexdigest(): op for op in ops}
    steps = delta_steps(ops)
    assert len(steps) == 3
    extracts = [step for step in steps if "--extract" in step.exec.meta.args]
    assert len(extracts) == 2
    for step in extracts:
        root = by_digest[step.inputs[step.exec.mounts[0].input].digest]
        made = {action.mkdir.path for action in root.file.actions if action.WhichOneof("action") == "mkdir"}
        files = {action.mkfile.path for action in root.file.actions if action.WhichOneof("action") == "mkfile"}
        assert {m.dest for m in step.exec.mounts[1:]} <= made and files == {"/envtrack-delta/apply_delta.py"}
    (replay,) = [step for step in steps if "--apply" in step.exec.meta.args]
    assert all(m.dest.startswith("/dev/envtrack-delta/") for m in replay.exec.mounts[1:])


def test_a_merged_state_has_both_branches_env(tmp_path):
    text = """\
        def build():
            base(image="envtrack/base:bookworm")
            py = branch()
            install.python(into=py)
            tools = branch()
            run(commands=["true"], into=tools)
            return merge([tools, py])
        """
    for merge_op in (True, False):
        result, _ = compiled(tmp_path, text, merge_op)
        env = dict(result.image_config.env)
        assert env["VIRTUAL_ENV"] == "/opt/envtrack/venv" and env["PATH"].startswith("/opt/envtrack/venv/bin:")


def test_a_scratch_image_is_only_its_files(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "x").write_text("x")
    text = 'def build():\n    s = scratch()\n    io.copy(host_path="app", envd_path="/app", into=s)\n    return s\n'
    _, definition = compiled(tmp_path, text, merge_op=False)
    assert kinds(definition) == ["file"]


def test_an_empty_image_state_is_a_located_error(tmp_path):
    with pytest.raises(LocatedError, match="empty: nothing to build"):
        compiled(tmp_path, "def build():\n    return scratch()\n", merge_op=True)


# --- the replay tool ---------------------------------------------------------------------------

def tree(root: Path, entries: dict[str, str | None]) -> None:
    for name, content in entries.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_text(content)


def test_replay_applies_additions_edits_deletions_and_type_changes(tmp_path):
    lower, upper, out = tmp_path / "lower", tmp_path / "upper", tmp_path / "out"
    common = {"etc/keep": "k", "etc/edit": "old", "etc/gone": "g", "var/dir/file": "f", "opt/was-file": "w"}
    tree(lower, common)
    for root in (upper, out):
        tree(root, common)
    os.utime(upper / "etc/keep", ns=(1, os.stat(lower / "etc/keep").st_mtime_ns))
    (upper / "etc/edit").write_text("new")
    os.utime(upper / "etc/edit", ns=(1, 5_000_000_000))
    (upper / "etc/gone").unlink()
    (upper / "var/dir/file").unlink()
    (upper / "var/dir").rmdir()
    (upper / "opt/was-file").unlink()
    (upper / "opt/was-file").mkdir()
    tree(upper, {"opt/was-file/inner": "i", "new/deep/file": "n"})
    os.link(upper / "new/deep/file", upper / "new/link")
    (out / "etc/keep").write_text("out's own edit")   # unchanged by upper: left as it is in OUT
    tree(out, {"only-in-out": "o"})
    apply_delta.main(["apply_delta", str(out), str(lower), str(upper)])
    assert (out / "etc/keep").read_text() == "out's own edit"
    assert (out / "etc/edit").read_text() == "new" and os.stat(out / "etc/edit").st_mtime_ns == 5_000_000_000
    assert not (out / "etc/gone").exists() and not (out / "var/dir").exists()
    assert (out / "opt/was-file/inner").read_text() == "i"
    assert (out / "new/deep/file").read_text() == "n"
    assert os.stat(out / "new/link").st_ino == os.stat(out / "new/deep/file").st_ino
    assert (out / "only-in-out").read_text() == "o"


def test_replay_skips_what_is_the_same_inode_unchanged_and_reads_no_directory_below_it(tmp_path, monkeypatch):
    # A branch's untouched directories are its common state's own inodes (same ctime) seen
    # through both mounts: nothing below them is read, whatever the image's size.
    lower = tmp_path / "lower"
    tree(lower, {"usr/lib/a": "a", "usr/lib/deep/b": "b", "etc/c": "c"})
    out = tmp_path / "out"
    tree(out, {"etc/c": "out's own c"})
    read = []
    scandir = os.scandir
    monkeypatch.setattr(apply_delta.os, "scandir", lambda path: read.append(path) or scandir(path))
    assert apply_delta.main(["apply_delta", str(out), str(lower), str(lower)]) == 0
    assert read == [str(lower), str(lower)]   # the two roots, and nothing below them
    assert (out / "etc/c").read_text() == "out's own c" and not (out / "usr").exists()


def test_the_replay_tool_parses_as_python_38():
    import ast

    source = Path(apply_delta.__file__).read_text()
    ast.parse(source, feature_version=(3, 8))


# --- envtrack plan -----------------------------------------------------------------------------

def test_plan_text_and_dot_show_branches_and_where_they_merge(tmp_path):
    from conftest import run_cli

    (tmp_path / "build.envd").write_text(BRANCHES.format(pip="six"))
    text = run_cli("plan", str(tmp_path), check=True).stdout.splitlines()
    assert text[0] == "main" and text[3].startswith("system = branch of main  (")
    assert text[5].startswith("py = branch of main") and text[6].strip().startswith("4. install.python_packages six")
    assert text[7].startswith("merge = merge of system, py") and text[7].endswith("<- the image")
    dot = run_cli("plan", str(tmp_path), "--format", "dot", check=True).stdout
    assert dot.startswith("digraph plan {") and dot.rstrip().endswith("}")
    edges = [line.strip() for line in dot.splitlines() if "->" in line]
    assert edges == ['"main" -> "system";', '"main" -> "py";', '"system" -> "merge";', '"py" -> "merge";']
    assert '"merge" [label="merge = merge of system, py", peripheries=2];' in dot
    document = run_cli("plan", str(tmp_path), "--format", "json", check=True).stdout
    assert '"result": "merge"' in document
    wrong = run_cli("plan", str(tmp_path), "--format", "svg")
    assert wrong.returncode == 2 and "--format must be text, json or dot" in wrong.stderr


# --- sync --------------------------------------------------------------------------------------

def test_sync_into_an_unknown_state_names_the_states(tmp_path):
    from envtrack.errors import EnvtrackError
    from envtrack.sync.rewrite import rewrite_source

    (tmp_path / "build.envd").write_text(BRANCHES.format(pip="six"))
    plan = load_plan(tmp_path)
    with pytest.raises(EnvtrackError, match=r"sync --into pyy: no state named 'pyy' \(states: main, system, py, merge\)"):
        rewrite_source((tmp_path / "build.envd").read_text(), plan, [], envd_file=tmp_path / "build.envd", into="pyy")


MIXED = """\
def build():
    base(image="envtrack/base:bookworm")
    run(commands=["echo main > /main"])
    system = branch()
    install.apt_packages(name=["jq"], into=system)
    py = branch()
    run(commands=["echo py > /py"], into=py)
    tool = image("envtrack/base:bookworm")
    built = branch(of=tool)
    run(commands=["echo built > /built"], into=built)
    return merge([system, py, diff(tool, built)])
"""


def test_a_diff_input_is_layered_as_changes_and_the_branches_onto_their_common_state(tmp_path):
    _, native = compiled(tmp_path, MIXED, merge_op=True)
    ops = ops_of(native)
    merge = ops[-1]
    assert len(merge.merge.inputs) == 4   # main, diff(main, system), diff(main, py), diff(tool, built)
    diffs = [op for op in ops if op.WhichOneof("op") == "diff"]
    main = merge.inputs[merge.merge.inputs[0].input].digest
    lowers = [d.inputs[d.diff.lower.input].digest for d in diffs]
    assert lowers.count(main) == 2 and len(set(lowers)) == 2   # the branches' lower is main, the diff's is tool
    _, fallback_definition = compiled(tmp_path, MIXED, merge_op=False)
    replays = delta_steps(ops_of(fallback_definition))
    # One step replays py's changes onto system, then built's changes relative to tool, each
    # extracted by a step of its own.
    applies = [op for op in replays if "--apply" in op.exec.meta.args]
    assert len(applies) == 1 and len(replays) == 3
    assert applies[0].exec.meta.args[7:] == ["--apply", "/", "/dev/envtrack-delta/1", "/dev/envtrack-delta/2"]


def test_one_replay_step_applies_each_delta_in_order(tmp_path):
    lower = tmp_path / "lower"
    tree(lower, {"etc/a": "a", "etc/b": "b"})
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "out"
    for root in (first, second, out):   # branches share LOWER's files, times included
        shutil.copytree(lower, root)
    (first / "etc/b").unlink()
    tree(first, {"opt/one": "1"})
    (second / "etc/a").write_text("second's a")
    os.utime(second / "etc/a", ns=(1, 7_000_000_000))
    assert apply_delta.main(["apply_delta", str(out), str(lower), str(first), str(lower), str(second)]) == 0
    assert not (out / "etc/b").exists() and (out / "opt/one").read_text() == "1"
    assert (out / "etc/a").read_text() == "second's a"
    assert apply_delta.main(["apply_delta", str(out), str(lower)]) == 2   # an unpaired LOWER


def test_an_extracted_delta_applies_as_the_direct_replay_does(tmp_path):
    # The fallback's two steps (extract each branch's changes, then apply them) give the
    # filesystem the one-step replay gives: deletions, edits, type changes, links, modes, owners.
    lower = tmp_path / "lower"
    tree(lower, {"etc/keep": "k", "etc/edit": "old", "etc/gone": "g", "var/dir/file": "f", "opt/was-file": "w",
                 "usr/lib/deep/x": "x"})
    upper, direct, replayed = tmp_path / "upper", tmp_path / "direct", tmp_path / "replayed"
    for root in (upper, direct, replayed):
        shutil.copytree(lower, root, symlinks=True)
    (upper / "etc/edit").write_text("new")
    os.utime(upper / "etc/edit", ns=(1, 5_000_000_000))
    (upper / "etc/gone").unlink()
    shutil.rmtree(upper / "var/dir")
    (upper / "opt/was-file").unlink()
    tree(upper, {"opt/was-file/inner": "i", "new/deep/file": "n", "usr/lib/deep/y": "y"})
    os.link(upper / "new/deep/file", upper / "new/link")
    os.symlink("deep/file", upper / "new/sym")
    os.chmod(upper / "new/deep", 0o700)
    os.utime(upper / "new/deep", ns=(1, 9_000_000_000))
    for root in (direct, replayed):
        tree(root, {"only-in-out": "o"})
        os.utime(root / "only-in-out", ns=(1, 3_000_000_000))
    assert apply_delta.main(["apply_delta", str(direct), str(lower), str(upper)]) == 0
    delta = tmp_path / "delta"
    delta.mkdir()
    assert apply_delta.main(["apply_delta", "--extract", str(delta), str(lower), str(upper)]) == 0
    # The delta holds what changed and the directories on the way to it, nothing else.
    held = sorted(str(p.relative_to(delta / "tree")) for p in (delta / "tree").rglob("*"))
    assert "etc/keep" not in held and "usr/lib/deep/x" not in held and "usr/lib/deep/y" in held
    assert apply_delta.main(["apply_delta", "--apply", str(replayed), str(delta)]) == 0

    def listing(root):
        found = {}
        for path in sorted(root.rglob("*")):
            info = os.lstat(path)
            content = os.readlink(path) if path.is_symlink() else path.read_text() if path.is_file() else None
            found[str(path.relative_to(root))] = (info.st_mode, info.st_uid, info.st_nlink, content,
                                                   info.st_mtime_ns if not path.is_dir() or path == root / "new/deep" else 0)
        return found

    assert listing(replayed) == listing(direct)
    assert os.stat(replayed / "new/link").st_ino == os.stat(replayed / "new/deep/file").st_ino
    assert not (replayed / "etc/gone").exists() and (replayed / "only-in-out").read_text() == "o"
    assert apply_delta.main(["apply_delta", "--extract", str(delta)]) == 2
