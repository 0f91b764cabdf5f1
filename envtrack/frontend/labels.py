"""Short human labels for steps, as progress lines and logs show them."""

from __future__ import annotations

from typing import Any

from envtrack.builtins import BUILTINS

MAX_LABEL = 60

def label_for(kind: str, args: dict[str, Any]) -> str:
    """E.g. `install.apt_packages jq curl`, `run echo hi`, at most ~60 characters.

    Takes a step's kind and arguments rather than the Step, so this file sits below steps.py.
    """
    return _truncate(f"{kind} {_describe(kind, args)}".strip())


def _describe(kind: str, args: dict[str, Any]) -> str:
    if kind == "io.copy":
        return f"{args.get('host_path', '')} -> {args.get('envd_path', '')}"
    if kind == "install.python_packages" and not args.get("name"):
        if args.get("requirements"):
            return f"-r {args['requirements']}"
        return _words(args.get("local_wheels"))
    if kind == "runtime.environ" and not args.get("env"):
        return "PATH+=" + ":".join(args.get("extra_path") or [])
    if kind == "runtime.expose" and args.get("host_port"):
        return f"{args['envd_port']}:{args['host_port']}"
    if kind == "runtime.mount":
        return f"{args.get('host_path', '')} -> {args.get('envd_path', '')}"
    if kind == "runtime.daemon":
        return "; ".join(" ".join(argv) for argv in args.get("commands") or [])
    separator = "; " if kind in ("run", "runtime.init") else " "  # several commands read as a script
    builtin = BUILTINS.get(kind)
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
