"""Records faults from issue 29: secrets without a scheme, conda token channels, and a wheel
whose install a crash cut short."""

from __future__ import annotations

import os
import time
from pathlib import Path

from envtrack.records.dist_info import NO_INSTALLER_GRACE_SECONDS, read_site
from envtrack.records.redact import redact_text, redact_url


def test_an_apt_proxy_without_a_scheme_is_masked() -> None:
    for line, secret in (("apt-get -o Acquire::http::Proxy=user:S3CRET@proxy:3128 install jq", "S3CRET"),
                         ('apt-get -o Acquire::https::Proxy="u:S3CRET@proxy" install jq', "S3CRET"),
                         ("apt-get -o 'Acquire::http::Proxy=u:S3CRET@10.0.0.1:3128' install jq", "S3CRET")):
        masked = redact_text(line)
        assert secret not in masked and ":****@" in masked, masked
    assert redact_text("pip install a==1.0 git@github.com:org/repo") == "pip install a==1.0 git@github.com:org/repo"


def test_a_conda_token_channel_is_masked() -> None:
    url = "https://conda.anaconda.org/t/ab-12_S3CRET/mychannel/linux-64/pkg-1.0-0.tar.bz2"
    assert redact_url(url) == "https://conda.anaconda.org/t/****/mychannel/linux-64/pkg-1.0-0.tar.bz2"
    assert redact_url("https://host/at/x/") == "https://host/at/x/"
    channel = "https://conda.anaconda.org/t/ab-12_S3CRET/mychannel"
    assert redact_text(f"conda install -c {channel} pkg") == "conda install -c https://conda.anaconda.org/t/****/mychannel pkg"


def dist_info(site: Path, name: str, version: str, *, requires: tuple[str, ...] = (), installer: str | None = None,
              age: float = 0.0) -> Path:
    path = site / f"{name}-{version}.dist-info"
    path.mkdir(parents=True)
    (path / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires) + "\n")
    (path / "RECORD").write_text(f"{path.name}/METADATA,,\n"
                                 + (f"{path.name}/INSTALLER,,\n" if installer else ""))
    if installer:
        (path / "INSTALLER").write_text(installer + "\n")
    stamp = time.time() - age
    os.utime(path / "RECORD", (stamp, stamp))
    return path


def test_a_dependency_cut_short_by_a_crash_never_becomes_requested(tmp_path: Path) -> None:
    site = tmp_path / "opt" / "venv" / "lib" / "python3.11" / "site-packages"
    # pip extracted numpy's wheel (RECORD, no INSTALLER yet) and was killed; the package that
    # wanted numpy never got its own dist-info. After the grace period numpy is read, but as a dependency.
    dist_info(site, "numpy", "2.1.0", age=NO_INSTALLER_GRACE_SECONDS + 60)
    dist_info(site, "six", "1.16.0", installer="pip")
    (site / "six-1.16.0.dist-info" / "REQUESTED").write_text("")
    found = {p.name: p.requested for p in read_site(str(tmp_path), str(site))}
    assert found == {"numpy": False, "six": True}, found
