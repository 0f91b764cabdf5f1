"""Downloads without a checksum, asked again at every build, as BuildKit's HTTP source asks.

An io.http without a checksum names a URL whose bytes may change behind it. `docker build`
and envd re-ask BuildKit at every build; BuildKit asks the server again and rebuilds what
follows a changed file. envtrack answers an unchanged project from its build stamp or its
image tag without a solve, so it asks first: each such URL's validator (the server's ETag,
else Last-Modified with Content-Length, the headers BuildKit's own revalidation rests on)
goes into the image tag and the stamp. A changed validator is a new tag, so the build solves
and BuildKit fetches the new bytes; no validator (the server sends none, or this host cannot
reach it where the Engine may) means a solve at every build, which is always correct.
"""

from __future__ import annotations

TYPE_CHECKING = False   # typing.TYPE_CHECKING without importing typing: a stamped build stays light
if TYPE_CHECKING:
    from envtrack.llb.context import Download

TIMEOUT = 10   # seconds, as envtrack's other questions to upstreams (envtrack.solve.newest)
KNOWN_PREFIX = "validator "   # the key of a validator among a build's answers (`known`)


def unpinned(downloads: tuple[Download, ...]) -> list[str]:
    """The URLs among DOWNLOADS (after the mirror table) that BuildKit fetches without a checksum
    for io.http. envtrack's own toolchain URLs name a release, which does not change under it."""
    return sorted({d.url for d in downloads if d.kind == "io.http" and d.output is not None and not d.checksum})


def validator(url: str) -> str:
    """What URL's server says identifies its current bytes, "" when it says nothing usable or
    cannot be asked. A GET closed after its headers: some release hosts refuse HEAD."""
    import urllib.error   # here: ~15 ms that a project without such URLs never pays
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "envtrack", "Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            headers = response.headers
    except (urllib.error.URLError, OSError, ValueError):
        return ""
    if headers.get("ETag"):
        return f"etag {headers['ETag']}"
    if headers.get("Last-Modified") and headers.get("Content-Length"):
        return f"modified {headers['Last-Modified']} length {headers['Content-Length']}"
    return ""


def validate(urls: list[str], known: dict[str, str]) -> list[dict]:
    """Each URL with its validator, asked once per build (KNOWN keeps the answers)."""
    record = []
    for url in urls:
        key = KNOWN_PREFIX + url
        if key not in known:
            known[key] = validator(url)
        record.append({"url": url, "validator": known[key]})
    return record


def still_validated(record: list[dict], known: dict[str, str]) -> bool:
    """Whether every URL of a stamp's record answers with the validator recorded (asked again)."""
    try:
        recorded = [(str(entry["url"]), str(entry["validator"])) for entry in record]
    except (KeyError, TypeError):
        return False   # a record that cannot say what it asked proves nothing
    answers = validate([url for url, _ in recorded], known)
    return all(entry["validator"] and entry["validator"] == expected
               for entry, (_, expected) in zip(answers, recorded))


def solves_every_build(record: list[dict]) -> bool:
    """A URL without a validator: only BuildKit's own fetch can tell whether it changed."""
    return any(not entry["validator"] for entry in record)
