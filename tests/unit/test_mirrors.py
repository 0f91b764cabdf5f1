"""The download mirror table: longest prefix wins, the environment beats the config file."""

import pytest

from envtrack import mirrors


def test_longest_prefix_wins_and_unmatched_urls_stay():
    table = mirrors.combine("https://go.dev/=http://m/all/ https://go.dev/dl/=http://m/go/", None, "cfg")
    assert table.rewrite("https://go.dev/dl/go1.22.1.linux-amd64.tar.gz") == "http://m/go/go1.22.1.linux-amd64.tar.gz"
    assert table.rewrite("https://go.dev/doc/") == "http://m/all/doc/"
    assert table.rewrite("https://nodejs.org/dist/v20.0.0/") == "https://nodejs.org/dist/v20.0.0/"


def test_environment_pairs_override_the_config_file_for_the_same_prefix(tmp_path):
    config = tmp_path / "envtrack" / "config.toml"
    config.parent.mkdir()
    config.write_text('[mirrors]\n"https://go.dev/dl/" = "http://file/go/"\n"https://nodejs.org/" = "http://file/node/"\n')
    table = mirrors.load({"XDG_CONFIG_HOME": str(tmp_path), "ENVTRACK_MIRRORS": "https://go.dev/dl/=http://env/go/"})
    assert table.rewrite("https://go.dev/dl/x") == "http://env/go/x"
    assert table.rewrite("https://nodejs.org/dist/x") == "http://file/node/dist/x"
    assert table.sources == ("ENVTRACK_MIRRORS", str(config))


@pytest.mark.parametrize("text", ["https://go.dev/dl/", "=http://m/", "https://go.dev/="])
def test_a_malformed_pair_is_an_error_naming_the_variable(text):
    with pytest.raises(mirrors.MirrorError, match="ENVTRACK_MIRRORS"):
        mirrors.combine(text, None, "cfg")


def test_a_hint_names_the_setting_that_would_redirect_a_url():
    table = mirrors.combine(None, None, "cfg")
    assert "ENVTRACK_MIRRORS=" in table.setting_hint("https://nodejs.org/dist/v20.0.0/node.tar.xz")
    assert not table
