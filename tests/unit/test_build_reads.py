"""One build reads build.envd, and each file it loads, once: the bytes fingerprinted for the
build stamp and the image label are the bytes the bounded child evaluates; `up` takes its
runtime steps from the same bytes.

Every open of an `.envd` file is counted in a fresh interpreter (its `open`, `io.open` and
`os.open` wrapped by a sitecustomize that the evaluation's child inherits too, forked or
spawned), while it opens a project and plans it as `build` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from envtrack.frontend.source import source_digest

ROOT = Path(__file__).resolve().parents[2]

COUNTER = '''
import builtins, io, os

_open, _os_open = io.open, os.open

def _log(path):
    log = os.environ.get("ENVD_READS_LOG")
    if log and str(path).endswith(".envd"):
        fd = _os_open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (os.path.abspath(os.fsdecode(path)) + "\\n").encode())
        finally:
            os.close(fd)

def counted_open(file, *args, **kwargs):
    if isinstance(file, (str, bytes, os.PathLike)):
        _log(file)
    return _open(file, *args, **kwargs)

def counted_os_open(path, *args, **kwargs):
    _log(path)
    return _os_open(path, *args, **kwargs)

builtins.open = io.open = counted_open
os.open = counted_os_open
'''

PLAN = '''
import json, os, sys
if sys.argv[1] == "spawn":
    import starlark_go   # the Go runtime is loaded: the child is a fresh interpreter, fed on its stdin
from envtrack.llb.options import default_build_options
from envtrack.project import Project
from envtrack.solve import stamp
from envtrack.solve.service import plan_build

project = Project.find(".")
options = default_build_options()
if sys.argv[2] == "stale":   # a stamp of this project whose lib.envd has changed since
    sources = {str(project.envd_file): stamp.file_digest(project.envd_file),
               os.path.abspath("lib.envd"): "0" * 64}
    stamp.write_stamp(project.state_dir, project=stamp.owner(project.envd_file, project.name), sources=sources,
                      inputs=stamp.host_inputs(options), base=None, result={})
os.environ["ENVD_READS_LOG"] = sys.argv[3]
reads = {}
stamped, plan, digest = plan_build(project, options, reads=reads)
if sys.argv[4] == "up":   # then the steps that shape the container, as `up` takes them after its build
    from envtrack.container.service import runtime_steps

    assert "base" in [step.kind for step in runtime_steps(project, reads)]
del os.environ["ENVD_READS_LOG"]
print(json.dumps({"stamped": stamped is not None, "digest": digest, "digests": plan.digests,
                  "positions": [str(step.position) for step in plan.steps]}))
'''


@pytest.mark.parametrize("command", ["build", "up"])
@pytest.mark.parametrize("child", ["fork", "spawn"])
@pytest.mark.parametrize("stamp_state", ["none", "stale"])
def test_a_build_reads_each_envd_file_once(tmp_path: Path, child: str, stamp_state: str, command: str) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "lib.envd").write_text('def tools():\n    install.apt_packages(name=["jq"])\n')
    (project / "build.envd").write_text('load("lib.envd", "tools")\n\ndef build():\n'
                                        '    base(image="ubuntu:22.04")\n    tools()\n')
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(COUNTER)
    log = tmp_path / "reads.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", PLAN, child, stamp_state, str(log), command], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)

    main, lib = str((project / "build.envd").resolve()), str((project / "lib.envd").resolve())
    assert Counter(log.read_text().split()) == {main: 1, lib: 1}
    assert not result["stamped"]
    fingerprints = {main: source_digest((project / "build.envd").read_bytes()),
                    lib: source_digest((project / "lib.envd").read_bytes())}
    assert result["digests"] == fingerprints and result["digest"] == fingerprints[main]
    # One path value: the project's absolute one for I/O, shown relative below the working directory.
    assert result["positions"] == ["build.envd:4:5", "lib.envd:2:5"]
