"""Short human labels for steps, as progress lines and logs show them."""

from __future__ import annotations

from typing import Any

from envtrack.builtins import BUILTINS
from envtrack.frontend.steps import Step

MAX_LABEL = 60

def label_for(step: Step) -> str:
    """E.g. `install.apt_packages jq curl`, `run echo hi`, at most ~60 characters."""
    return _truncate(f"{step.kind} {_describe(step)}".strip())


def _describe(step: Step) -> str:
    args = step.args
    if step.kind == "io.copy":
        return f"{args.get('host_path', '')} -> {args.get('envd_path', '')}"
    if step.kind == "install.python_packages" and not args.get("name"):
        if args.get("requirements"):
            return f"-r {args['requirements']}"
        return _words(args.get("local_wheels"))
    if step.kind == "runtime.environ" and not args.get("env"):
        return "PATH+=" + ":".join(args.get("extra_path") or [])
    if step.kind == "runtime.expose" and args.get("host_port"):
        return f"{args['envd_port']}:{args['host_port']}"
    if step.kind == "runtime.mount":
        return f"{args.get('host_path', '')} -> {args.get('envd_path', '')}"
    if step.kind == "runtime.daemon":
        return "; ".join(" ".join(argv) for argv in args.get("commands") or [])
    separator = "; " if step.kind in ("run", "runtime.init") else " "  # several commands read as a script
    builtin = BUILTINS.get(step.kind)
    return _words(args.get(builtin.label or "", "") if builtin else "", separator)


def _words(value: Any, separator: str = " ") -> str:
    if isinstance(value, dict):
        return " ".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return separator.join(str(v) for v in value)
    return str(value)


def _truncate(text: str) -> str:
    text = " ".join(text.split())  # newlines in commands or apt sources become spaces
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"
