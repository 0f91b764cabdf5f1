"""Progress model, plain rendering and failure reports, fed with hand-made Status messages."""

from __future__ import annotations

import io

from google.protobuf.timestamp_pb2 import Timestamp

from envtrack.solve.service import step_failure
from envtrack.buildkit.progress import PlainRenderer, SolveProgress
from envtrack.errors import Position
from envtrack.frontend.steps import Step
from envtrack.pb import control_pb2

RUN = Step("run", {"commands": ["echo hi", "exit 3"], "mount_host": False}, Position("build.envd", 7, 5))


def stamp(seconds: float) -> Timestamp:
    timestamp = Timestamp()
    timestamp.FromNanoseconds(int(seconds * 1e9))
    return timestamp


def vertex(digest: str, name: str, **fields) -> control_pb2.StatusResponse:
    return control_pb2.StatusResponse(vertexes=[control_pb2.Vertex(digest=digest, name=name, **fields)])


def log(digest: str, data: bytes) -> control_pb2.StatusResponse:
    return control_pb2.StatusResponse(logs=[control_pb2.VertexLog(vertex=digest, msg=data, stream=1)])


def feed(*messages) -> tuple[SolveProgress, str]:
    out = io.StringIO()
    progress = SolveProgress(PlainRenderer(out))
    for message in messages:
        progress.on_status(message)
    return progress, out.getvalue()


def test_states_follow_the_vertex_updates():
    progress, _ = feed(
        vertex("a", "base", cached=True, started=stamp(1), completed=stamp(1)),
        vertex("b", "run", started=stamp(1)),
        vertex("c", "run later"),
    )
    assert [v.state for v in progress.vertices.values()] == ["cached", "running", "waiting"]
    progress.on_status(vertex("b", "run", started=stamp(1), completed=stamp(3.5)))
    assert progress.vertices["b"].state == "done" and progress.vertices["b"].duration == 2.5
    progress.on_status(vertex("c", "run later", started=stamp(4), completed=stamp(5), error="exit code: 1"))
    assert progress.failed().digest == "c"


def test_plain_output_names_each_vertex_once_cached_ones_included():
    _, text = feed(
        vertex("a", "[build.envd:2] base img", cached=True, started=stamp(1), completed=stamp(1)),
        vertex("b", "[build.envd:3] run x", started=stamp(1)),
        log("b", b"hello\nwor"),
        log("b", b"ld\n"),
        vertex("b", "[build.envd:3] run x", started=stamp(1), completed=stamp(2)),
    )
    lines = text.splitlines()
    assert lines[:2] == ["#1 [build.envd:2] base img", "#1 CACHED"]
    assert lines[2] == "#2 [build.envd:3] run x"
    assert [line.split(" ", 2)[2] for line in lines[3:5]] == ["hello", "world"]  # partial lines joined
    assert lines[5] == "#2 DONE 1.0s"
    assert sum(line == "#2 [build.envd:3] run x" for line in lines) == 1


def test_log_tail_keeps_the_last_twenty_lines():
    data = "".join(f"line {n}\n" for n in range(50)).encode()
    progress, _ = feed(vertex("a", "run", started=stamp(1)), log("a", data))
    assert list(progress.vertices["a"].log) == [f"line {n}" for n in range(30, 50)]


def test_failure_names_the_envd_line_command_exit_code_and_log_tail():
    progress, _ = feed(vertex("d", "run", started=stamp(1)), log("d", b"about to fail\n"),
                       vertex("d", "run", started=stamp(1), completed=stamp(2), error="failed"))
    details = ('executor failed running [/bin/sh -c set -e\necho hi\nexit 3]: exit code: 3')
    message = str(step_failure(details, progress, {"d": RUN}))
    assert "build.envd:7:5: run echo hi; exit 3" in message
    assert "exit code: 3" in message and "about to fail" in message
    newer = 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'
    assert "command: /bin/sh -c exit 3" in str(step_failure(newer, progress, {"d": RUN}))


def test_failure_without_exit_code_keeps_buildkit_message():
    progress, _ = feed()
    error = step_failure("failed to resolve source metadata", progress, {})
    assert "error: failed to resolve source metadata" in str(error) and error.exit_code == 1


def test_live_view_shows_the_log_tail_of_running_steps_only():
    from rich.console import Console

    from envtrack.buildkit.progress import LIVE_TAIL, LiveRenderer

    renderer = LiveRenderer()
    renderer.console = Console(file=io.StringIO(), force_terminal=True, width=100)
    progress = SolveProgress(renderer)
    renderer.start(progress)
    progress.on_status(vertex("a", "base", cached=True, started=stamp(1), completed=stamp(1)))
    progress.on_status(vertex("b", "run", started=stamp(1)))
    progress.on_status(log("a", b"old\n"))
    progress.on_status(log("b", b"".join(b"line %d\n" % n for n in range(9))))
    rows = renderer._table().row_count
    renderer.stop()
    assert rows == 2 + LIVE_TAIL


def test_a_frontend_solve_shows_only_the_steps_and_the_exporter():
    from envtrack.solve.service import _only_vertices

    seen: list[control_pb2.StatusResponse] = []
    forward = _only_vertices({"sha256:step"}, seen.append)
    mixed = control_pb2.StatusResponse(
        vertexes=[control_pb2.Vertex(digest="sha256:step", name="[build.envd:3] run echo hi"),
                  control_pb2.Vertex(digest="sha256:df", name="[internal] load build definition from Dockerfile"),
                  control_pb2.Vertex(digest="sha256:export", name="exporting to image")],
        statuses=[control_pb2.VertexStatus(vertex="sha256:export", ID="exporting layers"),
                  control_pb2.VertexStatus(vertex="sha256:df", ID="transferring dockerfile")],
        logs=[control_pb2.VertexLog(vertex="sha256:df", msg=b"frontend"),
              control_pb2.VertexLog(vertex="sha256:step", msg=b"hi\n")])
    forward(mixed)
    forward(vertex("sha256:workdir", "[1/2] WORKDIR /workspace"))   # nothing of ours: not passed on
    forward(log("sha256:export", b"naming"))                         # the exporter, known from before
    assert [[v.name for v in m.vertexes] for m in seen] == [["[build.envd:3] run echo hi", "exporting to image"], []]
    assert [s.ID for s in seen[0].statuses] == ["exporting layers"]
    assert [entry.msg for m in seen for entry in m.logs] == [b"hi\n", b"naming"]
