"""The host's CA bundle, which envtrack trusts inside builds and environments.

Corporate proxies re-sign HTTPS, so apt, pip, conda and curl in a container need the
host's bundle. Every stage (build options, the build stamp, `up`, `doctor`) finds it here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# What tools read to find a bundle; GIT_SSL_CAINFO too, since pip runs git for git+https URLs.
CA_ENV_NAMES = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")


def host_ca_path(environ: Mapping[str, str] | None = None) -> str:
    """ENVTRACK_CA_BUNDLE when set, else the Debian/Ubuntu system bundle."""
    environ = os.environ if environ is None else environ
    return environ.get("ENVTRACK_CA_BUNDLE") or DEFAULT_CA_BUNDLE
