"""Ask Open VSX and GitHub what build.envd leaves to them, before the plan is lowered.

envd asks at every build: GitHub's release list for install.codex() without a version, Open
VSX's `latest` for an extension named `publisher.name`; envtrack asks those, and for an
extension named with a version, which file publishes it (Open VSX publishes some only per
platform) (envtrack.llb.toolchains.newest_asks). Each question goes through the mirror table;
the answer is written into the plan's step (toolchains.with_newest), so lowering stays pure
and the build is what build.envd would be with that version written out. A question that gets
no usable answer fails the build in one line naming the URL, the reason and the
ENVTRACK_MIRRORS setting; nothing falls back to a default.

Every build asks, as envd's does, the one answered by its build stamp too: the stamp records
each question and its answer, and holds only while each is answered the same
(`still_answered`). A project that asks nothing asks nothing then either.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from envtrack.errors import EnvtrackError
from envtrack.frontend.steps import Plan
from envtrack.llb.toolchains import GITHUB_API, NewestAsk, newest_asks, newest_from, with_newest
from envtrack.mirrors import MirrorTable

TIMEOUT = 10   # seconds, as envd's client


def resolve_newest(plan: Plan, mirrors: MirrorTable, arch: str,
                   known: dict[str, str] | None = None) -> tuple[Plan, list[dict]]:
    """PLAN with every question answered, and the questions with their answers (for the build
    stamp). KNOWN: answers this build already got, by upstream URL (asked once per build)."""
    asks = newest_asks(plan, arch)
    if not asks:
        return plan, []
    answers, record = {}, []
    for ask in asks:
        where = _where(plan, ask)
        answers[ask] = (known or {}).get(ask.upstream) or ask_newest(ask, mirrors, where)
        record.append({"ask": ask.to_json(), "where": where, "answer": answers[ask]})
    return with_newest(plan, answers), record


def still_answered(record: list[dict], mirrors: MirrorTable) -> tuple[bool, dict[str, str]]:
    """Ask a stamp's questions again: whether each answer is the one recorded, and the answers
    (by upstream URL, for the build that follows a changed one). No questions, no network."""
    try:
        asked = [(NewestAsk.from_json(entry["ask"]), str(entry["where"]), entry["answer"]) for entry in record]
    except (KeyError, TypeError, ValueError):
        return False, {}   # a stamp that cannot say what it asked proves nothing
    answers = {ask.upstream: ask_newest(ask, mirrors, where) for ask, where, _ in asked}
    return all(answers[ask.upstream] == answer for ask, _, answer in asked), answers


def _where(plan: Plan, ask: NewestAsk) -> str:
    step = plan.steps[ask.step]
    return f"{step.position}: {step.kind}"


def ask_newest(ask: NewestAsk, mirrors: MirrorTable, where: str) -> str:
    """ASK's answer (toolchains.newest_from), asked through MIRRORS; WHERE (`file:line:col: kind`)
    starts the one line a failure is."""
    url = mirrors.rewrite(ask.upstream)
    headers = {"Accept": "application/json", "User-Agent": "envtrack"}
    if ask.upstream.startswith(GITHUB_API + "/"):
        headers["Accept"] = "application/vnd.github+json"
        token = os.environ.get("GITHUB_TOKEN", "").strip()
        if token and url == ask.upstream:   # envd's GITHUB_TOKEN, sent to GitHub itself, never to a mirror
            headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT) as response:
            answer = json.loads(response.read().decode("utf-8"))
        return newest_from(ask, answer)
    except urllib.error.HTTPError as error:
        reason = f"HTTP {error.code} {error.reason}"
    except urllib.error.URLError as error:
        reason = str(error.reason)
    except (OSError, UnicodeDecodeError, ValueError) as error:   # json's errors are ValueErrors too
        reason = str(error) or type(error).__name__
    raise EnvtrackError(f"{where}: cannot ask {url} for {ask.what}: {reason}; {mirrors.setting_hint(ask.upstream)}",
                        exit_code=1)
