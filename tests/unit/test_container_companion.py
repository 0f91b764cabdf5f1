"""The companion agent container's spec (pure): it shares the environment's PID namespace
and hostname and watches the environment's filesystem through /proc/1/root."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from envtrack.container.companion import AGENT_IMAGE, AGENT_IMAGE_ENV, ENV_ROOT, companion_spec
from envtrack.project import Project


def test_the_companion_joins_the_environment_and_reads_its_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(AGENT_IMAGE_ENV, raising=False)
    (tmp_path / "build.envd").write_text("def build():\n    pass\n")
    project = Project.find(tmp_path)
    env = SimpleNamespace(id="0123456789abcdef", attrs={"Config": {"Hostname": "0123456789ab"}})
    kwargs = companion_spec(project, env).run_kwargs()
    assert kwargs["name"] == f"{project.container_name}-agent" and kwargs["image"] == AGENT_IMAGE
    assert kwargs["pid_mode"] == "container:0123456789abcdef" and kwargs["hostname"] == "0123456789ab"
    assert kwargs["network_mode"] == "none"
    assert f"--root {ENV_ROOT}" in kwargs["command"][-1]
    assert kwargs["volumes_from"] == ["0123456789abcdef"]   # the state directory at the same path
    assert f"PYTHONPATH={ENV_ROOT}/opt/envtrack-agent" in kwargs["command"][-1]
    assert "--state /envtrack-state" in kwargs["command"][-1]
    monkeypatch.setenv(AGENT_IMAGE_ENV, "mine/agent:1")
    assert companion_spec(project, env).run_kwargs()["image"] == "mine/agent:1"
