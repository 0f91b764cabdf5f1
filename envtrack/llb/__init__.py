"""Steps -> LLB: lowers the frontend's ordered Steps into `envtrack.state` States.

This package plays the role of BuildKit's `frontend/dockerfile/dockerfile2llb`: it knows what
each build.envd builtin means (cache mounts, CA mounts, host files, toolchain downloads) and
says it with the State API. `envtrack.state` is that API (BuildKit's `client/llb`), knowing
nothing of envd; `envtrack.pb` holds the wire types both marshal into.
"""
