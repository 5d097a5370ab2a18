#!/usr/bin/env python3
"""Check ELF shared objects for AWS Lambda compatibility (pure stdlib).

Two checks, both based on binutils' ``objdump``:

* GLIBC: every shared object must not require a ``GLIBC_x.y[.z]`` symbol
  version newer than ``--max-glibc`` (default 2.26, the glibc of the Amazon
  Linux 2 based Lambda runtimes).  Only undefined (required) dynamic symbols
  from ``objdump -T`` are considered; versions are compared numerically, so
  ``GLIBC_2.2.5`` < ``GLIBC_2.26``.
* AVX-512: Lambda CPUs are not guaranteed to have AVX-512, so shared objects
  whose path matches one of the ``--no-avx512-glob`` fnmatch patterns
  (default ``*annoy*``) must not contain AVX-512 instructions (zmm registers,
  opmask registers %k0-%k7, EVEX-only xmm16-31/ymm16-31, or EVEX-only
  mnemonics).  Other libraries (e.g. numpy) ship AVX-512 kernels behind
  runtime CPU dispatch, which is safe, so they are not checked by default.

Usage::

    python scripts/check_so.py [--max-glibc 2.26] [--no-avx512-glob PAT ...]
                               DIR_OR_FILE...

Directories are walked for ``*.so`` / ``*.so.*`` ELF files; ``.whl`` and
``.zip`` arguments are unpacked to a temporary directory and scanned.  Globs
are matched against the path relative to the scanned argument (for a file
argument: the path as given; inside an archive: ``archive!member``).

Exit status: 0 if no problems, 1 if problems were found, 2 on usage errors
(e.g. objdump missing).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Iterable, Iterator, Sequence

DEFAULT_MAX_GLIBC = "2.26"
DEFAULT_AVX512_GLOBS = ("*annoy*",)

_SO_NAME_RE = re.compile(r"\.so(?:\.[0-9A-Za-z_]+)*$")
_GLIBC_RE = re.compile(r"(?<![A-Za-z0-9_])GLIBC_([0-9]+(?:\.[0-9]+)+)(?![0-9A-Za-z_.])")

# --- AVX-512 detection -------------------------------------------------------
# An instruction line of `objdump -d --no-show-raw-insn` (AT&T syntax) looks
# like "    cc80:\tvmovups (%r8,%rax,1),%zmm4".
_INSN_LINE_RE = re.compile(r"^\s*[0-9a-fA-F]+:\s+(.*)$")
# Registers that only exist with EVEX encoding (AVX-512).  The "%" prefix of
# AT&T syntax anchors the match, the trailing guard stops e.g. "%k1x".
_AVX512_REG_RE = re.compile(
    r"%(?:zmm[0-9]+|k[0-7]|[xy]mm(?:1[6-9]|2[0-9]|3[01]))(?![0-9A-Za-z_])"
)
# Mnemonics that only exist as EVEX (AVX-512 family) instructions.  Most of
# them would also be caught by the register check, but AVX512VL forms can use
# only xmm0-15/ymm0-15 without masking.
_AVX512_MNEMONIC_RE = re.compile(
    r"^(?:"
    r"k(?:add|and|andn|mov|not|or|ortest|shiftl|shiftr|test|xnor|xor)[bwdq]"
    r"|kunpck(?:bw|wd|dq)"
    r"|vmovdq[au](?:8|16|32|64)"
    r"|v(?:extract|insert|broadcast|shuf)[fi](?:32x2|32x4|32x8|64x2|64x4)"
    r"|vp?ternlog[dq]|vp?blendm[bwdq]|vblendmp[sd]|vptestn?m[bwdq]"
    r"|vpconflict[dq]|vplzcnt[dq]|vpopcnt[bwdq]"
    r"|vrcp14[ps][sd]|vrsqrt14[ps][sd]|vrcp28[ps][sd]|vrsqrt28[ps][sd]|vexp2p[sd]"
    r"|vgetexp[ps][sdh]|vgetmant[ps][sdh]|vfixupimm[ps][sd]|vscalef[ps][sdh]"
    r"|vreduce[ps][sdh]|vrange[ps][sd]|vfpclass[ps][sdh]|vrndscale[ps][sdh]"
    r"|v(?:p)?compress(?:p[sd]|[bwdq])|v(?:p)?expand(?:p[sd]|[bwdq])"
    r"|vperm[ti]2(?:[bwdq]|p[sd])|vperm[bw]|valign[dq]|vdbpsadbw"
    r"|vpmov(?:[su]?[qdw][bwd]|m2[bwdq]|[bwdq]2m)"
    r"|vp(?:abs|maxs|maxu|mins|minu|sra|srav|mull)q|vpro[lr]v?[dq]"
    r"|vpsh[lr]dv?[wdq]|vpmultishiftqb|vpshufbitqmb|vpbroadcastm(?:b2q|w2d)"
    r"|vpcmpu?[bwdq]"
    r"|vcvtt?(?:p[sd]2u[dq]q|p[sd]2qq|s[sd]2usi)|vcvtu?qq2p[sd]|vcvtudq2p[sd]"
    r"|vcvtusi2s[sd]"
    r"|v(?:gather|scatter)pf[01][dq]p[sd]|vp?scatter[dq](?:[dq]|p[sd])"
    r"|v4fn?madd[ps]s|vp4dpwssds?|vp2intersect[dq]"
    r"|vdpbf16ps|vcvtne2ps2bf16"
    r"|v(?:add|sub|mul|div|min|max|sqrt|rcp|rsqrt|cmp|comi|ucomi)[ps]h"
    r"|vfc?n?m(?:add|sub)(?:132|213|231)?(?:c?[ps]h)"
    r")$"
)


def _require_objdump() -> str:
    exe = shutil.which("objdump")
    if exe is None:
        raise RuntimeError("objdump not found on PATH (install binutils)")
    return exe


def _objdump(args: Sequence[str], path: str) -> str:
    proc = subprocess.run(
        [_require_objdump(), *args, path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"objdump {' '.join(args)} failed on {path}: {proc.stderr.strip()}"
        )
    return proc.stdout


def parse_version(text: str) -> tuple[int, ...]:
    """'2.2.5' -> (2, 2, 5)."""
    try:
        return tuple(int(part) for part in text.strip().split("."))
    except ValueError:
        raise ValueError(f"not a numeric version: {text!r}") from None


def format_version(version: Sequence[int] | None) -> str:
    return "none" if version is None else ".".join(str(v) for v in version)


def required_glibc_versions(path: str) -> set[tuple[int, ...]]:
    """All GLIBC_x.y versions of undefined (required) dynamic symbols."""
    versions: set[tuple[int, ...]] = set()
    for line in _objdump(["-T"], path).splitlines():
        if "*UND*" not in line:
            continue
        for match in _GLIBC_RE.finditer(line):
            versions.add(parse_version(match.group(1)))
    return versions


def max_glibc_version(path: str) -> tuple[int, ...] | None:
    """Highest GLIBC symbol version required by ``path`` (None if none)."""
    versions = required_glibc_versions(path)
    return max(versions) if versions else None


def _is_avx512_instruction(insn: str) -> bool:
    # Drop the trailing comment ("# 2efd0 <sym@Base>") and symbolic targets
    # ("<foo+0x12>") so symbol names can never cause a false positive.
    insn = insn.split("#", 1)[0]
    insn = re.sub(r"<[^>]*>", "", insn)
    tokens = insn.split()
    # Skip pseudo-prefixes ("{evex}", "{vex}") and legacy prefixes.
    while tokens and (
        tokens[0].startswith("{")
        or tokens[0] in ("lock", "rep", "repz", "repe", "repnz", "repne",
                         "bnd", "notrack", "data16", "addr32", "cs", "ds")
    ):
        if tokens[0] == "{evex}":
            return True
        tokens.pop(0)
    if not tokens:
        return False
    mnemonic = tokens[0]
    operands = " ".join(tokens[1:])
    if _AVX512_REG_RE.search(operands):
        return True
    return bool(_AVX512_MNEMONIC_RE.match(mnemonic))


def find_avx512(path: str) -> str | None:
    """First AVX-512 instruction line in ``path``'s disassembly, or None."""
    proc = subprocess.Popen(
        [_require_objdump(), "-d", "--no-show-raw-insn", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    found: str | None = None
    try:
        for line in proc.stdout:
            match = _INSN_LINE_RE.match(line)
            if match and _is_avx512_instruction(match.group(1)):
                found = " ".join(line.split())
                break
    finally:
        if found is not None:
            proc.kill()
        _, err = proc.communicate()
    if found is None and proc.returncode != 0:
        raise RuntimeError(f"objdump -d failed on {path}: {err.strip()}")
    return found


def has_avx512(path: str) -> bool:
    """True if ``path`` contains any AVX-512 instruction."""
    return find_avx512(path) is not None


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def _iter_shared_objects(root: str) -> Iterator[tuple[str, str]]:
    """Yield (real path, path relative to root) of shared objects."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if not _SO_NAME_RE.search(name):
                continue
            full = os.path.join(dirpath, name)
            real = os.path.realpath(full)
            if real in seen or not os.path.isfile(real) or not _is_elf(real):
                continue
            seen.add(real)
            yield full, os.path.relpath(full, root)


class _Target:
    def __init__(self, path: str, display: str, match_name: str):
        self.path = path          # file on disk
        self.display = display    # shown in messages
        self.match_name = match_name  # matched against the AVX-512 globs


def _collect(paths: Iterable[str], tmpdirs: list[str], problems: list[str]) -> list[_Target]:
    targets: list[_Target] = []
    for arg in paths:
        if os.path.isdir(arg):
            for full, rel in _iter_shared_objects(arg):
                targets.append(_Target(full, full, rel))
        elif os.path.isfile(arg) and arg.endswith((".whl", ".zip")):
            tmp = tempfile.mkdtemp(prefix="check_so_")
            tmpdirs.append(tmp)
            with zipfile.ZipFile(arg) as zf:
                zf.extractall(tmp)
            for full, rel in _iter_shared_objects(tmp):
                label = f"{arg}!{rel}"
                targets.append(_Target(full, label, rel))
        elif os.path.isfile(arg):
            if _is_elf(arg):
                targets.append(_Target(arg, arg, arg))
            else:
                problems.append(f"{arg}: not an ELF file")
        else:
            problems.append(f"{arg}: no such file or directory")
    return targets


def _scan(
    paths: Iterable[str],
    max_glibc: str | Sequence[int] = DEFAULT_MAX_GLIBC,
    avx512_globs: Sequence[str] | None = DEFAULT_AVX512_GLOBS,
    allow_empty: bool = False,
) -> tuple[list[str], dict]:
    limit = parse_version(max_glibc) if isinstance(max_glibc, str) else tuple(max_glibc)
    globs = list(DEFAULT_AVX512_GLOBS if avx512_globs is None else avx512_globs)
    problems: list[str] = []
    tmpdirs: list[str] = []
    stats = {"files": 0, "avx512_checked": 0, "max_glibc": None, "max_glibc_file": None}
    try:
        targets = _collect(list(paths), tmpdirs, problems)
        for t in targets:
            stats["files"] += 1
            try:
                version = max_glibc_version(t.path)
            except RuntimeError as exc:
                problems.append(f"{t.display}: {exc}")
                continue
            if version is not None and (
                stats["max_glibc"] is None or version > stats["max_glibc"]
            ):
                stats["max_glibc"], stats["max_glibc_file"] = version, t.display
            if version is not None and version > limit:
                problems.append(
                    f"{t.display}: requires GLIBC_{format_version(version)} "
                    f"> allowed {format_version(limit)}"
                )
            if any(fnmatch.fnmatch(t.match_name, g) for g in globs):
                stats["avx512_checked"] += 1
                try:
                    insn = find_avx512(t.path)
                except RuntimeError as exc:
                    problems.append(f"{t.display}: {exc}")
                    continue
                if insn is not None:
                    problems.append(f"{t.display}: contains AVX-512 instructions (e.g. {insn!r})")
        if not targets and not allow_empty:
            problems.append("no shared objects found in: " + ", ".join(paths))
    finally:
        for tmp in tmpdirs:
            shutil.rmtree(tmp, ignore_errors=True)
    return problems, stats


def scan(
    paths: Iterable[str],
    max_glibc: str | Sequence[int] = DEFAULT_MAX_GLIBC,
    avx512_globs: Sequence[str] | None = DEFAULT_AVX512_GLOBS,
) -> list[str]:
    """Return human-readable problems for all shared objects under ``paths``.

    ``max_glibc`` is "2.26" or (2, 26); ``avx512_globs`` are fnmatch patterns
    selecting which files must be free of AVX-512 (None = default).
    An empty scan (no shared objects found) is reported as a problem.
    """
    problems, _ = _scan(list(paths), max_glibc, avx512_globs)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Check .so files for max GLIBC version and AVX-512 use."
    )
    parser.add_argument("paths", nargs="+", metavar="DIR_OR_FILE",
                        help="directories to walk, .so files, or .whl/.zip archives")
    parser.add_argument("--max-glibc", default=DEFAULT_MAX_GLIBC,
                        help="highest allowed GLIBC symbol version (default %(default)s)")
    parser.add_argument("--no-avx512-glob", action="append", dest="globs", metavar="PATTERN",
                        help="fnmatch pattern of files that must not use AVX-512 "
                             "(repeatable; default: *annoy*)")
    parser.add_argument("--allow-empty", action="store_true",
                        help="do not fail when no shared objects are found")
    args = parser.parse_args(argv)
    try:
        parse_version(args.max_glibc)
        _require_objdump()
    except (ValueError, RuntimeError) as exc:
        print(f"check_so: error: {exc}", file=sys.stderr)
        return 2
    globs = args.globs if args.globs else list(DEFAULT_AVX512_GLOBS)
    problems, stats = _scan(args.paths, args.max_glibc, globs, args.allow_empty)
    if problems:
        print(f"check_so: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(
        f"check_so: OK: {stats['files']} shared object(s) checked, "
        f"{stats['avx512_checked']} checked for AVX-512 (globs: {', '.join(globs)}); "
        f"max GLIBC required: {format_version(stats['max_glibc'])}"
        + (f" ({stats['max_glibc_file']})" if stats["max_glibc_file"] else "")
        + f" <= {args.max_glibc}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
