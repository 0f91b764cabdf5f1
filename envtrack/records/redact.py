"""Credentials out of URLs and command lines, wherever envtrack records one."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_MASK = "****"


def redact_url(url: str) -> str:
    """Credentials out of a URL: passwords, bare tokens and every query value become ****.

    `git@` stays (an ssh login name). Query values go whatever their name: `?token=`,
    presigned `X-Amz-Signature=`, `sig=` and the like are how indexes and buckets carry
    secrets, and no package URL needs its query to be recorded.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            userinfo = user + ":" + _MASK
        elif parts.scheme.endswith("ssh") or user == "git":
            userinfo = user  # an ssh login name, not a secret
        else:
            userinfo = _MASK  # a lone user part over http(s) is a token
        netloc = userinfo + "@" + host
    query = "&".join(_redact_query_item(item) for item in parts.query.split("&")) if parts.query else ""
    path = _CHANNEL_TOKEN.sub(r"\1" + _MASK, parts.path)
    if netloc == parts.netloc and query == parts.query and path == parts.path:
        return url
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


# anaconda.org's token channels: https://conda.anaconda.org/t/TOKEN/CHANNEL (conda masks it too).
_CHANNEL_TOKEN = re.compile(r"((?:^|/)t/)(?!\*\*\*\*(?:/|$))[^/]+(?=/|$)")


def _redact_query_item(item: str) -> str:
    name, has_value, value = item.partition("=")
    if not has_value:
        return _MASK if name else name  # a bare `?SECRET`
    return name + "=" + (_MASK if value else "")


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_SECRET_NAME = r"[\w:.-]*?(?:passw(?:or)?d|passwd|token|secret|api[-_]?key|auth(?:orization)?|signature|sig)"
# `password=x`, `Authorization: Bearer x`, `-o Acquire::http::Proxy::Password=x`; `--password x`
# (a bare word followed by a space is a package name, never masked).
_SECRET_OPTION = re.compile(
    r"(?i)((?:\b" + _SECRET_NAME + r"\s*[=:]\s*)|(?:(?<!\S)--?" + _SECRET_NAME + r"\s+))"
    r"(?:bearer\s+|basic\s+)?(?!\*\*\*\*)[^\s'\"]+")


# `Acquire::http::Proxy=user:pass@proxy:3128`: credentials with no scheme in front (apt takes them).
_BARE_CREDENTIALS = re.compile(r"(?:(?<=[=\"'])|(?<!\S))([^\s:@/'\"=]+):(?!\*\*\*\*@)[^\s@/'\"=]+@(?=[\w\[])")


def redact_text(text: str) -> str:
    """A command line or log line with every URL redacted and secret-named options masked.

    The one redaction used wherever envtrack records a command line (apt's history
    Commandline with `-o Acquire::http::Proxy=http://user:pass@proxy`) or a source.
    """
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _BARE_CREDENTIALS.sub(lambda m: m.group(1) + ":" + _MASK + "@", text)
    return _SECRET_OPTION.sub(lambda m: m.group(1) + _MASK, text)
