"""Two teammates share an environment through a real loopback registry: A pushes, B pulls and
runs it without building, A installs a package at runtime and pushes again, and `diff`
compares the pushed environments with B's and with each other without running them."""

from __future__ import annotations

import json
import subprocess
import uuid

from conftest import BASE_IMAGE, names_of, project_dir, run_cli


def test_two_teammates_share_run_and_compare_environments_through_a_registry(open_registry, docker_client,
                                                                               tmp_path_factory):
    repo = open_registry.ref(f"team/env-{uuid.uuid4().hex[:6]}")
    first, second = f"{repo}:1", f"{repo}:2"
    text = f'def build():\n    base(image="{BASE_IMAGE}")\n    run(commands=["echo shared > /shared"])\n'
    with project_dir(docker_client, tmp_path_factory, "alice", text) as alice:
        try:
            with project_dir(docker_client, tmp_path_factory, "bob", "", up=False) as bob:
                (bob / "build.envd").unlink()   # bob starts from nothing but the reference
                pushed = run_cli("push", first, cwd=alice, check=True)
                assert f"pushed {first}@sha256:" in pushed.stdout and "running container" in pushed.stdout

                pulled = run_cli("pull", first, cwd=bob, check=True)
                assert "wrote build.envd, envtrack.lock" in pulled.stdout
                assert (bob / "build.envd").read_text() == text
                up = run_cli("up", "--from", first, "--progress", "quiet", cwd=bob, check=True)
                assert first in up.stdout
                assert not list(docker_client.images.list(name=names_of(bob).image_repo))   # nothing was built
                shared = run_cli("exec", "--", "cat", "/shared", cwd=bob, check=True)
                assert shared.stdout.strip() == "shared"
                same = run_cli("diff", first, ".", cwd=bob)
                assert same.returncode == 0, same.stdout + same.stderr

                run_cli("exec", "--", "apt-get", "install", "-y", "-q", "tree", cwd=alice, check=True)   # at runtime
                run_cli("push", second, cwd=alice, check=True)
                labels = docker_client.images.get(second).labels
                assert '"name": "tree"' in labels["envtrack.lock"] and labels["envtrack.envd"] == text

                ahead = run_cli("diff", second, ".", "--json", cwd=bob)
                assert ahead.returncode == 1, ahead.stdout + ahead.stderr
                apt = [group for group in json.loads(ahead.stdout)["groups"] if group["manager"] == "apt"]
                assert [p["name"] for p in apt[0]["removed"]] == ["tree"] and not apt[0]["added"] + apt[0]["changed"]
                between = run_cli("diff", first, second, cwd=bob)
                assert between.returncode == 1 and "tree" in between.stdout, between.stdout

                run_cli("up", "--from", second, "--progress", "quiet", cwd=bob, check=True)   # B takes A's new state
                assert run_cli("exec", "--", "tree", "--version", cwd=bob).returncode == 0
                assert run_cli("diff", second, ".", cwd=bob).returncode == 0
        finally:   # the pushed images are children of alice's: untagged before her image goes
            for ref in (first, second):
                subprocess.run(["docker", "rmi", "--no-prune", ref], capture_output=True)
