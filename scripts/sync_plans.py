"""Writes template.yaml's `Mappings: Plans` section from recengine/billing/plans.py (the one place where
plan numbers are edited). `--check` exits 1 when the template is out of date, without writing."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
sys.path[:0] = [str(ROOT / "layers" / "engine")]

from recengine.billing.plans import usage_plan_mapping  # noqa: E402

_SECTION = re.compile(r"^Mappings:\n(?:(?:[ \t]+.*|[ \t]*)\n)*", re.MULTILINE)


def mappings_block() -> str:
    lines = ["Mappings:",
             "  # Generated from layers/engine/recengine/billing/plans.py by scripts/sync_plans.py: edit the plans there.",
             "  Plans:"]
    for plan, values in usage_plan_mapping().items():
        fields = ", ".join(f"{k}: {v}" for k, v in values.items())
        lines.append(f"    {plan}: {{{fields}}}")
    return "\n".join(lines) + "\n\n"


def render(text: str) -> str:
    """The template text with its Mappings section replaced (or inserted before Resources)."""
    block = mappings_block()
    if _SECTION.search(text):
        return _SECTION.sub(lambda _: block, text, count=1)
    return text.replace("\nResources:\n", f"\n{block}Resources:\n", 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if template.yaml is out of date")
    args = parser.parse_args(argv)
    current = TEMPLATE.read_text()
    wanted = render(current)
    if current == wanted:
        print("template.yaml Mappings match plans.py")
        return 0
    if args.check:
        print("template.yaml Mappings differ from plans.py: run scripts/sync_plans.py", file=sys.stderr)
        return 1
    TEMPLATE.write_text(wanted)
    print("template.yaml Mappings updated from plans.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
