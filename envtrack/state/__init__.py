"""Immutable build states and their LLB vertices (pure: no I/O)."""

from envtrack.state.marshal import Marshalled, marshal, marshal_graph
from envtrack.state.state import DEFAULT_PATH, State, normalize_image_ref
from envtrack.state.vertex import (
    CacheSharing,
    Copy,
    ExecVertex,
    FileVertex,
    Mkdir,
    Mkfile,
    Mount,
    Network,
    Output,
    Platform,
    ProxyEnv,
    Rm,
    Security,
    SourceVertex,
)

__all__ = [
    "CacheSharing", "Copy", "DEFAULT_PATH", "ExecVertex", "FileVertex", "Marshalled", "Mkdir",
    "Mkfile", "Mount", "Network", "Output", "Platform", "ProxyEnv", "Rm", "Security", "SourceVertex",
    "State", "marshal", "marshal_graph", "normalize_image_ref",
]
