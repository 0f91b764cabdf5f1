"""`envtrack` commands of this area (placeholder until implemented)."""

from __future__ import annotations

from envtrack.cli.app import app  # noqa: F401
