"""Helpers shared by the integration tests (not tests themselves)."""
