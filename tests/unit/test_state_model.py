"""The immutable State and its deterministic marshalling."""

from __future__ import annotations

import hashlib

import pytest

from envtrack.errors import Position
from envtrack.pb import ops_pb2 as pb
from envtrack.state import (
    CacheSharing,
    Copy,
    Mkdir,
    Mkfile,
    Mount,
    ProxyEnv,
    Rm,
    State,
    marshal_graph,
    normalize_image_ref,
)

IMAGE = "envtrack/base:bookworm"


def ops_of(definition: pb.Definition) -> list[pb.Op]:
    ops = []
    for data in getattr(definition, "def"):
        op = pb.Op()
        op.ParseFromString(data)
        ops.append(op)
    return ops


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("debian:bookworm", "docker.io/library/debian:bookworm"),
        ("debian", "docker.io/library/debian:latest"),
        ("envtrack/base:bookworm", "docker.io/envtrack/base:bookworm"),
        ("localhost:5000/debian:bookworm", "localhost:5000/debian:bookworm"),
        ("ghcr.io/org/img", "ghcr.io/org/img:latest"),
        ("docker.io/library/python:3.11", "docker.io/library/python:3.11"),
        ("debian@sha256:abc", "docker.io/library/debian@sha256:abc"),
    ],
)
def test_image_refs_are_normalised(ref, expected):
    assert normalize_image_ref(ref) == expected


def test_operations_return_new_states_and_leave_parents_alone():
    base = State.image(IMAGE)
    with_env = base.add_env("A", "1")
    ran = with_env.run(shell="true")
    assert base.get_env("A") is None
    assert with_env.get_env("A") == "1"
    assert ran.parent is with_env and with_env.parent is base
    assert ran.output is not base.output
    assert with_env.output is base.output  # env changes add no vertex


def test_add_env_replaces_in_place_and_dir_resolves_relative_paths():
    st = State.image(IMAGE).add_env("A", "1").add_env("B", "2").add_env("A", "3")
    assert [k for k, _ in st.env] == ["PATH", "A", "B"]
    assert st.get_env("A") == "3"
    assert st.dir("/work").dir("sub").cwd == "/work/sub"


def test_definition_is_dependency_ordered_and_digests_are_of_the_exact_bytes():
    st = State.image(IMAGE).run(shell="echo one").run(args=["/bin/true"])
    marshalled = marshal_graph(st)
    data = list(getattr(marshalled.definition, "def"))
    assert len(data) == 4  # image, two execs, the bare result op
    digests = ["sha256:" + hashlib.sha256(d).hexdigest() for d in data]
    ops = ops_of(marshalled.definition)
    assert ops[0].WhichOneof("op") == "source"
    assert ops[1].inputs[0].digest == digests[0]
    assert ops[2].inputs[0].digest == digests[1]
    assert ops[3].WhichOneof("op") is None and ops[3].inputs[0].digest == digests[2]
    assert marshalled.digest == digests[2]
    assert set(marshalled.definition.metadata) == set(digests[:3])


def test_marshal_is_deterministic_across_fresh_graphs():
    def build():
        ca = State.scratch().file(Mkfile("/ca.pem", b"pem"))
        return (
            State.image(IMAGE)
            .add_env("Z", "1")
            .run(shell="apt-get install jq",
                 mounts=[Mount.cache("/var/cache/apt", "apt", CacheSharing.LOCKED),
                         Mount.bind("/run/ca.pem", ca.output, selector="/ca.pem")],
                 proxy_env=ProxyEnv(https_proxy="http://proxy:3128"))
            .file(Mkdir("/etc/x"), Mkfile("/etc/x/y", b"data"), Rm("/etc/x/z"))
        )

    first = build().marshal().SerializeToString(deterministic=True)
    second = build().marshal().SerializeToString(deterministic=True)
    assert first == second


def test_names_and_positions_stay_out_of_digests():
    plain = marshal_graph(State.image(IMAGE).run(shell="true"))
    named = marshal_graph(State.image(IMAGE, position=Position("build.envd", 3, 5))
                          .run(shell="true", name="run true", position=Position("build.envd", 9, 5)))
    assert plain.digest == named.digest
    assert named.definition.metadata[named.digest].description["llb.customname"] == "[build.envd:9] run true"


def test_proxy_settings_do_not_change_the_exec_digest_only_its_bytes_meta():
    without = marshal_graph(State.image(IMAGE).run(shell="true"))
    proxied = marshal_graph(State.image(IMAGE).run(shell="true", proxy_env=ProxyEnv(https_proxy="http://p:1")))
    # BuildKit drops proxy_env from the cache key, but it is part of the Op bytes we send.
    exec_op = ops_of(proxied.definition)[1].exec
    assert exec_op.meta.proxy_env.https_proxy == "http://p:1"
    assert without.digest != proxied.digest


def test_exec_mounts_reference_inputs_and_never_output_anything_but_root():
    ca = State.scratch().file(Mkfile("/ca.pem", b"pem", mode=0o444))
    st = State.image(IMAGE).run(
        shell="true",
        mounts=[Mount.cache("/root/.cache/pip", "pip"), Mount.bind("/run/ca.pem", ca.output, selector="/ca.pem", readonly=True)],
    )
    ops = ops_of(st.marshal())
    exec_op = ops[-2]
    root, *extra = exec_op.exec.mounts
    assert (root.input, root.dest, root.output) == (0, "/", 0)
    by_dest = {m.dest: m for m in extra}
    assert by_dest["/root/.cache/pip"].mountType == pb.CACHE
    assert by_dest["/root/.cache/pip"].input == -1 and by_dest["/root/.cache/pip"].output == -1
    bind = by_dest["/run/ca.pem"]
    assert bind.readonly and bind.output == -1 and bind.selector == "/ca.pem"
    assert exec_op.inputs[bind.input].digest != exec_op.inputs[0].digest


def test_file_actions_chain_through_their_outputs_and_copy_names_a_second_input():
    other = State.image("debian:bookworm")
    st = State.image(IMAGE).file(Mkdir("/a"), Copy(other.output, "/etc/hostname", "/a/"), Rm("/a/tmp"))
    file_op = ops_of(st.marshal())[-2]
    actions = file_op.file.actions
    assert len(file_op.inputs) == 2
    assert [a.input for a in actions] == [0, 2, 3]
    assert [a.output for a in actions] == [-1, -1, 0]
    assert actions[1].secondaryInput == 1 and actions[1].copy.src == "/etc/hostname"
    assert actions[0].mkdir.timestamp == -1


def test_changing_one_step_changes_its_digest_and_later_ones_only():
    def chain(second: str):
        st = State.image(IMAGE).run(shell="one").run(shell=second).run(shell="three")
        return [d for _, d in marshal_graph(st).digests]

    a, b = chain("two"), chain("TWO")
    assert a[0] == b[0] and a[1] == b[1]
    assert a[2] != b[2] and a[3] != b[3]


def test_source_map_points_each_vertex_at_its_line():
    text = "def build():\n    base(image='x')\n    run(commands=['true'])\n"
    st = (State.image(IMAGE, position=Position("build.envd", 2, 5))
          .run(shell="true", position=Position("build.envd", 3, 5)))
    marshalled = marshal_graph(st, {"build.envd": text})
    source = marshalled.definition.Source
    assert [i.filename for i in source.infos] == ["build.envd"]
    assert source.infos[0].data == text.encode()
    where = source.locations[marshalled.digest].locations[0]
    assert where.sourceIndex == 0 and where.ranges[0].start.line == 3


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        State.scratch().marshal()
    with pytest.raises(ValueError):
        State.image(IMAGE).run()
    with pytest.raises(ValueError):
        Mount(dest="/x", cache_id="c", tmpfs=True)
    with pytest.raises(ValueError):
        State.image("bad ref")


def test_long_chains_marshal_without_recursion_limits():
    st = State.image(IMAGE)
    for i in range(3000):
        st = st.run(shell=f"echo {i}")
    marshalled = marshal_graph(st)
    assert len(getattr(marshalled.definition, "def")) == 3002
    assert marshalled.digest_of(st.output.vertex) == marshalled.digest


def test_committed_mounts_are_extra_outputs_numbered_after_the_result():
    """BuildKit checksums every input mount without an output before its cache lookup; a
    committed mount has one, so it is keyed by definition."""
    import pytest as _pytest

    from envtrack.state import Mount, State

    base = State.image("docker.io/library/debian:bookworm")
    other = base.run(["true"], name="other")
    ran = base.run(["true"], mounts=(Mount(dest="/out", readonly=False, output=True),
                                     Mount(dest="/b", source=other.output, committed=True),
                                     Mount(dest="/a", source=other.output, committed=True),
                                     Mount.bind("/ro", other.output)), name="step")
    op = ran.marshal()
    from envtrack.pb import ops_pb2 as pb

    last = pb.Op()
    last.ParseFromString(getattr(op, "def")[-2])
    assert {m.dest: (m.readonly, m.output) for m in last.exec.mounts} == {
        "/": (False, -1), "/a": (False, 0), "/b": (False, 1), "/out": (False, 2), "/ro": (True, -1)}
    # BuildKit numbers an exec's results by the order of its mounts that have one: the step's is 2
    assert ran.output.index == 2
    final = pb.Op()
    final.ParseFromString(getattr(op, "def")[-1])
    assert final.inputs[0].index == 2
    root_result = base.run(["true"], mounts=(Mount(dest="/a", source=other.output, committed=True),))
    assert root_result.output.index == 0 and root_result.output.vertex.output_mounts()[0] is None
    with _pytest.raises(ValueError, match="committed"):
        Mount(dest="/x", source=other.output, readonly=True, committed=True)
    with _pytest.raises(ValueError, match="committed"):
        Mount(dest="/x", readonly=False, output=True, committed=True)
