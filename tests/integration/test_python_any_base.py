"""Python as envd users write it (issue 27), on the real Engine: install.python(version) whatever
the image is called, install.python_packages into the image's own Python when there is no
install.python(), and a requirements file that installs the project itself (`-e .`)."""

from __future__ import annotations

from pathlib import Path

from conftest import BASE_IMAGE, names_of, run_cli


def in_image(docker_client, project: Path, command: str) -> str:
    return docker_client.containers.run(f"{names_of(project).image_repo}:latest", entrypoint=["sh", "-c", command],
                                        remove=True).decode()


def test_packages_without_install_python_go_into_the_image_s_python(scratch_project: Path, docker_client) -> None:
    # The bookworm base has Debian's python3 without pip, marked EXTERNALLY-MANAGED.
    (scratch_project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.python_packages(name=["six"])
''')
    run_cli("build", "--progress", "quiet", cwd=scratch_project, check=True)
    out = in_image(docker_client, scratch_project, "python3 -c 'import six, sys; print(six.__file__, sys.prefix)'")
    assert out.startswith("/usr/local/lib/python3.11/dist-packages/six.py /usr"), out


def test_editable_project_from_requirements_imports_and_rebuilds_on_change(scratch_project: Path,
                                                                             docker_client) -> None:
    project = scratch_project
    (project / "mypkg").mkdir()
    (project / "mypkg" / "__init__.py").write_text("GREETING = 'one'\n")
    (project / "pyproject.toml").write_text('[project]\nname = "mypkg"\nversion = "0.1"\n'
                                            '[build-system]\nrequires = ["setuptools>=64"]\n'
                                            'build-backend = "setuptools.build_meta"\n')
    (project / "requirements.txt").write_text("-e .\nsix\n")
    (project / "build.envd").write_text(f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.python()
    install.python_packages(requirements="requirements.txt")
''')
    try:
        run_cli("up", "--progress", "quiet", cwd=project, check=True)
        out = run_cli("exec", "--", "python", "-c", "import mypkg, six; print(mypkg.GREETING, mypkg.__file__)",
                      cwd=project, check=True).stdout
        assert out.split() == ["one", "/workspace/mypkg/__init__.py"]   # the live project, as in envd
        # Unique content: an earlier session's build of the same files would be a cache hit.
        (project / "mypkg" / "__init__.py").write_text(f"GREETING = 'two'\nNONCE = {project.name!r}\n")
        (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text().replace("0.1", "0.2"))
        rebuilt = run_cli("build", "--progress", "plain", cwd=project, check=True)
        assert any("install.python_packages" in name for name in steps_run(rebuilt.stdout + rebuilt.stderr)), rebuilt.stdout + rebuilt.stderr
        listed = in_image(docker_client, project, "/opt/envtrack/venv/bin/python -m pip list 2>/dev/null")
        assert any(line.split()[:2] == ["mypkg", "0.2"] for line in listed.splitlines()), listed
        # build.envd is no package source: appending to it keeps the install cached.
        (project / "build.envd").write_text((project / "build.envd").read_text() + '    run(commands=["true"])\n')
        again = run_cli("build", "--progress", "plain", cwd=project, check=True)
        ran = steps_run(again.stdout + again.stderr)
        assert any("] run true" in name for name in ran), ran
        assert not any("install.python" in name for name in ran), ran
    finally:
        run_cli("down", cwd=project)


def steps_run(progress: str) -> list[str]:
    """The names of the vertices a `--progress plain` build ran (`#N name` ... `#N DONE`), not CACHED ones."""
    names, done = {}, []
    for line in progress.splitlines():
        number, _, rest = line.partition(" ")
        if not number.startswith("#"):
            continue
        if rest.startswith("DONE"):
            done.append(number)
        elif number not in names and not rest.startswith("CACHED") and not rest[:1].isdigit():
            names[number] = rest
    return [names.get(number, "") for number in done]


# envd's README quick start, byte for byte (github.com/tensorchord/envd, README.md, "build.envd").
ENVD_QUICK_START = '''\
def build():
    base(dev=True)
    install.conda()
    install.python()
    # Configure the pip index if needed.
    # config.pip_index(url = "https://pypi.tuna.tsinghua.edu.cn/simple")
    install.python_packages(name = [
        "numpy",
    ])
    shell("fish")
'''


def test_envd_readme_quick_start_builds_unchanged_on_ubuntu_22_04(hub_engine, tmp_path: Path) -> None:
    """ubuntu:22.04 comes from the hub Engine's Docker Hub (the loopback stand-in): the build pulls
    it when the Engine lacks it, as `envd build` does."""
    project = tmp_path / "envd-quick-start"
    project.mkdir()
    (project / "build.envd").write_text(ENVD_QUICK_START)
    # install.conda() downloads envd's Miniconda, sha256-pinned by envd: no stand-in can match it
    # (test_conda_installers.py shows that check), so this build takes the documented py-rattler conda.
    env = {**hub_engine.env(), "DOCKER_CONTEXT": "", "ENVTRACK_CONDA": "rattler"}
    try:
        run_cli("build", "--progress", "quiet", cwd=project, env=env, check=True, timeout=1800)
        out = run_cli_in_image(hub_engine, f"{names_of(project).image_repo}:latest",
                               "python --version && python -c 'import numpy; print(numpy.__name__)' && fish --version")
        assert out.splitlines()[0].startswith("Python 3.11") and "numpy" in out and "fish" in out, out
    finally:
        remove_images(hub_engine, names_of(project).image_repo)


def test_python_slim_packages_without_install_python(hub_engine, tmp_path: Path) -> None:
    project = tmp_path / "slim-packages"
    project.mkdir()
    (project / "build.envd").write_text('def build():\n    base(image="python:3.11-slim")\n'
                                        '    install.python_packages(name=["six"])\n')
    env = {**hub_engine.env(), "DOCKER_CONTEXT": ""}
    try:
        run_cli("build", "--progress", "quiet", cwd=project, env=env, check=True, timeout=1800)
        out = run_cli_in_image(hub_engine, f"{names_of(project).image_repo}:latest",
                               "python3 --version && python3 -c 'import six; print(six.__name__)'")
        assert out.startswith("Python 3.11") and "six" in out, out
    finally:
        remove_images(hub_engine, names_of(project).image_repo)


def docker_on(engine, *args: str) -> str:
    import os
    import subprocess

    proc = subprocess.run(["docker", *args], env={**os.environ, **engine.env(), "DOCKER_CONTEXT": ""},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def run_cli_in_image(engine, image: str, command: str) -> str:
    return docker_on(engine, "run", "--rm", "--entrypoint", "sh", image, "-c", command)


def remove_images(engine, repository: str) -> None:
    for ref in docker_on(engine, "images", "--format", "{{.Repository}}:{{.Tag}}", repository).split():
        docker_on(engine, "rmi", "-f", ref)
