#!/usr/bin/env bash
# One-command set-up: .venv with pinned packages and KenLM's Python module; lmplz/build_binary in tools/bin.
# Idempotent: every step leaves a stamp and is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."
# Any Python torch 2.13 has wheels for (>= 3.10); 3.11 preferred when present (what CI and the
# measurements use). PYTHON=/path/to/python overrides.
if [ -z "${PYTHON:-}" ]; then
  for cand in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; then
      PYTHON=$cand; break
    fi
  done
fi
PY=${PYTHON:-python3.11}
VENV=.venv
TOOLS=tools
KENLM_VERSION=0.3.0
TORCH_VERSION=2.13.0

say() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v "$PY" >/dev/null 2>&1; then
  say "needs Python 3.10-3.13 (none found); set PYTHON=/path/to/python3"; exit 1
fi

# KenLM is compiled once, from its sdist: lmplz, build_binary (tools/bin) and the Python query module
# (the venv's site-packages) come out of one cmake build. (pip's own build of kenlm compiles every
# source twice, once by cmake and once by setuptools, and lmplz needed a third compile.)
kenlm_module_ok() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import kenlm' 2>/dev/null; }
need_kenlm() { [ ! -x "$TOOLS/bin/lmplz" ] || [ ! -x "$TOOLS/bin/build_binary" ] || ! kenlm_module_ok; }

# 0. build packages KenLM needs (for lmplz, build_binary and its Python module) ---------------
if need_kenlm; then
  need_pkgs="cmake g++ make libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev"
  missing=""
  for p in $need_pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Debian build packages:$missing"
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
      say "KenLM's lmplz needs these packages; please install them (e.g. sudo apt-get install$missing) and re-run make setup"
      exit 1
    fi
  fi
fi

build_kenlm() {
  say "building KenLM $KENLM_VERSION once (lmplz, build_binary, Python module; ~1 min, beside the pip install)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  pyinc=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  platlib=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  suffix=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
  [ -f "$pyinc/Python.h" ] || { say "KenLM's Python module needs Python's headers ($pyinc/Python.h is missing; e.g. sudo apt-get install python3-dev)"; exit 1; }
  "$VENV/bin/pip" download -q --no-deps --no-binary kenlm "kenlm==$KENLM_VERSION" -d "$work" 2>"$work/download.log" \
    || { cat "$work/download.log" >&2; exit 1; }
  tar -xzf "$work"/kenlm-*.tar.gz -C "$work"
  src=$(find "$work" -maxdepth 1 -type d -name 'kenlm-*' | head -1)
  # kenlm's python/CMakeLists.txt looks for an interpreter and libpython of the exact same patch
  # version (FindPythonLibs), which fails beside a venv; the module needs only the headers, given here
  sed -i 's/^find_package(Python.*$//' "$src/python/CMakeLists.txt"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_PYTHON=ON \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DPYTHON_INCLUDE_DIRS="$pyinc" >"$work/cmake.log" 2>&1 \
    || { cat "$work/cmake.log" >&2; exit 1; }
  cmake --build "$work/build" --target lmplz build_binary kenlm_python -j "$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -50 "$work/build.log" >&2; exit 1; }
  mkdir -p "$TOOLS/bin.tmp"
  cp "$work/build/bin/lmplz" "$work/build/bin/build_binary" "$TOOLS/bin.tmp/"
  cp "$work/build/lib/kenlm.so" "$platlib/kenlm$suffix.tmp" && mv "$platlib/kenlm$suffix.tmp" "$platlib/kenlm$suffix"
  rm -rf "$TOOLS/bin" && mv "$TOOLS/bin.tmp" "$TOOLS/bin"
}

# 1. virtual environment + Python packages ---------------------------------------------
# (KenLM compiles in the background meanwhile)
STAMP="torch==$TORCH_VERSION $(cksum < requirements.txt) $(cksum < pyproject.toml)"
kenlm_pid=""
if [ ! -f "$VENV/.stamp-packages" ] || [ "$(cat "$VENV/.stamp-packages")" != "$STAMP" ]; then
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
  if need_kenlm; then
    (build_kenlm) & kenlm_pid=$!  # needs only the venv's interpreter: runs beside pip
    trap '[ -z "$kenlm_pid" ] || kill "$kenlm_pid" 2>/dev/null || true' EXIT  # a failed pip stops it too
  fi
  # torch first (a package that depends on it would otherwise pull the default build): the CUDA build
  # where nvidia-smi shows a GPU, else PyTorch's CPU-only build from its own wheel index (~200 MB
  # instead of ~2.7 GB of CUDA libraries); if that index cannot be reached, the default index (and
  # pip's find-links, where a +cpu wheel may wait) with a one-line note.
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then
    say "installing torch==$TORCH_VERSION (CUDA build: nvidia-smi shows a GPU) first"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
  elif "$VENV/bin/pip" install -q --index-url https://download.pytorch.org/whl/cpu "torch==$TORCH_VERSION" 2>/dev/null; then
    say "installed torch==$TORCH_VERSION (CPU-only build, download.pytorch.org/whl/cpu)"
  else
    say "note: PyTorch's CPU wheel index cannot be reached; installing torch==$TORCH_VERSION from the default index"
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
  fi
  say "installing requirements.txt"
  "$VENV/bin/pip" install -q -r requirements.txt
  # the `mt-suite` command (pyproject.toml [project.scripts]), editable: the code stays here, where it
  # finds data/corpora and tools/bin and writes build/, runs/, report/; copying its generic top-level
  # packages (data, evaluation, …) into site-packages would invite clashes and a second, stale copy
  "$VENV/bin/pip" install -q --no-deps -e .
  printf '%s' "$STAMP" > "$VENV/.stamp-packages"
fi

# 2. KenLM estimator binaries (if not built above) ----------------------------------------
if [ -n "$kenlm_pid" ]; then
  wait "$kenlm_pid" || { say "building KenLM failed (see above)"; exit 1; }
elif need_kenlm; then
  (build_kenlm)
fi
# 3. Debian's Chromium for the browser tests (tests/browser.py; Playwright's own browser download is not used)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium (for the browser tests)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || say "note: could not install chromium; the browser tests will be skipped"
  else
    say "note: no Chromium; the browser tests will be skipped (sudo apt-get install chromium to run them)"
  fi
fi
say "ready: $VENV (with kenlm), $TOOLS/bin/{lmplz,build_binary}"
