"""`up` remembers only the steps container_spec reads; that list must be whole, and the
remembered steps must give the very same container as the evaluated plan."""

import inspect
import re

from envtrack.container import service, spec
from envtrack.frontend import load_plan
from envtrack.project import Project

ENVD = '''def build():
    base(image="envtrack/base:bookworm")
    runtime.expose(envd_port=8888, host_port=18888)
    runtime.mount(host_path="data", envd_path="/data")
    runtime.environ(env={"A": "1"})
'''


def test_every_kind_the_spec_reads_is_remembered():
    read = set(re.findall(r'step\.kind == "([a-z_.]+)"', inspect.getsource(spec)))
    assert read and read <= set(spec.RUNTIME_STEPS)


def test_remembered_steps_give_the_same_container(tmp_path):
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    (project_dir / "build.envd").write_text(ENVD)
    project = Project.find(project_dir)
    project.state_dir.mkdir()

    def fingerprint(steps):
        return spec.container_spec(project, "img", "sha256:1", steps, bundle_dir=tmp_path / "b", host_ca=None,
                                   home="/root").fingerprint()

    evaluated = fingerprint(load_plan(str(project.envd_file)).steps)
    first = service.runtime_steps(project)        # evaluates and remembers
    assert (project.state_dir / service.RUNTIME_CACHE).exists()
    again = service.runtime_steps(project)        # from the cache
    assert fingerprint(first) == fingerprint(again) == evaluated
    (project_dir / "build.envd").write_text(ENVD.replace("18888", "18889"))
    assert fingerprint(service.runtime_steps(project)) != evaluated    # an edit is seen
