"""Regenerate the Python protobuf/gRPC modules for every proto/*.proto.

    python proto/generate.py            # writes envtrack/pb/
    python proto/generate.py --out DIR  # writes elsewhere (the freshness test uses this)

protoc writes imports between generated modules as top-level ones (`import ops_pb2`),
which only work with the output directory on sys.path; they are rewritten to
`from envtrack.pb import ops_pb2` so the modules live inside the package.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().parent
PACKAGE = "envtrack.pb"
DEFAULT_OUT = PROTO_DIR.parent / "envtrack" / "pb"

_TOP_LEVEL_IMPORT = re.compile(r"^import (\w+_pb2(?:_grpc)?) as (\w+)$", re.MULTILINE)


def proto_files() -> list[Path]:
    return sorted(PROTO_DIR.glob("*.proto"))


def has_service(proto: Path) -> bool:
    return re.search(r"^\s*service\s+\w+", proto.read_text(), re.MULTILINE) is not None


def run_protoc(proto: Path, out: Path) -> None:
    """Generate one proto's modules into OUT (gRPC stubs only when it declares services)."""
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"--proto_path={PROTO_DIR}",
        f"--proto_path={well_known}",
        f"--python_out={out}",
    ]
    if has_service(proto):
        args.append(f"--grpc_python_out={out}")
    # A bare file name keeps the descriptor's name "ops.proto", which importers refer to.
    subprocess.run([*args, proto.name], check=True, cwd=PROTO_DIR)


def package_relative(source: str) -> str:
    return _TOP_LEVEL_IMPORT.sub(rf"from {PACKAGE} import \1 as \2", source)


def generate(out: Path) -> list[Path]:
    """Write every generated module into OUT; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        for proto in proto_files():
            run_protoc(proto, scratch_dir)
        for generated in sorted(scratch_dir.glob("*.py")):
            target = out / generated.name
            target.write_text(package_relative(generated.read_text()))
            written.append(target)
    init = out / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated protobuf modules; regenerate with `python proto/generate.py`."""\n')
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    options = parser.parse_args(argv)
    for path in generate(options.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
