"""Where sync puts what it writes, and what an emptied call leaves behind (issues 28, 23)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from envtrack.frontend import load_plan
from envtrack.journal.row import Change
from envtrack.llb.compile import compile_plan
from envtrack.sync.changes import fold_changes
from envtrack.sync.placement import misplaced
from envtrack.sync.rewrite import rewrite_source

PIP_ENV = "/usr/local/lib/python3.11/dist-packages"


def row(id_: int, manager: str, action: str, name: str, old: str | None = None, new: str | None = None) -> Change:
    """The row the journal gives sync for a record as the table holds it."""
    return Change.from_sql({"id": id_, "time": "2026-11-29T01:00:00.000Z", "manager": manager, "env": "/" if manager == "apt" else PIP_ENV,
            "action": action, "name": name, "old_version": old, "new_version": new, "requested": 1, "source": "",
            "arch": "", "build": "", "reconciled": 0, "detail": ""})


def synced(tmp_path: Path, text: str, *rows: dict):
    """The rewritten text, its notes, and its plan (checked: it lowers and reaches what sync wrote)."""
    envd = tmp_path / "build.envd"
    envd.write_text(text)
    result = rewrite_source(text, load_plan(envd), fold_changes(rows), envd_file=envd)
    envd.write_text(result.text)
    plan = load_plan(envd)
    compile_plan(plan)
    assert misplaced(plan, result.added) is None
    return result.text, [n.message for n in result.notes], plan


def kinds(plan) -> list[str]:
    return [s.kind for s in plan.steps]


def test_an_uninstall_goes_after_the_install_it_undoes_past_an_early_return(tmp_path: Path) -> None:
    text, _, plan = synced(tmp_path, (
        'FAST = False\nPKGS = ["curl"]\n\ndef build():\n    base(image="envtrack/base:bookworm")\n'
        '    if FAST:\n        return\n    install.apt_packages(name=PKGS)\n'), row(1, "apt", "remove", "curl", "7.88"))
    assert kinds(plan) == ["base", "install.apt_packages", "run"]
    assert text.endswith('    install.apt_packages(name=PKGS)\n    run(commands=["apt-get remove -y curl"])\n')


def test_new_pip_and_apt_calls_go_after_python_and_base_past_an_early_return(tmp_path: Path) -> None:
    _, _, plan = synced(tmp_path, (
        'FAST = False\n\ndef build():\n    if FAST:\n        return\n    base(image="envtrack/base:bookworm")\n'
        '    install.python()\n'), row(1, "pip", "install", "tomli", None, "2.0.1"), row(2, "apt", "install", "jq", None, "1.6"))
    assert kinds(plan) == ["base", "install.python", "install.apt_packages", "install.python_packages"]


def test_a_return_inside_a_leading_for_does_not_pull_new_calls_before_base(tmp_path: Path) -> None:
    text, _, plan = synced(tmp_path, (
        'def build():\n    for i in range(1):\n        if i == 5:\n            return\n'
        '        base(image="envtrack/base:bookworm")\n    install.python()\n'), row(1, "pip", "install", "six", None, "1.16.0"))
    assert kinds(plan) == ["base", "install.python", "install.python_packages"]
    assert text.endswith('    install.python()\n    install.python_packages(name=["six==1.16.0"])\n')


def test_new_calls_stay_before_a_final_return_and_after_a_helper_that_makes_steps(tmp_path: Path) -> None:
    text, _, plan = synced(tmp_path, (
        'def tools():\n    install.apt_packages(name=["jq"])\n\ndef build():\n'
        '    base(image="envtrack/base:bookworm")\n    tools()\n    if True:\n        return\n'), row(1, "apt", "install", "tree", None, "2.1"))
    assert kinds(plan) == ["base", "install.apt_packages", "install.apt_packages"]
    assert '    tools()\n    install.apt_packages(name=["tree=2.1"])\n    if True:\n' in text


def test_emptying_a_call_whose_other_arguments_are_defaults_removes_it(tmp_path: Path) -> None:
    text, notes, plan = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
        '    install.python_packages(name=["six"], requirements="", local_wheels=[])\n    run(commands=["true"])\n'),
        row(1, "pip", "remove", "six", "1.16.0"))
    assert "python_packages" not in text and kinds(plan) == ["base", "install.python", "run"]


def test_emptying_a_call_that_still_reads_requirements_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("tomli\n")
    text, _, _ = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
        '    install.python_packages(name=["six"], requirements="requirements.txt")\n'), row(1, "pip", "remove", "six", "1.16.0"))
    assert 'install.python_packages(name=[], requirements="requirements.txt")' in text


def test_comments_on_the_lines_of_an_emptied_call_are_kept(tmp_path: Path) -> None:
    text, _, _ = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n'
        '    install.apt_packages(  # call comment\n        name=[\n            "jq",\n        ],\n    )\n'
        '    run(commands=["true"])\n'), row(1, "apt", "remove", "jq", "1.6"))
    assert text == 'def build():\n    base(image="envtrack/base:bookworm")\n    # call comment\n    run(commands=["true"])\n'


def test_pip_on_a_base_with_another_python_gets_the_python_that_base_ships(tmp_path: Path) -> None:
    """envd's default base, ubuntu:22.04, ships 3.10: install.python()'s 3.11 cannot be met there."""
    text, notes, plan = synced(tmp_path, 'def build():\n    base(image="ubuntu:22.04")\n',
                               row(1, "pip", "install", "tomli", None, "2.0.1"))
    assert '    install.python(version="3.10")\n    install.python_packages(name=["tomli==2.0.1"])\n' in text
    assert any("ubuntu:22.04 ships Python 3.10" in n for n in notes)


def test_pip_on_the_default_base_gets_the_default_python(tmp_path: Path) -> None:
    text, _, _ = synced(tmp_path, 'def build():\n    base(image="envtrack/base:bookworm")\n',
                        row(1, "pip", "install", "tomli", None, "2.0.1"))
    assert "    install.python()\n" in text


def test_the_placement_check_names_an_uninstall_before_its_install(tmp_path: Path) -> None:
    from envtrack.sync.result import Added

    envd = tmp_path / "build.envd"
    envd.write_text('def build():\n    base(image="envtrack/base:bookworm")\n    run(commands=["apt-get remove -y curl"])\n'
                    '    install.apt_packages(name=["curl"])\n')
    problem = misplaced(load_plan(envd), (Added("apt", "curl", command="apt-get remove -y curl"),))
    assert problem == "run('apt-get remove -y curl') would run before the install of curl at line 4"
    assert "never reached" in misplaced(load_plan(envd), (Added("apt", "jq", entry="jq"),))


# -- issue 23: edits at the value's source ------------------------------------------------

def test_a_removal_from_a_module_variable_is_edited_where_the_list_is_written(tmp_path: Path) -> None:
    text, notes, plan = synced(tmp_path, (
        'TOOLS = ["jq", "less"]\n\ndef build():\n    base(image="envtrack/base:bookworm")\n'
        '    install.apt_packages(name=TOOLS)\n'), row(1, "apt", "remove", "less", "590"))
    assert text.startswith('TOOLS = ["jq"]\n') and "run(" not in text
    assert "line 1 (variable TOOLS of the call at line 5): removed apt less" in notes


def test_a_version_change_in_a_helper_called_once_is_edited_in_the_helper(tmp_path: Path) -> None:
    text, notes, _ = synced(tmp_path, (
        'def py():\n    install.python_packages(name=["six==1.15.0"])\n\ndef build():\n'
        '    base(image="envtrack/base:bookworm")\n    install.python()\n    py()\n'),
        row(1, "pip", "upgrade", "six", "1.15.0", "1.16.0"))
    assert '    install.python_packages(name=["six==1.16.0"])\n' in text and text.count("six") == 1


def test_a_removal_from_a_loop_over_a_literal_is_edited_in_the_loop(tmp_path: Path) -> None:
    text, _, plan = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n    for p in ["jq", "less"]:\n'
        '        install.apt_packages(name=[p])\n'), row(1, "apt", "remove", "less", "590"))
    assert '    for p in ["jq"]:\n' in text and "run(" not in text
    assert [s.args["name"] for s in plan.steps[1:]] == [["jq"]]


LOOP_OF_GROUPS = ('def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
                  '    for group in [\n        ["six==1.15.0", "tomli==2.0.1"],\n        ["idna==3.4"],\n    ]:\n'
                  '        install.python_packages(name=group)\n')


def test_a_version_change_in_a_loop_over_lists_is_edited_in_its_inner_list(tmp_path: Path) -> None:
    text, notes, plan = synced(tmp_path, LOOP_OF_GROUPS, row(1, "pip", "upgrade", "idna", "3.4", "3.6"),
                               row(2, "pip", "remove", "tomli", "2.0.1"))
    assert '        ["six==1.15.0"],\n        ["idna==3.6"],\n' in text and "run(" not in text, text
    assert [s.args["name"] for s in plan.steps[2:]] == [["six==1.15.0"], ["idna==3.6"]]
    assert "line 6 (loop list of the call at line 8): idna==3.4 -> idna==3.6" in notes, notes


def test_an_inner_list_emptied_by_removals_leaves_the_loop(tmp_path: Path) -> None:
    text, notes, plan = synced(tmp_path, LOOP_OF_GROUPS, row(1, "pip", "remove", "idna", "3.4"))
    assert '    for group in [\n        ["six==1.15.0", "tomli==2.0.1"],\n    ]:\n' in text and "run(" not in text, text
    assert [s.args["name"] for s in plan.steps[2:]] == [["six==1.15.0", "tomli==2.0.1"]]
    assert "line 6 (loop list of the call at line 8): removed pip idna==3.4" in notes, notes


def test_a_loop_over_lists_read_elsewhere_too_is_appended_to(tmp_path: Path) -> None:
    text, notes, _ = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
        '    for group in [["six==1.15.0"], ["idna==3.4"]]:\n        install.python_packages(name=group)\n'
        '        install.python_packages(name=group)\n'), row(1, "pip", "remove", "idna", "3.4"))
    assert '[["six==1.15.0"], ["idna==3.4"]]' in text and text.endswith('    run(commands=["pip uninstall -y idna"])\n')


def test_a_conda_package_from_a_url_channel_gets_a_call_naming_that_channel(tmp_path: Path) -> None:
    url = "http://172.17.0.1:8000/channel"
    hello = replace(row(1, "conda", "install", "envtrack-hello", None, "1.0"), env="/opt/conda/envs/envd", source=url,
                 detail={"channels": [url]})
    other = replace(row(2, "conda", "install", "scratch", None, "2.0"), env="/opt/conda/envs/ml", source="conda-forge")
    text, notes, plan = synced(tmp_path, (
        'def build():\n    base(image="envtrack/base:bookworm")\n    install.conda(use_mamba=True)\n'
        '    install.conda_packages(name=["envtrack-extra"])\n'), hello, other)
    assert '    install.conda_packages(name=["envtrack-extra"])\n    install.conda_packages(name=[\n' \
        f'        "envtrack-hello=1.0",\n    ], channel=["{url}"])\n' in text, text
    assert plan.steps[-2].args["channel"] == [url]
    # Another conda environment is created by a run, with what was asked for there.
    assert plan.steps[-1].args["commands"] == ["conda create -y -n ml conda-forge::scratch=2.0"], text
    assert any("scratch" in n and "conda environment ml" in n for n in notes), notes


def test_a_pipx_app_is_written_as_a_pipx_run_after_the_install_that_brings_pipx(tmp_path: Path) -> None:
    venv = "/home/envd/.local/share/pipx/venvs/pycowsay/lib/python3.11/site-packages"
    rows = [replace(row(1, "pip", "install", "pipx", None, "1.7.1"), env="/opt/envtrack/venv/lib/python3.11/site-packages"),
            replace(row(2, "pip", "install", "pycowsay", None, "0.0.0.2"), env=venv),
            replace(row(3, "pip", "install", "colorama", None, "0.4.6"), env=venv, requested=False)]
    text, notes, plan = synced(tmp_path, 'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n',
                               *rows)
    assert kinds(plan) == ["base", "install.python", "install.python_packages", "run"]
    assert plan.steps[2].args["name"] == ["pipx==1.7.1"] and "colorama" not in text
    assert plan.steps[3].args["commands"] == ["PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install pycowsay==0.0.0.2"]
    again = rewrite_source(text, load_plan(tmp_path / "build.envd"), fold_changes(rows[1:]), envd_file=tmp_path / "build.envd")
    assert again.text == text, "a second sync of the same app adds nothing"


def test_a_variable_that_feeds_several_calls_is_appended_to_with_the_reason(tmp_path: Path) -> None:
    text, notes, _ = synced(tmp_path, (
        'TOOLS = ["jq", "less"]\n\ndef build():\n    base(image="envtrack/base:bookworm")\n'
        '    install.apt_packages(name=TOOLS)\n    install.apt_packages(name=TOOLS)\n'), row(1, "apt", "remove", "less", "590"))
    assert text.startswith('TOOLS = ["jq", "less"]\n')
    assert text.endswith('    run(commands=["apt-get remove -y less"])\n')
    assert any("the name list TOOLS is read elsewhere too" in n for n in notes)


def test_a_variable_emptied_by_removals_stays_and_the_removal_is_appended(tmp_path: Path) -> None:
    text, notes, _ = synced(tmp_path, (
        'TOOLS = ["less"]\n\ndef build():\n    base(image="envtrack/base:bookworm")\n'
        '    install.apt_packages(name=TOOLS)\n'), row(1, "apt", "remove", "less", "590"))
    assert text.startswith('TOOLS = ["less"]\n') and text.endswith('    run(commands=["apt-get remove -y less"])\n')
    assert any("would leave variable TOOLS empty" in n for n in notes)


def test_python_modules_that_came_with_an_apt_package_are_written_as_that_package(tmp_path: Path) -> None:
    """`apt-get install python3-pip` fills Debian's own site with pip, setuptools and wheel, which
    the agent sees as top-level pip packages; the apt call reproduces them, so they are no pins."""
    dpkg_site = "/usr/lib/python3/dist-packages"
    rows = [row(1, "apt", "install", "python3-pip", None, "23.0.1+dfsg-1")]
    rows += [replace(row(n, "pip", "install", name, None, "1.0"), env=dpkg_site)
             for n, name in enumerate(("pip", "setuptools", "wheel"), 2)]
    rows.append(row(5, "pip", "install", "tomli", None, "2.0.1"))   # pip's own site: written as before
    text, _, _ = synced(tmp_path, 'def build():\n    base(image="envtrack/base:bookworm")\n', *rows)
    assert '"python3-pip=23.0.1+dfsg-1"' in text and '"tomli==2.0.1"' in text, text
    assert "setuptools" not in text and "wheel" not in text and '"pip==' not in text, text


PIPX = "PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx"
PIPX_SITE = "/opt/pipx/venvs/{}/lib/python3.11/site-packages"


def test_pipx_upgrades_and_uninstalls_edit_the_pipx_calls_where_they_are_written(tmp_path: Path) -> None:
    envd = (f'APPS = ["{PIPX} install pyjokes==0.8.2", "{PIPX} install black==24.1.0"]\n\n'
            'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
            '    install.python_packages(name=["pipx"])\n'
            f'    run(commands=["{PIPX} install pycowsay==0.0.0.1"])  # the cow\n'
            '    run(commands=APPS)\n')
    rows = [replace(row(1, "pip", "upgrade", "pycowsay", "0.0.0.1", "0.0.0.2"), env=PIPX_SITE.format("pycowsay")),
            replace(row(2, "pip", "remove", "pyjokes", "0.8.2", None), env=PIPX_SITE.format("pyjokes")),
            replace(row(3, "pip", "remove", "pipx", "1.7.1", None), env=PIPX_SITE.format("pyjokes")),  # not build.envd's pipx
            replace(row(4, "pip", "install", "colorama", None, "0.4.6"), env=PIPX_SITE.format("black"))]
    text, notes, plan = synced(tmp_path, envd, *rows)
    assert text.startswith(envd.replace("pycowsay==0.0.0.1", "pycowsay==0.0.0.2").replace(
        f'"{PIPX} install pyjokes==0.8.2", ', "")), text
    assert plan.steps[-1].args["commands"] == [f"{PIPX} inject black colorama==0.4.6"]
    # The last app of a run goes with its call (and the call's own same-line comment).
    rows = [replace(row(5, "pip", "remove", "pycowsay", "0.0.0.2", None), env=PIPX_SITE.format("pycowsay"))]
    text, _, plan = synced(tmp_path, text, *rows)
    assert "pycowsay" not in text and "# the cow" not in text and kinds(plan).count("run") == 2, text
    assert text.count("colorama") == 1, "a second sync adds nothing it wrote"


def test_a_pipx_call_that_cannot_be_edited_is_followed_by_one_that_forces_the_new_version(tmp_path: Path) -> None:
    envd = ('def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n'
            '    install.python_packages(name=["pipx"])\n'
            f'    for v in ["0.0.0.1"]:\n        run(commands=["{PIPX} install pycowsay==" + v])\n')
    rows = [replace(row(1, "pip", "upgrade", "pycowsay", "0.0.0.1", "0.0.0.2"), env=PIPX_SITE.format("pycowsay"))]
    text, notes, plan = synced(tmp_path, envd, *rows)
    assert plan.steps[-1].args["commands"] == [f"{PIPX} install --force pycowsay==0.0.0.2"], text


def test_pipx_calls_get_a_pipx_when_build_envd_installs_none(tmp_path: Path) -> None:
    rows = [replace(row(1, "pip", "install", "pycowsay", None, "0.0.0.2"), env=PIPX_SITE.format("pycowsay"))]
    text, notes, plan = synced(tmp_path, 'def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n',
                               *rows)
    assert kinds(plan) == ["base", "install.python", "install.python_packages", "run"]
    assert plan.steps[2].args["name"] == ["pipx"] and any("installs none" in n for n in notes), notes


def test_another_venv_and_conda_environment_are_created_by_a_run_with_what_was_asked_there(tmp_path: Path) -> None:
    site = "/opt/v2/lib/python3.11/site-packages"
    detail = {"python": "/usr/bin/python3.11"}
    rows = [replace(row(1, "pip", "install", "tomli", None, "2.0.1"), env=site, detail=detail),
            replace(row(2, "pip", "install", "six", None, "1.16.0"), env=site, detail=detail, requested=False),
            replace(row(3, "conda", "install", "envtrack-hello", None, "1.0"), env="/opt/conda/envs/other",
                    source="http://127.0.0.1:1/own", detail={"channels": ["http://127.0.0.1:1/own"]}),
            replace(row(4, "pip", "remove", "tomli", "2.0.0", None), env="/opt/v3/lib/python3.11/site-packages")]
    envd = ('def build():\n    base(image="envtrack/base:bookworm")\n    install.python()\n    install.conda(use_mamba=True)\n'
            '    install.python_packages(name=["tomli==2.0.0"])\n')
    text, notes, plan = synced(tmp_path, envd, *rows)
    assert plan.steps[-1].args["commands"] == [
        "/usr/bin/python3.11 -m venv /opt/v2", "/opt/v2/bin/python -m pip install tomli==2.0.1",
        "conda create -y -n other -c http://127.0.0.1:1/own envtrack-hello=1.0"], text
    assert '"tomli==2.0.0"' in text, "a removal in another venv is no removal of build.envd's"
    # Once the file creates it, later changes there are installs and removals into it.
    rows = [replace(row(5, "pip", "remove", "tomli", "2.0.1", None), env=site, detail=detail),
            replace(row(6, "pip", "install", "iniconfig", None, "2.0.0"), env=site, detail=detail)]
    text, notes, plan = synced(tmp_path, text, *rows)
    assert plan.steps[-1].args["commands"] == ["/opt/v2/bin/python -m pip install iniconfig==2.0.0",
                                               "/opt/v2/bin/python -m pip uninstall -y tomli"], text
