"""The change journal: SQLite beside build.envd, written by the agent, read by the host."""
