"""``python -m homeops.sim.hostimage ensure|build|tag``."""

from __future__ import annotations

import sys

from homeops.sim.hostimage import IMAGE, build, ensure


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "ensure"
    if command == "ensure":
        ensure()
    elif command == "build":
        build()
    elif command == "tag":
        print(IMAGE)
    else:
        print("usage: python -m homeops.sim.hostimage [ensure|build|tag]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
