"""`build_project`: build.envd -> steps -> LLB -> BuildKit -> a tagged image in the Engine.

The image is tagged `envtrack/<project>:<short digest>` and `:latest`. The short digest
covers the LLB's final vertex and the image config, so an unchanged project finds its
image by tag without a solve; with a valid build stamp (envtrack/solve/stamp.py) it
is found without even evaluating build.envd.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from envtrack import __version__
from envtrack.endpoints import EngineEndpoint
from envtrack.engine import api
from envtrack.solve import stamp, unpinned
from envtrack.errors import EnvtrackError
from envtrack.llb.image_config import ImageConfig, images_label
from envtrack.llb.options import BuildOptions, default_build_options
from envtrack.project import Project

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:   # a cached build answers from its stamp without loading the frontend's steps
    from envtrack.frontend.steps import Plan, Step

DEFAULT_CMD = ("/bin/bash",)
OWN_MESSAGE = "envtrack: "   # how envtrack's build scripts start the line that explains a failure


@dataclass(frozen=True)
class StepReport:
    label: str
    file: str
    line: int
    state: str        # cached | done | error | skipped
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    image: str                  # envtrack/<project>:<short digest>
    image_id: str
    cached: bool                # every vertex was cached (or the image already existed)
    image_config: ImageConfig
    steps: tuple[StepReport, ...] = ()
    seconds: float = 0.0
    images: dict = field(default_factory=dict)   # every image read: ref -> {"digest": repo@sha256 or "", "id"}

    def summary(self) -> str:
        return f"{self.image} ({'cached' if self.cached else 'built'} in {self.seconds:.1f} s)"

    def to_json(self) -> dict:
        return {"image": self.image, "image_id": self.image_id, "cached": self.cached,
                "seconds": round(self.seconds, 3), "image_config": self.image_config.to_json(),
                "steps": [s.__dict__ for s in self.steps], "images": self.images}


def build_project(project: Project, *, progress: str = "auto",
                  plan: Plan | None = None, bake_ca: bool = False, pull: bool = False,
                  pins: dict[str, str] | None = None, cache: SharedCache | None = None,
                  reads: dict[str, bytes] | None = None) -> BuildResult:
    """Build PROJECT on its Engine and builder (`project.endpoints`). PULL refreshes every image it
    names from its registry first (`docker build --pull`); PINS builds those image references from
    the given `repo@digest` instead. READS (absolute path -> bytes) keeps the envd files read, for a
    command that goes on (`up`)."""
    options = replace(default_build_options(bake_ca=bake_ca), image_pins=tuple(sorted((pins or {}).items())))
    cache = cache or SharedCache()
    started = time.monotonic()
    known: dict[str, str] = {}   # what Open VSX and GitHub answered this build (asked once)
    if plan is None:
        stamped, plan, envd_digest = plan_build(project, options, progress=progress, use_stamp=not (pull or cache.to),
                                                known=known, reads=reads)
        if stamped is not None:
            return stamped
    else:   # evaluated by the caller (`up --locked`): its fingerprint came with it
        envd_digest = plan.digests.get(str(project.envd_file)) or stamp.file_digest(project.envd_file)
    from envtrack.llb.compile import compile_plan
    from envtrack.llb.envd import image_uses
    from envtrack.solve.newest import resolve_newest

    inputs = stamp.host_inputs(options)
    # toolchains for the Engine's machine
    options = replace(options, arch=api.engine_arch(project.engine) or options.arch)
    plan, asked = resolve_newest(plan, options.mirrors, options.arch, known)   # what build.envd leaves to Open VSX, GitHub
    if plan.states:   # merges and diffs lower to what this BuildKit can run
        from envtrack.solve.caps import supports_merge_op

        options = replace(options, merge_op=supports_merge_op(project.endpoints))
    compiled = compile_plan(plan, options)
    view = LazyProgress(progress)
    found = pull_images(project.engine, image_uses(plan), dict(options.image_pins), refresh=pull, view=view)
    base = found.get(compiled.base_image)
    images = {ref: image_record(ref, doc, dict(options.image_pins)) for ref, doc in found.items()}
    config = final_config(project, compiled.image_config, base, envd_digest, images)
    validated = unpinned.validate(unpinned.unpinned(compiled.downloads), known)   # URLs whose bytes may change
    tag = short_digest(compiled.digest, config, validated)
    image = f"{project.image_repo}:{tag}"

    existing = None if unpinned.solves_every_build(validated) else api.inspect_image(project.engine, image)
    if existing is not None and not cache.to:   # exporting the cache needs the solve
        view.stop()
        api.tag_image(project.engine, image, project.image_repo, "latest")
        reports = tuple(_report(step, "cached", 0.0) for step in compiled.steps_by_vertex.values())
        _announce_cached(progress, reports)
        result = BuildResult(image, existing["Id"], True, config, reports, time.monotonic() - started, images)
        _record_stamp(project, plan, envd_digest, inputs, (compiled.base_image, base), result, asked, validated)
        return result

    watcher = view.get()
    image_id = _solve_and_export(compiled, config, image, project, watcher, cache)
    reports = tuple(_report(step, watcher.vertices[d].state if d in watcher.vertices else "cached",
                            watcher.vertices[d].duration if d in watcher.vertices else 0.0)
                    for d, step in compiled.steps_by_vertex.items())
    cached = all(r.state == "cached" for r in reports)
    result = BuildResult(image, image_id, cached, config, reports, time.monotonic() - started, images)
    _record_stamp(project, plan, envd_digest, inputs, (compiled.base_image, base), result, asked, validated)
    return result


def plan_build(project: Project, options: BuildOptions, *, progress: str = "auto", use_stamp: bool = True,
               known: dict[str, str] | None = None,
               reads: dict[str, bytes] | None = None) -> tuple[BuildResult | None, Plan | None, str]:
    """(the stamped image or None, else the Plan; build.envd's fingerprint). Each envd file is read
    once: the bytes the stamp is checked against, fingerprinted before evaluating (so a later
    edit cannot match), are the bytes evaluated. READS: what the command has read already, and keeps."""
    reads = {} if reads is None else reads   # absolute path -> bytes, what this command has read
    envd_digest = stamp.file_digest(project.envd_file, reads)
    if use_stamp and (stamped := cached_build(project, options, progress=progress, reads=reads,
                                                known=known)) is not None:
        return stamped, None, envd_digest
    from envtrack.frontend import load_plan

    plan = load_plan(project.envd_file, given=stamp.envd_reads(reads, project.envd_file))
    for name, text in plan.sources.items():   # what the child read, kept too (strict UTF-8: the same bytes)
        reads.setdefault(os.path.abspath(name), text.encode("utf-8"))
    return None, plan, envd_digest


class LazyProgress:
    """The build's progress view, made (rich imported, a live table started) only when a pull or
    a solve has something to show."""

    def __init__(self, mode: str):
        self.mode = mode
        self.watcher = None

    def get(self):
        if self.watcher is None:
            from envtrack.buildkit.progress import SolveProgress, renderer_for

            self.watcher = SolveProgress(renderer_for(self.mode))
        return self.watcher

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.renderer.stop()


def pull_images(endpoint: EngineEndpoint, uses: tuple[tuple[str, str], ...], pins: dict[str, str], *,
                refresh: bool, view: LazyProgress) -> dict[str, dict]:
    """Each image the build reads (ref -> its inspect), pulled through the Engine when missing, or
    when REFRESH (`--pull`) asks and the Engine's copy came from a registry (one made here, like
    envtrack/base:SUITE, has nowhere to be pulled from); a pinned ref is pulled by its digest.
    Each pull is a row of the build view, its layers' progress that row's log."""
    from envtrack.engine import registry

    found: dict[str, dict] = {}
    for ref, where in uses:
        wanted = pins.get(ref, ref)
        local = api.inspect_image(endpoint, wanted)
        if local is not None and not (refresh and wanted == ref and local.get("RepoDigests")):
            found[ref] = local
            continue
        watcher = view.get()
        watcher.renderer.start(watcher)
        row = watcher.begin(f"pull {wanted}")
        try:
            found[ref] = registry.pull(endpoint, wanted, lambda line, row=row: watcher.note(row, line),
                                       where=where)
        except EnvtrackError:
            watcher.end(row, "pull failed")
            view.stop()
            raise
        watcher.end(row)
    return found


def image_record(ref: str, found: dict, pins: dict[str, str]) -> dict:
    """What a build records of an image it read: the registry digest (`repo@sha256:...`; "" for an
    image no registry gave) and the Engine's image id."""
    from envtrack.engine.registry import repo_digest

    return {"digest": pins.get(ref) or repo_digest(found, ref), "id": found.get("Id", "")}


def cached_build(project: Project, options: BuildOptions, *, progress: str = "auto",
                 reads: dict[str, bytes] | None = None, known: dict[str, str] | None = None) -> BuildResult | None:
    """The stamped image when nothing it was built from changed, it is still in the Engine and
    Open VSX and GitHub answer the build's questions as they did (asked again, as envd asks at
    every build; their answers go to KNOWN), else None (READS: stamp.file_digest's, the bytes
    checked, for the evaluation that follows)."""
    started = time.monotonic()
    recorded = stamp.read_stamp(project.state_dir)
    image_id = lambda ref: _image_id(project.engine, ref)  # noqa: E731
    if recorded is None or not stamp.still_valid(recorded, _owner(project), options, image_id, reads):
        return None
    result = recorded["result"]
    image = api.inspect_image(project.engine, result["image"])
    if image is None or image.get("Id") != result["image_id"]:
        return None
    if recorded["asks"]:   # a project without such questions pays nothing here
        from envtrack.solve.newest import still_answered

        same, answers = still_answered(recorded["asks"], options.mirrors)
        if not same:
            if known is not None:
                known.update(answers)
            return None
    if recorded["downloads"] and not unpinned.still_validated(recorded["downloads"], known if known is not None else {}):
        return None   # a URL's bytes changed (or its server no longer says): BuildKit fetches them again
    if f"{project.image_repo}:latest" not in (image.get("RepoTags") or ()):   # a round trip saved when it is
        api.tag_image(project.engine, result["image"], project.image_repo, "latest")
    reports = tuple(StepReport(**dict(step, state="cached", seconds=0.0)) for step in result["steps"])
    _announce_cached(progress, reports)
    return BuildResult(result["image"], result["image_id"], True, _config_from_json(result["image_config"]),
                       reports, time.monotonic() - started, result.get("images") or {})


def _config_from_json(data: dict) -> ImageConfig:
    return ImageConfig(env=tuple(data["env"].items()), cmd=tuple(data["cmd"]),
                       entrypoint=tuple(data.get("entrypoint", ())), exposed_ports=tuple(data["exposed_ports"]), working_dir=data["working_dir"],
                       labels=tuple(sorted(data["labels"].items())))


def _image_id(endpoint: EngineEndpoint, reference: str) -> str | None:
    found = api.inspect_image(endpoint, reference)
    return found["Id"] if found else None


def _record_stamp(project: Project, plan: Plan, envd_digest: str, inputs: dict,
                  base: tuple[str, dict | None], result: BuildResult, asked: list[dict],
                  validated: list[dict]) -> None:
    from envtrack.llb.host import tracked_paths

    if unpinned.solves_every_build(validated):
        return  # only BuildKit's fetch can tell whether such a URL changed

    host_files: list[Path] = []
    for step in plan.steps:
        paths = tracked_paths(step, Path(plan.file).parent)
        if paths is None:
            return  # reads what the stamp cannot fingerprint: every build evaluates
        host_files += paths
    # The envd files by the digests of the bytes evaluated (build.envd's taken before evaluating),
    # the host files by what they hold now.
    sources = {**plan.digests, str(project.envd_file): envd_digest}
    sources.update({str(path): stamp.file_digest(path) for path in (p.resolve() for p in host_files)
                    if str(path) not in sources})
    image, found = base
    base_ref = (image, found["Id"]) if found else None
    stamp.write_stamp(project.state_dir, project=_owner(project), sources=sources, inputs=inputs, base=base_ref,
                      result=result.to_json(), asks=asked, downloads=validated)


def _owner(project: Project) -> dict:
    return stamp.owner(project.envd_file, project.name)


def final_config(project: Project, config: ImageConfig, base: dict | None, envd_digest: str,
                 images: dict | None = None) -> ImageConfig:
    """The plan's config over the base image's own (env merged, base CMD kept), plus envtrack labels
    (the digests of the registry images read among them, so the image says what it was built from).
    ENVD_DIGEST is the build's one fingerprint of build.envd, the stamp's too."""
    base_config = (base or {}).get("Config") or {}
    env = dict(item.split("=", 1) for item in base_config.get("Env") or [] if "=" in item)
    env.update(config.env_dict())
    cmd = config.cmd or tuple(base_config.get("Cmd") or DEFAULT_CMD)
    labels = {"envtrack.envd.sha256": envd_digest,
              "envtrack.version": __version__, "envtrack.project": project.name}
    labels.update(images_label({ref: record["digest"] for ref, record in (images or {}).items() if record["digest"]}))
    return replace(config, env=tuple(env.items()), cmd=cmd).with_labels(**labels)


def short_digest(vertex_digest: str, config: ImageConfig, validated: list[dict] = ()) -> str:
    """The image tag: the steps, the config and what each unpinned URL's server said of its bytes
    (so a changed download is a new tag, never the old image found by its tag)."""
    payload = vertex_digest + json.dumps(config.to_json(), sort_keys=True)
    if validated:   # absent, the tags of projects without such URLs stay as they were
        payload += json.dumps(validated, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SharedCache:
    """`build --cache-to/--cache-from REF` (envd's --export-cache/--import-cache): BuildKit's
    registry cache, exported with mode=max (every step) and imported before solving."""

    to: str = ""
    source: str = ""


STEPS_CONTEXT = "envtrack-steps"   # the config Dockerfile's name for the compiled steps, a frontend input


def _solve_and_export(compiled, config: ImageConfig, image: str, project: Project, watcher,
                      cache: SharedCache = SharedCache()) -> str:
    """Solve the steps and export IMAGE with CONFIG. Without a frontend, BuildKit exports a bare
    config, and the Engine's exporter ignores the `containerimage.config` attribute (20.10 and 26
    alike), so the config comes from BuildKit's Dockerfile frontend run on config-only
    instructions (no container: a commit took 0.1-1 s). A BuildKit that answers Info (v0.11+)
    reads the steps as the Dockerfile's named context: one solve. v0.8 (Engine 20.10) cannot, so
    the steps are exported as a raw image first and the Dockerfile starts FROM it: a second solve
    and the raw image's removal (~0.4 s)."""
    from envtrack.buildkit.client import SolveFailure, connect

    raw = f"{project.image_repo}:raw-{image.rsplit(':', 1)[1]}"
    dockerfiles = {True: config.to_dockerfile(STEPS_CONTEXT), False: config.to_dockerfile(raw)}   # bad values fail first
    watcher.renderer.start(watcher)
    try:
        with connect(project.endpoints) as buildkit:
            if buildkit.version() is not None:
                _solve_sharing_cache(_solve_with_config(buildkit, compiled.definition, dockerfiles[True], image,
                                                        watcher), cache)
            else:
                _solve_sharing_cache(_solve_steps(buildkit, compiled.definition, raw, watcher), cache)
                _apply_config(project.engine, buildkit, dockerfiles[False], raw, image)
    except SolveFailure as failure:
        watcher.renderer.stop()
        if 'exporter "moby" could not be found' in failure.details:
            builder = project.endpoints.builder.address or "in use"
            raise EnvtrackError(f"the builder {builder} cannot export into the Docker Engine's image store "
                                "(it has no `moby` exporter)",
                                hint="use the Engine's own BuildKit (no --builder), served where it runs") from None
        raise step_failure(failure.details, watcher, compiled.steps_by_vertex, compiled.downloads_by_vertex) from None
    finally:
        watcher.renderer.stop()
    api.tag_image(project.engine, image, project.image_repo, "latest")
    image_id = _image_id(project.engine, image)
    if image_id is None:
        raise EnvtrackError(f"BuildKit exported {image}, but the Engine has no such image")
    return image_id


def _solve_with_config(buildkit, definition: bytes, dockerfile: str, image: str, watcher):
    """One solve: the Dockerfile frontend on DOCKERFILE, whose FROM names the steps' DEFINITION
    as a frontend input; exported as IMAGE. What the frontend adds (reading the Dockerfile, the
    config's WORKDIR) stays out of the progress view, as a second solve's did."""
    from envtrack.pb import ops_pb2

    steps = ops_pb2.Definition.FromString(definition)
    dockerfile_input = _dockerfile_input(dockerfile)
    inputs = {"dockerfile": dockerfile_input, "context": dockerfile_input, "steps": steps}
    attrs = {f"context:{STEPS_CONTEXT}": "input:steps"}
    ours = {"sha256:" + hashlib.sha256(op).hexdigest() for op in getattr(steps, "def")}
    on_status = _only_vertices(ours, watcher.on_status)

    def solve(to: str, source: str) -> None:
        # A frontend's solves import only the caches its options name (as buildctl passes them);
        # the export is the Control API's, after the frontend has answered.
        imports = {"cache-imports": json.dumps([{"Type": "registry", "Attrs": {"ref": source}}])} if source else {}
        buildkit.solve(None, frontend="dockerfile.v0", frontend_inputs=inputs, frontend_attrs={**attrs, **imports},
                       exporter="moby", exporter_attrs={"name": image}, on_status=on_status, cache_to=to,
                       cache_from=source)
    return solve


def _solve_steps(buildkit, definition: bytes, raw: str, watcher):
    return lambda to, source: buildkit.solve(definition, exporter="moby", exporter_attrs={"name": raw},
                                             on_status=watcher.on_status, cache_to=to, cache_from=source)


EXPORTING = "exporting "   # BuildKit's exporter vertex ("exporting to image"), which has no digest of ours


def _only_vertices(ours: set[str], on_status):
    """ON_STATUS for the Status messages of the vertices OURS names and the exporter's."""
    shown = set(ours)

    def forward(message) -> None:
        shown.update(v.digest for v in message.vertexes if v.name.startswith(EXPORTING))
        for items, key in ((message.vertexes, "digest"), (message.statuses, "vertex"), (message.logs, "vertex")):
            kept = [item for item in items if getattr(item, key) in shown]
            if len(kept) != len(items):
                del items[:]
                items.extend(kept)
        if message.vertexes or message.statuses or message.logs:
            on_status(message)
    return forward


def _dockerfile_input(dockerfile: str):
    from envtrack.state import Mkfile, State

    return State.scratch().file(Mkfile("/Dockerfile", dockerfile.encode()), name="image config").marshal()


def _solve_sharing_cache(solve, cache: SharedCache) -> None:
    """SOLVE(cache_to, cache_from), exporting and importing CACHE; a BuildKit that cannot export
    a registry cache (the Engine's own on its graph-driver image store: Engine 20.10, and 26
    without the containerd store) is said in one line, and the build goes on without the export."""
    from envtrack.buildkit.client import SolveFailure

    try:
        solve(cache.to, cache.source)
    except SolveFailure as failure:
        if not cache.to or "cache exporter" not in failure.details.lower():
            raise
        import sys

        reason = " ".join(failure.details.split())[:160]
        print(f"envtrack: this BuildKit cannot export a build cache to a registry ({reason}); "
              f"building without --cache-to {cache.to}", file=sys.stderr, flush=True)
        solve("", cache.source)


def _apply_config(endpoint: EngineEndpoint, buildkit, dockerfile: str, raw: str, image: str) -> None:
    """BuildKit v0.8: a second solve, on the same connection, of the Dockerfile frontend on
    DOCKERFILE (`FROM RAW` and config-only instructions): the same layers, the config set."""
    from envtrack.buildkit.client import SolveFailure

    inputs = _dockerfile_input(dockerfile)
    try:
        buildkit.solve(None, frontend="dockerfile.v0", frontend_inputs={"dockerfile": inputs, "context": inputs},
                       exporter="moby", exporter_attrs={"name": image}, on_status=lambda _: None)
    except SolveFailure as failure:
        raise EnvtrackError(f"cannot write the image config of {image}: {failure.details}") from None
    finally:
        api.remove_image(endpoint, raw)


_EXIT_CODE = re.compile(r"exit code: (\d+)")
_COMMAND = re.compile(r'(?:executor failed running \[(?P<old>.*)\]|process "(?P<new>.*)" did not complete)', re.S)


def step_failure(details: str, watcher, steps: dict[str, Step], downloads: dict | None = None) -> EnvtrackError:
    """A failing solve as the user's line, the command, its exit code and the last log lines."""
    failed = watcher.failed()
    download = download_failed(details, failed.digest if failed else None, downloads or {})
    if download is not None:
        return download
    step = steps.get(failed.digest) if failed else None
    code = _EXIT_CODE.search(details)
    command = _COMMAND.search(details)
    where = f"{step.position}: {step.label}" if step else (failed.name if failed else "the build")
    own = [line for line in (failed.log if failed and step else ()) if line.startswith(f"{OWN_MESSAGE}{step.kind}:")]
    if own:  # envtrack's scripts explain their failures in one line: that line is the error
        return EnvtrackError(f"{step.position}: {own[-1][len(OWN_MESSAGE):]}", exit_code=1)
    lines = [f"step failed at {where}"]
    if command:
        lines.append(f"  command: {command['old'] or command['new']}")
    lines.append(f"  exit code: {code.group(1)}" if code else f"  error: {details}")
    if failed and failed.log:
        lines.append(f"  last {len(failed.log)} log lines:")
        lines += [f"    {line}" for line in failed.log]
    return EnvtrackError("\n".join(lines), exit_code=1)


def download_failed(details: str, digest: str | None, downloads: dict) -> EnvtrackError | None:
    """A download BuildKit could not fetch (or whose checksum did not match) as one line: the
    step, the URL, BuildKit's reason and the ENVTRACK_MIRRORS setting that would point it elsewhere."""
    found = downloads.get(digest) if digest else None
    found = found or next((d for d in downloads.values() if d.url in details), None)
    if found is None:
        return None
    reason = details.strip().splitlines()[-1] if details.strip() else "failed"
    return EnvtrackError(f"{found.position}: {found.kind}: cannot fetch {found.url}: {reason}; {found.hint}",
                         exit_code=1)


def _report(step: Step, state: str, seconds: float) -> StepReport:
    return StepReport(step.label, step.position.file, step.position.line, state, round(seconds, 3))


def _announce_cached(progress: str, reports: tuple[StepReport, ...]) -> None:
    if progress == "quiet":
        return
    import sys

    for number, report in enumerate(reports, 1):
        print(f"#{number} [{Path(report.file).name}:{report.line}] {report.label}\n#{number} CACHED", file=sys.stderr)
