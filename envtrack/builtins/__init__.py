"""Every envd v1 builtin, described once: the one place each stage reads about them.

Pure data, standard library only: `model.py` says what a builtin is, `envd_v1.py` lists
envd v1's, `lookup.py` derives the indexes stages look them up by. For each builtin, as envd
defines it (its Starlark stubs and the Go functions behind them):

* `params`: envd's parameter names, types and defaults, in envd's positional order;
* `stage`: when it takes effect: a build step (a vertex), the image config only, the
  container `up` creates, or evaluation itself (it returns a value);
* `label`: the argument that best says what a call does (progress lines, logs);
* `host_inputs`: the arguments that name host files the build reads, and their role;
* `packages`: for install calls whose `name` list `sync` edits and `up --locked` pins,
  the package manager whose spelling is used for both;

The frontend binds arguments from it (frontend/builtins.py), lowering dispatches on its
names (llb/lower.py), llb/host.py reads `host_inputs`, the build stamp, labels,
sync and pins read the rest. Lowering functions live in llb/ keyed by `kind`; nothing
else lists builtins.
"""

from envtrack.builtins.envd_v1 import BUILTINS, CONSTANTS, ENVD_DATA_DIR, V0_KEYWORDS, V0_RENAMES
from envtrack.builtins.lookup import (BY_FLAT_NAME, CONSTANT_NAMESPACES, KIND_OF_MANAGER, MANAGER_OF_KIND, NAMESPACES,
                                      TOP_LEVEL, builtin, reads_host_files, stage_of)
from envtrack.builtins.model import (ARGV_LIST, BOOL, BUILD, CONTAINER, EVALUATION, IMAGE, INT, STR, STR_DICT, STR_LIST,
                                     Builtin, HostInput, Packages, Param)

__all__ = [
    "ARGV_LIST", "BOOL", "BUILD", "BUILTINS", "BY_FLAT_NAME", "Builtin", "CONSTANTS", "CONSTANT_NAMESPACES",
    "CONTAINER", "ENVD_DATA_DIR", "EVALUATION", "HostInput", "IMAGE", "INT", "KIND_OF_MANAGER", "MANAGER_OF_KIND",
    "NAMESPACES", "Packages", "Param", "STR", "STR_DICT", "STR_LIST", "TOP_LEVEL", "V0_KEYWORDS", "V0_RENAMES",
    "builtin", "reads_host_files", "stage_of",
]
