"""Progress of a solve: a live rich view on a terminal, plain lines for CI and pipes.

Both read the same `SolveProgress` model, fed by BuildKit's Status stream.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field

LOG_TAIL = 20   # kept per step, printed when it fails
LIVE_TAIL = 4   # shown under a running step in the live view


@dataclass
class VertexState:
    digest: str
    name: str
    number: int
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_TAIL))
    _partial: str = ""

    @property
    def duration(self) -> float:
        if self.started is None:
            return 0.0
        return (self.completed or time.time()) - self.started

    @property
    def state(self) -> str:
        if self.error:
            return "error"
        if self.cached:
            return "cached"
        if self.completed:
            return "done"
        return "running" if self.started else "waiting"

    def add_log(self, data: str) -> list[str]:
        text = self._partial + data
        *lines, self._partial = text.split("\n")
        lines = [line.rstrip("\r") for line in lines]
        self.log.extend(lines)
        return lines


class SolveProgress:
    """Vertices in the order BuildKit announced them, with their logs; thread-safe."""

    def __init__(self, renderer: "PlainRenderer | LiveRenderer"):
        self.vertices: dict[str, VertexState] = {}
        self.renderer = renderer
        self.lock = threading.Lock()

    def on_status(self, message) -> None:
        with self.lock:
            for vertex in message.vertexes:
                self._update_vertex(vertex)
            for log in message.logs:
                state = self.vertices.get(log.vertex)
                if state is not None:
                    lines = state.add_log(log.msg.decode("utf-8", errors="replace"))
                    self.renderer.log(state, lines)

    def _update_vertex(self, vertex) -> None:
        state = self.vertices.get(vertex.digest)
        if state is None:
            state = VertexState(vertex.digest, vertex.name, len(self.vertices) + 1)
            self.vertices[vertex.digest] = state
        before = state.state
        state.cached = state.cached or vertex.cached
        if vertex.HasField("started"):
            state.started = vertex.started.ToNanoseconds() / 1e9
        if vertex.HasField("completed"):
            state.completed = vertex.completed.ToNanoseconds() / 1e9
        state.error = vertex.error or state.error
        if state.state != before:
            self.renderer.changed(state)

    # Work outside BuildKit shown as rows of the same view (a pull through the Engine).
    def begin(self, name: str) -> VertexState:
        with self.lock:
            state = VertexState(f"envtrack:{name}", name, len(self.vertices) + 1, started=time.time())
            self.vertices[state.digest] = state
            self.renderer.changed(state)
            return state

    def note(self, state: VertexState, line: str) -> None:
        with self.lock:
            state.log.append(line)
            self.renderer.log(state, [line])

    def end(self, state: VertexState, error: str = "") -> None:
        with self.lock:
            state.completed, state.error = time.time(), error
            self.renderer.changed(state)

    def failed(self) -> VertexState | None:
        return next((v for v in self.vertices.values() if v.error), None)


class PlainRenderer:
    """`#N name` / `#N CACHED` / `#N 1.2 log line` / `#N DONE 3.4s`, like `docker build --progress plain`."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self._announced: set[int] = set()

    def changed(self, vertex: VertexState) -> None:
        status = {"running": "", "cached": "CACHED", "done": f"DONE {vertex.duration:.1f}s",
                  "error": f"ERROR {vertex.error}", "waiting": ""}[vertex.state]
        self._announce(vertex)
        if status:
            print(f"#{vertex.number} {status}", file=self.stream)
        self.stream.flush()

    def _announce(self, vertex: VertexState) -> None:
        if vertex.number not in self._announced:
            self._announced.add(vertex.number)
            print(f"#{vertex.number} {vertex.name}", file=self.stream)

    def log(self, vertex: VertexState, lines: list[str]) -> None:
        self._announce(vertex)
        for line in lines:
            print(f"#{vertex.number} {vertex.duration:.1f} {line}", file=self.stream)
        self.stream.flush()

    def start(self, progress: SolveProgress) -> None:
        pass

    def stop(self) -> None:
        pass


class LiveRenderer:
    """A rich Live table: one row per vertex with its state and time, and the log tail of running ones."""

    ICONS = {"waiting": "[dim]·[/]", "running": "[yellow]⠿[/]", "cached": "[cyan]cached[/]",
             "done": "[green]done[/]", "error": "[red]error[/]"}

    def __init__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.live = None
        self.progress: SolveProgress | None = None

    def start(self, progress: SolveProgress) -> None:
        from rich.live import Live

        if self.live is not None and self.progress is progress:
            return   # already showing it (pulls started the view before the solve)
        self.progress = progress
        self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def stop(self) -> None:
        if self.live:
            self.live.update(self._table())
            self.live.stop()
            self.live = None

    def changed(self, vertex: VertexState) -> None:
        if self.live:
            self.live.update(self._table())

    def log(self, vertex: VertexState, lines: list[str]) -> None:
        self.changed(vertex)

    def _table(self):
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        for vertex in list(self.progress.vertices.values()) if self.progress else []:
            table.add_row(self.ICONS[vertex.state], Text(vertex.name, overflow="ellipsis", no_wrap=True),
                          f"{vertex.duration:5.1f}s" if vertex.started else "")
            if vertex.state == "running":
                for line in list(vertex.log)[-LIVE_TAIL:]:
                    table.add_row("", Text("  " + line[:160], style="dim", no_wrap=True), "")
        return table


def renderer_for(mode: str):
    if mode == "auto":
        mode = "tty" if sys.stderr.isatty() else "plain"
    if mode == "tty":
        return LiveRenderer()
    if mode == "plain":
        return PlainRenderer()
    if mode == "quiet":
        return PlainRenderer(stream=open("/dev/null", "w"))
    from envtrack.errors import EnvtrackError

    raise EnvtrackError(f"--progress {mode}: use auto, tty, plain or quiet", exit_code=2)
