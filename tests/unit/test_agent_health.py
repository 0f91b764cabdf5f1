"""How the host ages the agent's heartbeat from its status file."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from envtrack.container.health import _age


def test_the_unix_heartbeat_gives_the_age() -> None:
    assert 19.0 < _age({"heartbeat_unix": time.time() - 20}) < 21.0


def test_an_older_agent_is_aged_by_its_iso_stamp() -> None:
    then = datetime.now(timezone.utc) - timedelta(seconds=90)
    stamp = then.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (then.microsecond // 1000)
    assert 89.0 < _age({"heartbeat": stamp}) < 91.0


def test_a_clock_ahead_is_no_negative_age_and_junk_is_unknown() -> None:
    assert _age({"heartbeat_unix": time.time() + 60}) == 0.0
    assert _age({"heartbeat_unix": True, "heartbeat": "not a time"}) is None
    assert _age({}) is None
