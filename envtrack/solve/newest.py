"""Ask Open VSX and GitHub what build.envd leaves to them, before the plan is lowered.

envd asks at build time too: GitHub's release list for install.codex() without a version, Open
VSX's `latest` for an extension named `publisher.name`; envtrack asks those, and for an
extension named with a version, which file publishes it (Open VSX publishes some only per
platform) (envtrack.llb.toolchains.newest_asks).
Each question goes through the mirror table; the answer is written into the plan's step
(toolchains.with_newest), so lowering stays pure and the build is what build.envd would be with
that version written out. A question that gets no usable answer fails the build in one line
naming the URL, the reason and the ENVTRACK_MIRRORS setting; nothing falls back to a default.
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


def resolve_newest(plan: Plan, mirrors: MirrorTable, arch: str) -> Plan:
    asks = newest_asks(plan, arch)
    if not asks:
        return plan
    return with_newest(plan, {ask: ask_newest(plan, ask, mirrors) for ask in asks})


def ask_newest(plan: Plan, ask: NewestAsk, mirrors: MirrorTable) -> str:
    step = plan.steps[ask.step]
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
    raise EnvtrackError(f"{step.position}: {step.kind}: cannot ask {url} for {ask.what}: {reason}; "
                        f"{mirrors.setting_hint(ask.upstream)}", exit_code=1)
