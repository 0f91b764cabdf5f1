"""Requirement strings: split for re-pinning, and formatted per pin mode."""

from __future__ import annotations

import pytest

from envtrack.requirements import format_requirement, parse_requirement


@pytest.mark.parametrize(("manager", "text", "name", "head", "tail"), [
    ("pip", "six", "six", "six", ""),
    ("pip", "Typing_Extensions>=4", "typing-extensions", "Typing_Extensions", ""),
    ("pip", "requests[socks]==2.31.0", "requests", "requests[socks]", ""),
    ("pip", "tomli==2.0.1 ; python_version < '3.11'", "tomli", "tomli", "; python_version < '3.11'"),
    ("apt", "jq", "jq", "jq", ""),
    ("apt", "libc6:amd64=2.36-9", "libc6", "libc6:amd64", ""),
    ("conda", "conda-forge::numpy=1.26", "numpy", "conda-forge::numpy", ""),
    ("conda", "numpy >=1.20", "numpy", "numpy", ""),
])
def test_parse_keeps_what_a_repin_must_keep(manager, text, name, head, tail):
    requirement = parse_requirement(manager, text)
    assert (requirement.name, requirement.head, requirement.tail) == (name, head, tail)


def test_a_path_is_not_a_requirement():
    assert parse_requirement("pip", "./local/pkg") is None


@pytest.mark.parametrize(("manager", "pin", "expected"), [
    ("pip", "exact", "pkg==1.2.3"), ("pip", "compatible", "pkg~=1.2.3"), ("pip", "none", "pkg"),
    ("apt", "exact", "pkg=1.2.3"), ("apt", "compatible", "pkg"), ("apt", "none", "pkg"),
    ("conda", "exact", "pkg=1.2.3"), ("conda", "compatible", "pkg=1.2"), ("conda", "none", "pkg"),
])
def test_pin_modes(manager, pin, expected):
    assert format_requirement("pkg", manager, "1.2.3", pin) == expected


def test_marker_and_url_forms():
    assert format_requirement("tomli", "pip", "2.0.1", "exact", tail="; python_version < '3.11'") == \
        "tomli==2.0.1; python_version < '3.11'"
    assert format_requirement("lib", "pip", "1.0", "exact", url="git+https://example.org/lib@abc") == \
        "lib @ git+https://example.org/lib@abc"
