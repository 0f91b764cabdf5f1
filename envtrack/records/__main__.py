"""`python3 -m envtrack.records [--root DIR]`: the installed-package inventory as JSON (what snapshot runs)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Optional, Sequence

from envtrack.records import inventory


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Print the installed-package inventory as JSON.")
    parser.add_argument("--root", default="/", help="filesystem root to read (default: /)")
    args = parser.parse_args(argv)
    json.dump([asdict(p) for p in inventory(args.root)], sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
