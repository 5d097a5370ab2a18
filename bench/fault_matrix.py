"""The fault matrix (fault x route -> outcome) as a Markdown table: runs the faults suite's matrix
and artefact tests in-process and prints what each request got (status, warnings, Retry-After).
`python -m bench.fault_matrix [--out table.md]`; the expectations live in tests/faults/matrix.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--no-header", "-o", "log_cli=false",
                        str(ROOT / "tests/faults/test_matrix.py"), str(ROOT / "tests/faults/test_artefacts.py")])
    from tests.faults.matrix import artefact_markdown, markdown  # the module the tests filled in

    table = "\n\n".join((markdown(), artefact_markdown()))
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
