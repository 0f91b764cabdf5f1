"""Lower a Plan whose build.envd names states (branches, merges, diffs) into one State graph.

Each state is lowered once, after the states it starts from: its origin (scratch, an
image, a branch of another state, a merge, a diff) and then its own steps in the order
they ran, each by the same lowering the envd v1 path uses. So a branch is a chain of
its own, and BuildKit solves independent branches side by side; changing one branch's
steps changes only the vertices of that branch and of what is built from it.

merge([a, b, ...]) of states branched from a common state C means "C plus what each
branch changed": natively Merge([C, Diff(C, a), Diff(C, b), ...]), so no branch is
copied again when another changes. Without a common state the inputs are layered whole,
later ones winning, as BuildKit's MergeOp does. Without MergeOp/DiffOp (BuildKit v0.8)
the same filesystem comes from envtrack.llb.fallback.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from envtrack.builtins import BUILD, stage_of
from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import MAIN_STATE, Plan, StateDef
from envtrack.llb import dev, envd, fallback, scripts
from envtrack.llb.context import APT_LISTS_ID, BAKED_CA, Context, Lowered, fetch_step
from envtrack.llb.host import HostInputs
from envtrack.llb.lower import LOWERINGS, NO_MIRRORS, explicit_ca, explicit_owner, image_config, start
from envtrack.llb.options import CONDA_INSTALLERS, DEFAULT_ARCH
from envtrack.mirrors import MirrorTable
from envtrack.state import Mkfile, ProxyEnv, State


def _image_setting(kind: str) -> bool:
    """Runtime and image settings (registry stage other than build) make no vertex."""
    return stage_of(kind) != BUILD


@dataclass(frozen=True)
class Branch:
    """What lowering carries per state (the rest of Context is the image's, shared)."""

    state: State | None
    base_image: str = ""
    has_python: bool = False
    has_conda: bool = False
    use_mamba: bool = False
    apt_lists_id: str = ""
    diff_of: tuple[State, State] | None = None   # a diff state's (lower, upper), for the fallback


def lower_graph(plan: Plan, host: HostInputs, *, ca_bundle: bytes | None, proxy_env: dict[str, str],
                bake_ca: bool = False, merge_op: bool = True, mirrors: MirrorTable = NO_MIRRORS,
                arch: str = DEFAULT_ARCH, conda_tool: str = CONDA_INSTALLERS, owner: tuple[int, int] = (0, 0),
                pins: dict[str, str] | None = None) -> Lowered:
    ca_bundle = explicit_ca(plan, host) or ca_bundle
    ca = State.scratch().file(Mkfile("/ca.pem", ca_bundle, mode=0o444), name="host CA bundle") if ca_bundle else None
    ctx = Context(plan=plan, host=host, ca=ca, proxy=ProxyEnv.from_mapping(proxy_env), owner=explicit_owner(plan, owner),
                  mirrors=mirrors, arch=arch, pins=dict(pins or {}), conda_tool=conda_tool)
    defs = {d.name: d for d in plan.states}
    branches: dict[str, Branch] = {}
    for name in plan.states_behind(plan.image_state):
        branches[name] = build_state(ctx, name, defs, branches, merge_op)
    ctx.state = branches[plan.image_state].state
    for index, step in enumerate(plan.steps):   # image settings (runtime.*) apply whichever state they name
        if _image_setting(step.kind):
            LOWERINGS[step.kind](ctx, step, index)
    if ctx.state is None or ctx.state.output is None:
        where = defs[plan.image_state].position if plan.image_state in defs else Position(plan.file, 1, 1)
        raise LocatedError(where, f"the image state {plan.image_state!r} is empty: nothing to build")
    dev.finish(ctx)
    if bake_ca and ca is not None:
        ctx.state = fetch_step(ctx, scripts.bake_ca(BAKED_CA), name="bake host CA bundle", position=None)
    return Lowered(ctx.state, image_config(ctx, baked=bake_ca and ca is not None), tuple(ctx.outputs),
                   tuple(ctx.downloads))


def build_state(ctx: Context, name: str, defs: dict[str, StateDef], branches: dict[str, Branch],
                merge_op: bool) -> Branch:
    branch = origin(ctx, defs.get(name), branches, defs, merge_op)
    for index, step in enumerate(ctx.plan.steps):
        if (step.state or MAIN_STATE) != name or _image_setting(step.kind):
            continue
        if step.kind != "base" and branch.state is None:
            branch = enter(ctx, branch)
            start(ctx, envd.base_image(ctx.plan), None)
            branch = leave(ctx, branch)
        branch = enter(ctx, branch)
        before = ctx.state
        LOWERINGS[step.kind](ctx, step, index)
        if ctx.state is not before and ctx.state.output is not (before.output if before else None):
            ctx.outputs.append((ctx.state.output, step))
        branch = leave(ctx, branch)
    if branch.state is None:   # a main state with no steps: envd's default base
        branch = enter(ctx, branch)
        start(ctx, envd.base_image(ctx.plan), None)
        branch = leave(ctx, branch)
    return branch


def enter(ctx: Context, branch: Branch) -> Branch:
    ctx.state, ctx.base_image, ctx.has_python = branch.state, branch.base_image, branch.has_python
    ctx.has_conda, ctx.use_mamba = branch.has_conda, branch.use_mamba
    ctx.apt_lists_id = branch.apt_lists_id or APT_LISTS_ID
    return branch


def leave(ctx: Context, branch: Branch) -> Branch:
    changed = ctx.state is not branch.state
    return replace(branch, state=ctx.state, base_image=ctx.base_image, has_python=ctx.has_python,
                   has_conda=ctx.has_conda, use_mamba=ctx.use_mamba, apt_lists_id=ctx.apt_lists_id, diff_of=None if changed else branch.diff_of)


def origin(ctx: Context, definition: StateDef | None, branches: dict[str, Branch],
           defs: dict[str, StateDef], merge_op: bool) -> Branch:
    if definition is None:                        # main
        return Branch(state=None)
    if definition.origin == "scratch":
        return Branch(state=State.scratch())
    if definition.origin == "image":
        saved = ctx.state, ctx.base_image
        try:
            start(ctx, definition.image, None)
        except ValueError as error:
            raise LocatedError(definition.position, f"image: {error}") from None
        branch = Branch(state=ctx.state, base_image=ctx.base_image)
        ctx.state, ctx.base_image = saved
        return branch
    if definition.origin == "branch":
        return replace(branches[definition.inputs[0]], diff_of=branches[definition.inputs[0]].diff_of)
    if definition.origin == "diff":
        return lower_diff(definition, branches, merge_op)
    return lower_merge(definition, branches, defs, merge_op, ctx.arch)


def lower_diff(definition: StateDef, branches: dict[str, Branch], merge_op: bool) -> Branch:
    lower, upper = (branches[n] for n in definition.inputs)
    name = f"diff {' '.join(definition.inputs)}"
    if merge_op:
        state = State.diff(_filled(lower), _filled(upper), name=name, position=definition.position)
    else:
        state = fallback.materialise_diff(_filled(lower), _filled(upper), name=name, position=definition.position)
    state = with_env_of(state, _filled(upper), _filled(lower))
    return Branch(state=state, base_image=upper.base_image, has_python=upper.has_python,
                  apt_lists_id=upper.apt_lists_id, diff_of=(_filled(lower), _filled(upper)))


def lower_merge(definition: StateDef, branches: dict[str, Branch], defs: dict[str, StateDef],
                merge_op: bool, arch: str) -> Branch:
    """Diff inputs are layered as changes; the other inputs onto their common state, if any."""
    names = list(definition.inputs)
    inputs = [branches[n] for n in names]
    plain = [n for n in names if branches[n].diff_of is None]
    common = common_base(plain, defs) if len(plain) > 1 else (plain[0] if plain else None)
    base = _filled(branches[common]) if common is not None else None
    layers: list[fallback.Layer] = []
    for n in names:
        if n == common:
            continue
        branch = branches[n]
        if branch.diff_of is not None:
            layers.append(fallback.Layer(branch.diff_of[1], lower=branch.diff_of[0]))
        else:
            layers.append(fallback.Layer(_filled(branch), lower=base))   # None: layered whole
    where = dict(name=f"merge {' '.join(names)}", position=definition.position)
    if merge_op:
        parts = [] if base is None else [base]
        parts += [State.diff(layer.lower, layer.upper, **where) if layer.lower is not None else layer.upper
                  for layer in layers]
        state = State.merge(parts, **where)
    else:
        state = fallback.merge(base, layers, arch=arch, **where)
    state = _env_merged(state, base if base is not None else layers[0].upper, layers)
    first = inputs[0]
    return Branch(state=state, base_image=first.base_image, has_python=any(b.has_python for b in inputs),
                  apt_lists_id=first.apt_lists_id)


def common_base(names: list[str], defs: dict[str, StateDef]) -> str | None:
    """The nearest state every input is (a branch of a branch of ...) taken from, or None."""
    def ancestry(name: str) -> list[str]:
        chain = [name]
        while chain[-1] in defs and defs[chain[-1]].origin == "branch":
            chain.append(defs[chain[-1]].inputs[0])
        return chain

    lines = [ancestry(n) for n in names]
    return next((a for a in lines[0] if all(a in line for line in lines[1:])), None)


def _filled(branch: Branch) -> State:
    return branch.state if branch.state is not None else State.scratch()


def with_env_of(state: State, source: State, relative_to: State) -> State:
    """STATE with the variables SOURCE set differently from RELATIVE_TO."""
    for key, value in source.env:
        if relative_to.get_env(key) != value:
            state = state.add_env(key, value)
    return state


def _env_merged(state: State, base: State, layers: list[fallback.Layer]) -> State:
    """A merge's env: the base's, then what each layer set itself, in order (later wins)."""
    state = replace(state, env=base.env)
    for layer in layers:
        state = with_env_of(state, layer.upper, layer.lower or State.scratch())
    return state
