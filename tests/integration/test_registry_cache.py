"""`build --cache-to/--cache-from REF`: a build cache shared through a real loopback registry
between two Engines, and one line where the Engine's BuildKit cannot export one."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

from conftest import BASE_IMAGE, names_of, run_cli


def test_a_cache_exported_on_one_engine_makes_the_step_cached_on_another(open_registry, mergeop_engine, hub_engine,
                                                                         tmp_path):
    nonce = uuid.uuid4().hex   # a step no Engine has built
    project = tmp_path / f"cache-{nonce[:6]}"
    project.mkdir()
    (project / "build.envd").write_text(f'def build():\n    base(image="{BASE_IMAGE}")\n'
                                        f'    run(commands=["echo {nonce} > /nonce"])\n')
    cache = open_registry.ref(f"cache/{project.name}:main")
    exporter = {**mergeop_engine.env(), "DOCKER_CONTEXT": ""}   # containerd image store: exports
    importer = {**hub_engine.env(), "DOCKER_CONTEXT": ""}       # graph-driver store: imports only
    try:
        exported = run_cli("build", "--progress", "plain", "--cache-to", cache, cwd=project, env=exporter)
        assert exported.returncode == 0, exported.stderr
        assert "exporting cache" in exported.stderr and open_registry.manifest_digest(f"cache/{project.name}", "main")

        imported = run_cli("build", "--progress", "plain", "--cache-from", cache, "--json", cwd=project, env=importer)
        assert imported.returncode == 0, imported.stderr
        states = {step["label"]: step["state"] for step in json.loads(imported.stdout)["steps"]}
        assert states[f"run echo {nonce} > /nonce"] == "cached", imported.stderr

        refused = run_cli("build", "--progress", "plain", "--cache-to", f"{cache}-hub", cwd=project, env=importer)
        assert refused.returncode == 0, refused.stderr   # the build goes on, saying why in one line
        said = [line for line in refused.stderr.splitlines() if "cannot export a build cache" in line]
        assert len(said) == 1 and said[0].endswith(f"building without --cache-to {cache}-hub"), refused.stderr
    finally:
        for env in (exporter, importer):
            engine = {**os.environ, **env}
            built = subprocess.run(["docker", "images", "-q", names_of(project).image_repo], capture_output=True,
                                   text=True, env=engine).stdout.split()
            for image in built:
                subprocess.run(["docker", "rmi", "-f", image], capture_output=True, env=engine)
