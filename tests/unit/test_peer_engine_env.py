"""The peer Engine helper reads the script's printed variables into client settings."""

import pytest
from support.peer_engine import PeerEngine, parse_env

PRINTED = """# unix socket
ENVTRACK_PEER_UNIX=unix:///run/envtrack-peer/peer/docker.sock
ENVTRACK_PEER_TCP=tcp://127.0.0.1:23760
DOCKER_CERT_PATH=/var/lib/envtrack-peer/peer/client
DOCKER_TLS_VERIFY=1
# ssh (needs x=y)
ENVTRACK_PEER_SSH=ssh://root@127.0.0.1:23722
"""


def peer() -> PeerEngine:
    values = parse_env(PRINTED)
    return PeerEngine(values["ENVTRACK_PEER_UNIX"], values["ENVTRACK_PEER_TCP"],
                      values["DOCKER_CERT_PATH"], values["ENVTRACK_PEER_SSH"])


def test_comments_are_not_variables():
    assert len(parse_env(PRINTED)) == 5


def test_each_transport_sets_what_docker_clients_read():
    engine = peer()
    assert engine.unix_socket == "/run/envtrack-peer/peer/docker.sock"
    assert engine.env("tcp") == {"DOCKER_HOST": "tcp://127.0.0.1:23760", "DOCKER_TLS_VERIFY": "1",
                                 "DOCKER_CERT_PATH": "/var/lib/envtrack-peer/peer/client"}
    assert engine.env("ssh") == {"DOCKER_HOST": "ssh://root@127.0.0.1:23722"}
    with pytest.raises(ValueError):
        engine.env("http")
