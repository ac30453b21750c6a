"""``python -m homeops.lint [FILE …]``: repo.lint for pre-commit, which passes the changed files.

Same rules, options and exit codes as ``inv repo.lint`` (0 clean, 1 findings, 2 bad input); with
files, only findings in those files are reported (the whole tree is still read for context).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from homeops.errors import HomeopsError
from homeops.lint.cli import run_lint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m homeops.lint", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="lint only these files (default: every YAML file under --path)")
    parser.add_argument("--path", help="the directory to lint (default: ./kubernetes if present, else .)")
    parser.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    parser.add_argument("--skip", action="append", default=[], help="every rule but this one (repeatable)")
    parser.add_argument("--format", default="text", help="text, json, sarif or github")
    parser.add_argument("--config", help="exceptions file (default: .homeops-lint.yaml at the repository root)")
    parser.add_argument("--json", action="store_true", help="findings as a sorted JSON list")
    parser.add_argument("--inventory", help="folder of homeops.yaml with the lint: section (default: ./inventory)")
    args = parser.parse_args(argv)
    try:
        return run_lint(
            path=args.path,
            rules=args.rule,
            skip=args.skip,
            fmt=args.format,
            config_file=args.config,
            as_json=args.json,
            files=args.files or None,
            inventory=Path(args.inventory or "inventory"),
            inventory_explicit=args.inventory is not None,
        )
    except HomeopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
