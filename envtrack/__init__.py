"""envtrack: keep a machine-learning dev environment and its build.envd in step."""

__version__ = "0.1.0"
