"""What compile_plan emits for each builtin: mounts, env, files, errors, image config."""

from __future__ import annotations

import pytest

from envtrack.errors import LocatedError, Position
from envtrack.frontend.steps import Plan, Step
from envtrack.llb import scripts
from envtrack.llb.compile import compile_plan
from envtrack.llb.options import BuildOptions, default_build_options
from envtrack.llb.host import INLINE_LIMIT
from envtrack.pb import ops_pb2 as pb

CA = b"-----BEGIN CERTIFICATE-----\nhost\n-----END CERTIFICATE-----\n"


def step(line: int, kind: str, **args) -> Step:
    return Step(kind, args, Position("build.envd", line, 5))


def base(line: int = 1, image: str = "envtrack/base:bookworm") -> Step:
    return step(line, "base", image=image, dev=False)


def python(line: int = 2, version: str = "3.11") -> Step:
    return step(line, "install.python", version=version)


def pip(line: int, *names: str, requirements: str = "", local_wheels=()) -> Step:
    return step(line, "install.python_packages", name=list(names), requirements=requirements,
                local_wheels=list(local_wheels))


def apt(line: int, *names: str) -> Step:
    return step(line, "install.apt_packages", name=list(names))


def run(line: int, *commands: str) -> Step:
    return step(line, "run", commands=list(commands), mount_host=False)


def compile_steps(*steps: Step, file: str = "build.envd", options: BuildOptions | None = None):
    return compile_plan(Plan(file=file, target="build", steps=tuple(steps)), options or BuildOptions())


def ops(compiled) -> dict[str, pb.Op]:
    """Vertex digest -> Op, for the user steps' vertices."""
    import hashlib

    definition = pb.Definition()
    definition.ParseFromString(compiled.definition)
    by_digest = {}
    for data in getattr(definition, "def")[:-1]:
        op = pb.Op()
        op.ParseFromString(data)
        by_digest["sha256:" + hashlib.sha256(data).hexdigest()] = op
    return by_digest


def op_of(compiled, kind: str, nth: int = 0) -> pb.Op:
    digests = [d for d, s in compiled.steps_by_vertex.items() if s.kind == kind]
    return ops(compiled)[digests[nth]]


def env_of(op: pb.Op) -> dict[str, str]:
    return dict(e.split("=", 1) for e in op.exec.meta.env)


def test_base_normalises_the_reference_and_sets_the_exec_env():
    compiled = compile_steps(base(image="debian:bookworm"), run(2, "true"))
    assert op_of(compiled, "base").source.identifier == "docker-image://docker.io/library/debian:bookworm"
    env = env_of(op_of(compiled, "run"))
    assert env["DEBIAN_FRONTEND"] == "noninteractive"
    assert env["PATH"].endswith("/usr/bin:/sbin:/bin")


def test_run_is_one_exec_under_sh_with_set_e():
    exec_op = op_of(compile_steps(base(), run(2, "echo a", "echo b")), "run").exec
    assert list(exec_op.meta.args) == ["/bin/sh", "-c", "set -e\necho a\necho b"]
    assert exec_op.network == pb.UNSET


def test_apt_uses_locked_cache_mounts_and_skips_fresh_lists():
    exec_op = op_of(compile_steps(base(), apt(2, "jq", "curl")), "install.apt_packages").exec
    caches = {m.dest: m for m in exec_op.mounts if m.mountType == pb.CACHE}
    assert set(caches) == {"/var/cache/apt", "/var/lib/apt/lists"}
    assert all(m.cacheOpt.sharing == pb.LOCKED for m in caches.values())
    script = exec_op.meta.args[2]
    assert "rm -f /etc/apt/apt.conf.d/docker-clean" in script
    assert "install -y --no-install-recommends jq curl" in script
    assert script.index('!= "$sig"') < script.index("update")  # update only when the lists are stale


def test_python_installs_a_venv_that_later_steps_and_the_image_use():
    compiled = compile_steps(base(), python(), pip(3, "six"), run(4, "python -c 'import six'"))
    assert '"$found" -m venv /opt/envtrack/venv' in op_of(compiled, "install.python").exec.meta.args[2]
    for kind in ("install.python_packages", "run"):
        assert env_of(op_of(compiled, kind))["PATH"].startswith("/opt/envtrack/venv/bin:")
    pip_op = op_of(compiled, "install.python_packages").exec
    script = pip_op.meta.args[2]
    assert 'install six' in script.splitlines() and '"$uv" pip install --python /opt/envtrack/venv/bin/python' in script
    assert '/opt/envtrack/venv/bin/python -m pip install "$@"' in script   # pip when uv is not there or fails
    caches = {m.dest for m in pip_op.mounts if m.mountType == pb.CACHE}
    assert caches == {scripts.PIP_CACHE, scripts.UV_CACHE}
    config = compiled.image_config
    assert config.env_dict()["PATH"].startswith("/opt/envtrack/venv/bin:")
    assert "DEBIAN_FRONTEND" not in config.env_dict()
    assert config.working_dir == "/workspace"


def test_pip_without_install_python_goes_into_the_image_s_own_python():
    exec_op = op_of(compile_steps(base(image="python:3.11-slim"), pip(2, "six")), "install.python_packages").exec
    script = exec_op.meta.args[2]
    assert 'python="$(command -v python3 || command -v python || true)"' in script
    assert '"$uv" pip install --python "$python"' in script and '"$python" -m pip install "$@"' in script
    assert "/opt/envtrack/venv" not in script
    assert {m.dest for m in exec_op.mounts if m.mountType == pb.CACHE} >= {scripts.PIP_CACHE, scripts.APT_LISTS}


def test_any_python_version_is_asked_for_whatever_the_image_is_named():
    for image, version in (("ubuntu:22.04", "3.11"), ("debian:bookworm", "3.9"), ("python:3.12-slim", "3.10.4")):
        script = op_of(compile_steps(base(image=image), python(2, version=version)), "install.python").exec.meta.args[2]
        assert f"w='\"'\"'{version}'\"'\"'" in script and f"for name in python{version} python3" in script
    for default in ("", "3"):
        script = op_of(compile_steps(base(), python(2, version=default)), "install.python").exec.meta.args[2]
        assert "for name in python3.11 python3" in script    # envd's default
    for wrong in ("2.7", "3.x", "311"):
        with pytest.raises(LocatedError) as caught:
            compile_steps(base(), python(2, version=wrong))
        assert caught.value.position.line == 2


def test_every_fetching_step_gets_the_ca_as_a_readonly_bind_and_nothing_is_baked():
    compiled = compile_steps(base(), python(), apt(3, "jq"), pip(4, "six"), run(5, "true"),
                             options=BuildOptions(ca_bundle=CA))
    for kind in ("install.python", "install.apt_packages", "install.python_packages", "run"):
        op = op_of(compiled, kind)
        binds = [m for m in op.exec.mounts if m.dest == scripts.CA_PATH]
        assert len(binds) == 1 and binds[0].readonly and binds[0].output == -1
        ca_vertex = ops(compiled).get(op.inputs[binds[0].input].digest) or _ca_op(compiled)
        assert ca_vertex.file.actions[0].mkfile.data == CA
        env = env_of(op)
        assert all(env[name] == scripts.CA_PATH for name in
                   ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"))
    assert "SSL_CERT_FILE" not in compiled.image_config.env_dict()


def _ca_op(compiled) -> pb.Op:
    definition = pb.Definition()
    definition.ParseFromString(compiled.definition)
    for data in getattr(definition, "def"):
        op = pb.Op()
        op.ParseFromString(data)
        if op.WhichOneof("op") == "file" and op.file.actions[0].mkfile.path == "/ca.pem":
            return op
    raise AssertionError("no CA vertex")


def test_bake_ca_adds_a_final_step_and_points_the_config_at_it():
    compiled = compile_steps(base(), run(2, "true"), options=BuildOptions(ca_bundle=CA, bake_ca=True))
    final = ops(compiled)[compiled.digest]
    assert "update-ca-certificates" in final.exec.meta.args[2]
    assert compiled.image_config.env_dict()["SSL_CERT_FILE"].startswith("/usr/local/share/ca-certificates/")
    assert compiled.digest not in compiled.steps_by_vertex  # not a user step


def test_config_ca_certificates_names_the_bundle(tmp_path):
    (tmp_path / "corp.pem").write_bytes(CA)
    envd = tmp_path / "build.envd"
    compiled = compile_steps(base(), step(2, "config.ca_certificates", path="corp.pem"), run(3, "true"),
                             file=str(envd), options=BuildOptions(ca_bundle=b"other"))
    assert _ca_op(compiled).file.actions[0].mkfile.data == CA


def test_proxy_settings_travel_in_proxy_env_not_env():
    compiled = compile_steps(base(), run(2, "true"),
                             options=BuildOptions(proxy_env={"HTTPS_PROXY": "http://proxy:3128", "no_proxy": "x"}))
    meta = op_of(compiled, "run").exec.meta
    assert meta.proxy_env.https_proxy == "http://proxy:3128" and meta.proxy_env.no_proxy == "x"
    assert not any("proxy" in e.lower() for e in meta.env)


def test_pip_index_and_apt_source_affect_later_steps_only():
    compiled = compile_steps(
        base(), python(), pip(3, "six"),
        step(4, "config.pip_index", url="https://mirror.example/simple", extra_url="", trust=True),
        pip(5, "tomli"),
        step(6, "config.apt_source", source="deb http://mirror.example/debian bookworm main"),
        apt(7, "jq"),
    )
    assert "PIP_INDEX_URL" not in env_of(op_of(compiled, "install.python_packages", 0))
    later = env_of(op_of(compiled, "install.python_packages", 1))
    assert later["PIP_INDEX_URL"] == "https://mirror.example/simple"
    assert later["PIP_TRUSTED_HOST"] == "mirror.example"
    lists = {m.dest: m.cacheOpt.ID for m in op_of(compiled, "install.apt_packages").exec.mounts}
    assert lists["/var/lib/apt/lists"].startswith("envtrack-apt-lists-")  # not the default sources' cache
    actions = op_of(compiled, "config.apt_source").file.actions
    assert actions[-1].mkfile.path == "/etc/apt/sources.list"
    assert actions[-1].mkfile.data.endswith(b"main\n")


def test_requirements_and_wheels_are_embedded_and_mounted(tmp_path):
    (tmp_path / "requirements.txt").write_text("six\n")
    (tmp_path / "pkg-1.0-py3-none-any.whl").write_bytes(b"PK")
    compiled = compile_steps(base(), python(), pip(3, requirements="requirements.txt",
                                                   local_wheels=["pkg-1.0-py3-none-any.whl"]),
                             file=str(tmp_path / "build.envd"))
    exec_op = op_of(compiled, "install.python_packages").exec
    script = exec_op.meta.args[2]
    assert f"-r {scripts.INPUTS}/requirements.txt" in script
    assert f"{scripts.INPUTS}/pkg-1.0-py3-none-any.whl" in script
    (inputs,) = [m for m in exec_op.mounts if m.dest == scripts.INPUTS]
    assert inputs.readonly


def project_with_editable_requirements(root):
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text("X = 1\n")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "junk.pyc").write_bytes(b"junk")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    (root / "setup.py").write_text("from setuptools import setup; setup(name='pkg')\n")
    (root / "requirements.txt").write_text("-e .\nsix  # a name\n")
    (root / "build.envd").write_text("def build(): pass\n")


def project_digests(root, **changes):
    for name, text in changes.items():
        (root / name).write_text(text)
    compiled = compile_steps(base(), python(), pip(3, requirements="requirements.txt"), run(4, "true"),
                             file=str(root / "build.envd"))
    return {s.kind: d for d, s in compiled.steps_by_vertex.items()}, compiled


def test_editable_requirements_mount_the_project_files_and_key_the_step_on_them(tmp_path):
    project_with_editable_requirements(tmp_path)
    digests, compiled = project_digests(tmp_path)
    exec_op = op_of(compiled, "install.python_packages").exec
    assert "cd /workspace" in exec_op.meta.args[2] and "-r /workspace/requirements.txt" in exec_op.meta.args[2]
    (project,) = [m for m in exec_op.mounts if m.dest == "/workspace"]
    assert not project.readonly                      # the build backend writes its egg-info there
    definition = pb.Definition()
    definition.ParseFromString(compiled.definition)
    written = set()
    for data in getattr(definition, "def"):
        op = pb.Op()
        op.ParseFromString(data)
        written |= {a.mkfile.path for a in op.file.actions if a.HasField("mkfile")}
    assert {"/pkg/__init__.py", "/setup.py", "/requirements.txt"} <= written
    assert not any(".git" in p or "__pycache__" in p or p == "/build.envd" for p in written)
    same, _ = project_digests(tmp_path, **{"build.envd": "def build():\n    pass\n"})
    assert same == digests                           # build.envd is no package source
    changed, _ = project_digests(tmp_path, **{"pkg/__init__.py": "X = 2\n"})
    assert changed["install.python"] == digests["install.python"]
    assert changed["install.python_packages"] != digests["install.python_packages"]


def test_project_paths_in_the_name_list_install_from_the_project_keyed_on_its_files(tmp_path):
    """The forms sync writes for `pip install ./vendor/mylib` and `pip install -e ./vendor/editlib`."""
    for name in ("mylib", "editlib"):
        (tmp_path / "vendor" / name).mkdir(parents=True)
        (tmp_path / "vendor" / name / "setup.py").write_text(f"from setuptools import setup; setup(name='{name}')\n")
    (tmp_path / "build.envd").write_text("def build(): pass\n")

    def compiled_pip():
        return compile_steps(base(), python(), pip(3, "six", "./vendor/mylib", "--editable=./vendor/editlib"),
                             file=str(tmp_path / "build.envd"))

    compiled = compiled_pip()
    exec_op = op_of(compiled, "install.python_packages").exec
    assert "cd /workspace" in exec_op.meta.args[2] and "--editable=./vendor/editlib" in exec_op.meta.args[2]
    assert [m.dest for m in exec_op.mounts if m.dest == "/workspace"] == ["/workspace"]
    before = {s.kind: d for d, s in compiled.steps_by_vertex.items()}
    (tmp_path / "vendor" / "editlib" / "setup.py").write_text("from setuptools import setup; setup(name='editlib', version='2')\n")
    after = {s.kind: d for d, s in compiled_pip().steps_by_vertex.items()}
    assert after["install.python"] == before["install.python"]
    assert after["install.python_packages"] != before["install.python_packages"]


def test_requirements_outside_the_project_are_a_located_error(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "requirements.txt").write_text("../elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(LocatedError) as caught:
        compile_steps(base(), python(), pip(3, requirements="requirements.txt"), file=str(tmp_path / "p" / "build.envd"))
    assert caught.value.position.line == 3 and "outside the project" in caught.value.reason


def test_missing_host_files_are_located_errors(tmp_path):
    with pytest.raises(LocatedError) as caught:
        compile_steps(base(), python(), pip(3, requirements="nope.txt"), file=str(tmp_path / "build.envd"))
    assert caught.value.position.line == 3 and "nope.txt" in caught.value.reason


def test_io_copy_embeds_a_directory_as_file_actions(tmp_path):
    (tmp_path / "conf" / "sub").mkdir(parents=True)
    (tmp_path / "conf" / "a.txt").write_text("a")
    (tmp_path / "conf" / "sub" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "conf" / "sub" / "run.sh").chmod(0o755)
    compiled = compile_steps(base(), step(2, "io.copy", host_path="conf", envd_path="/etc/app"),
                             file=str(tmp_path / "build.envd"))
    actions = op_of(compiled, "io.copy").file.actions
    made = {a.mkfile.path: a.mkfile for a in actions if a.WhichOneof("action") == "mkfile"}
    assert made["/etc/app/a.txt"].data == b"a"
    assert made["/etc/app/sub/run.sh"].mode == 0o755
    assert actions[0].mkdir.path == "/etc/app"


def test_io_copy_of_a_file_into_a_directory_and_relative_targets(tmp_path):
    (tmp_path / "app.cfg").write_text("x=1\n")
    compiled = compile_steps(base(), step(2, "io.copy", host_path="app.cfg", envd_path="/etc/app/"),
                             file=str(tmp_path / "build.envd"))
    actions = op_of(compiled, "io.copy").file.actions
    assert [a.WhichOneof("action") for a in actions] == ["mkdir", "mkfile"]
    assert actions[1].mkfile.path == "/etc/app/app.cfg"
    with pytest.raises(LocatedError) as caught:
        compile_steps(base(), step(2, "io.copy", host_path="app.cfg", envd_path="etc/app.cfg"),
                      file=str(tmp_path / "build.envd"))
    assert "absolute" in caught.value.reason


def test_io_copy_over_the_size_limit_is_refused(tmp_path):
    (tmp_path / "big.bin").write_bytes(b"\0" * (INLINE_LIMIT + 1))
    with pytest.raises(LocatedError) as caught:
        compile_steps(base(), step(2, "io.copy", host_path="big.bin", envd_path="/data/"),
                      file=str(tmp_path / "build.envd"))
    assert "MiB" in caught.value.reason


def test_runtime_steps_feed_the_image_config_without_vertices():
    compiled = compile_steps(
        base(), run(2, "true"),
        step(3, "runtime.environ", env={"A": "1"}, extra_path=["/opt/tools/bin"]),
        step(4, "runtime.expose", envd_port=8888, host_port=0, service=""),
        step(5, "runtime.command", commands={"serve": "python -m http.server"}),
    )
    assert [s.kind for s in compiled.steps_by_vertex.values()] == ["base", "run"]
    config = compiled.image_config
    assert config.env_dict()["A"] == "1" and config.env_dict()["PATH"].endswith(":/opt/tools/bin")
    assert config.exposed_ports == ("8888/tcp",)
    assert config.cmd == ("/bin/sh", "-c", "python -m http.server")
    dockerfile = config.to_dockerfile("raw").splitlines()
    assert dockerfile[0] == "FROM raw" and "EXPOSE 8888/tcp" in dockerfile
    assert [line for line in dockerfile if line.startswith("ENV ")][-1] == 'ENV A="1"'


def test_shell_installs_non_default_shells_via_apt():
    compiled = compile_steps(base(), step(2, "shell", name="zsh"))
    assert "install -y --no-install-recommends zsh" in op_of(compiled, "shell").exec.meta.args[2]
    assert dict(compiled.image_config.labels)["envtrack.shell"] == "zsh"
    assert [s.kind for s in compile_steps(base(), step(2, "shell", name="base")).steps_by_vertex.values()] == ["base"]


def test_conda_says_when_the_image_has_no_conda():
    compiled = compile_steps(base(), step(2, "install.conda_packages", name=["numpy"], channel=["conda-forge"], env_file=""))
    script = op_of(compiled, "install.conda_packages").exec.meta.args[2]
    assert "needs install.conda() or conda" in script and "-c conda-forge numpy" in script


def test_a_malformed_image_reference_is_a_located_error():
    with pytest.raises(LocatedError) as caught:
        compile_steps(base(image="bad image"))
    assert caught.value.position.line == 1


def test_base_must_come_first_and_mount_host_is_refused():
    with pytest.raises(LocatedError):
        compile_steps(run(1, "true"), base(2))
    with pytest.raises(LocatedError):
        compile_steps(base(), step(2, "run", commands=["true"], mount_host=True))


def test_default_build_options_read_the_host_bundle_and_proxies(tmp_path):
    bundle = tmp_path / "ca.crt"
    bundle.write_bytes(CA)
    options = default_build_options(environ={"ENVTRACK_CA_BUNDLE": str(bundle), "HTTPS_PROXY": "http://p:1", "HOME": "/"})
    assert options.ca_bundle == CA and options.proxy_env == {"HTTPS_PROXY": "http://p:1"}
    assert default_build_options(environ={"ENVTRACK_CA_BUNDLE": str(tmp_path / "none")}).ca_bundle is None


def test_the_config_dockerfile_quotes_values_so_they_read_back_literally():
    from envtrack.errors import EnvtrackError
    from envtrack.llb.image_config import ImageConfig

    config = ImageConfig(env=(("A", 'x "$HOME" \\ y'),), labels=(("k", "$v"),))
    lines = config.to_dockerfile("raw").splitlines()
    assert 'ENV A="x \\"\\$HOME\\" \\\\ y"' in lines and 'LABEL "k"="\\$v"' in lines
    with pytest.raises(EnvtrackError, match="line break"):
        ImageConfig(env=(("A", "one\ntwo"),)).to_dockerfile("raw")


def test_requirements_local_paths_are_the_project_paths_pip_reads():
    from envtrack.requirements import local_paths

    text = ("-e .\nsix==1.0  # ./not-this\n./pkg[extra] ; python_version > '3'\n--editable=../lib\n"
            "file:./other#egg=other\n-r other.txt\nhttps://example.invalid/x.whl\n/abs/path\n")
    assert local_paths(text) == [".", "./pkg", "../lib", "./other"]
