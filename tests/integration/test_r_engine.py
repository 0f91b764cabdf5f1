"""R on the real Engine: install.r_lang() on a Debian base is r-base from the base's own Debian
archive, and install.r_packages() installs from a CRAN-like stand-in (tests/support/downloads.py)
that ENVTRACK_MIRRORS points envd's CRAN URL (cran.rstudio.com) at."""

from __future__ import annotations

import json

import pytest

from conftest import BASE_IMAGE, run_cli
from support.downloads import Upstreams

# install.r_lang() apt-installs r-base with --no-install-recommends, as envd's r.go does; the test
# builds exactly that, not a smaller r-base-core, so it shows the builtin a user gets (on
# bookworm about 75 MB of .debs, 20 MB more than r-base-core alone; a rebuild finds them in the
# apt cache mount).
R_PROJECT = f'''\
def build():
    base(image="{BASE_IMAGE}")
    install.r_lang()
    install.r_packages(name=["envtrackhello"])
'''


@pytest.fixture()
def project(scratch_project):
    """conftest's project directory: `down` and its images removed afterwards."""
    return scratch_project


def test_r_from_debian_and_a_package_from_the_mirrored_cran(project, tmp_path, docker_client) -> None:
    upstreams = Upstreams(tmp_path / "upstreams")
    upstreams.cran_package("envtrackhello", "0.1.0", 'hello <- function() "hello from the stand-in CRAN"\n')
    (project / "build.envd").write_text(R_PROJECT)
    with upstreams.serve() as mirrors:
        proc = run_cli("build", "--progress", "quiet", "--json", cwd=project, env={"ENVTRACK_MIRRORS": mirrors},
                       check=True, timeout=1800)
    image = json.loads(proc.stdout)["image"]
    out = docker_client.containers.run(image, entrypoint=["sh", "-c",
        "R --version | head -1; Rscript -e 'writeLines(envtrackhello::hello())'; "
        "ls /usr/local/lib/R/site-library"], remove=True).decode()
    lines = out.splitlines()
    assert lines[0].startswith("R version 4."), out
    assert "hello from the stand-in CRAN" in lines and "envtrackhello" in lines, out


def test_a_package_the_mirrored_cran_lacks_fails_the_step_in_one_line(project, tmp_path) -> None:
    upstreams = Upstreams(tmp_path / "upstreams")
    upstreams.cran_package("envtrackhello", "0.1.0", 'hello <- function() "hi"\n')
    (project / "build.envd").write_text(R_PROJECT.replace('"envtrackhello"', '"notthere"'))
    with upstreams.serve() as mirrors:
        proc = run_cli("build", "--progress", "quiet", "--json", cwd=project, env={"ENVTRACK_MIRRORS": mirrors},
                       timeout=1800)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "build.envd:4:5: install.r_packages: R could not install notthere from http://172.17.0.1:" in lines[0], lines
    assert "mirrored by https://cran.rstudio.com/=" in lines[0], lines
