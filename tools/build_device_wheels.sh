#!/usr/bin/env bash
# Build device_wheels/: wheels of exactly what the lent GPU machines' image lacks of the pinned stack, for the
# image's CPython 3.12, numpy 2.5 and torch 2.11 (docs/gpu.md). Nothing can be downloaded there: these wheels
# travel with the working tree (`carry: ["device_wheels"]`, 64 MiB with the code) and tools/gpu_check.py installs
# them with `pip install --no-index --no-deps --target`.
#
#   bash tools/build_device_wheels.sh               # build (cached) and verify
#   VERIFY=0 bash tools/build_device_wheels.sh      # build only
#   ONLY=verify bash tools/build_device_wheels.sh   # verify an existing device_wheels/
#   ONLY=download bash tools/build_device_wheels.sh # only fetch the downloadable wheels into the cache
#
# What is built:
# - the pure-Python / manylinux packages, downloaded as cp312 wheels (pip download --only-binary, the device
#   README's platform tags) at requirements/stack.txt's pins;
# - mmcv (with its compiled ops, CPU kernels) and xtcocotools, compiled from their sdists as tools/setup_env.sh
#   does (--no-build-isolation, setuptools<70, MMCV_WITH_OPS=1, FORCE_CUDA=0), here in a CPython 3.12 venv with
#   torch 2.11.0 and numpy $DEVICE_NUMPY, the image's versions. No CUDA kernels for mmcv: nothing
#   the check runs calls an mmcv op (the backbones, necks, heads and losses are torch), and compiling them
#   would cost ~3 min of a 15-min lease on the device or ~20 min here (measured: docs/gpu.md, "mmcv's CUDA ops").
#
# That venv is also the verification's stand-in for the image: torch, torchvision and numpy at the image's
# versions plus the other packages the image has (newest releases that fit: the image's own versions are not
# all known), and nothing of the OpenMMLab stack. VERIFY installs device_wheels/ into a --target folder exactly
# as the device does, imports the whole stack, runs a fast subset of the tests and tools/gpu_check.py --tiny.
#
# Caches, in $PECLR_MM_CACHE (default ~/.cache/peclr-mm)/device-wheels: the venv (keyed by the Python, torch,
# torchvision, numpy and setuptools versions), the compiled wheels (keyed by that and the mmcv/xtcocotools
# pins) and every downloaded wheel (by name and version). A rerun with the same pins builds nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/requirements/stack.txt"
DEST="${DEVICE_WHEELS:-$ROOT/device_wheels}"
CACHE="${PECLR_MM_CACHE:-$HOME/.cache/peclr-mm}/device-wheels"
export PYENV_VERSION="${PYENV_VERSION:-3.12.1}"  # pyenv's CPython 3.12 on these machines
PY="${PECLR_MM_PY312:-python3.12}"
VERIFY="${VERIFY:-1}"
ONLY="${ONLY:-}"
# What may travel besides the code (the working tree is ~2 MiB; the limit is 64 MiB in all).
LIMIT_MIB="${DEVICE_WHEELS_LIMIT_MIB:-48}"
# Bump RECIPE when the steps below change what gets built.
RECIPE=1
# The image ('cuda', /work/.library/device/KINDS.md, read 2026-11): Python 3.12.3, torch 2.11.0+cu130,
# torchvision 0.26.0, numpy 2.5.2. Its numpy is newer than stack.txt's; torch and torchvision are stack.txt's.
DEVICE_NUMPY=2.5.2
# What the image lacks of the stack's runtime (KINDS.md "Python packages already there", 2026-11-17, against
# the Requires-Dist of the OpenMMLab packages): the OpenMMLab packages and these dependencies of theirs.
BINARY=(mmengine mmpretrain mmpose mmdet addict yapf platformdirs termcolor json-tricks munkres terminaltables
        mat4py modelindex model-index ordered-set importlib-metadata pycocotools shapely)
SOURCE=(mmcv xtcocotools)  # no cp312 wheels on PyPI: compiled here
# The stand-in's packages besides torch/torchvision/numpy: what the image has that the stack and the tests use.
STANDIN=(scipy matplotlib opencv-python-headless pillow pyyaml rich packaging einops six tqdm pytest markdown
         click)
# The fast test subset run in the stand-in (their not-slow tests, ~80 s on 2 cores; the whole not-slow suite
# takes ~3 min and passes too: DEVICE_TESTS=tests). tests/test_env.py checks stack.txt's own pins (numpy 2.2.6),
# so it cannot pass there. test_pose_head / test_inferencer_configs hold the mmpose drawing that numpy 2.5 broke
# (peclr_mm/compat/visualization.py).
TESTS="${DEVICE_TESTS:-tests/test_bad_inputs.py tests/test_checkpoint.py tests/test_freihand_eval_light.py
  tests/test_pose_codec.py tests/test_pose_dataset.py tests/test_pose_head.py tests/test_pose_metric.py
  tests/test_pose_scorer.py tests/test_inferencer_configs.py tests/test_selfsup_datasets.py
  tests/test_selfsup_peclr.py tests/test_selfsup_transforms.py tests/test_synthetic.py tests/test_experiments.py
  tests/test_gpu_check.py}"

log() { echo "[device-wheels] $*"; }
norm() { echo "$1" | tr 'A-Z_.' 'a-z--'; }
pin() {  # pin NAME: the version requirements/stack.txt pins (names compared as pip compares them)
  local want line
  want="$(norm "$1")"
  while IFS= read -r line; do
    [[ "$line" == \#* || "$line" != *==* ]] && continue
    if [[ "$(norm "${line%%==*}")" == "$want" ]]; then echo "${line#*==}"; return 0; fi
  done < "$REQ"
  echo "build_device_wheels: $1 is not pinned in $REQ" >&2
  return 1
}
mib() { du -cb "$@" | tail -1 | awk '{printf "%.1f", $1 / 1048576}'; }

START=$(date +%s)
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$PYVER" == 3.12 ]] || { echo "build_device_wheels: need CPython 3.12 (the image's), $PY is $PYVER" >&2; exit 1; }
TORCH="$(pin torch)"; TORCHVISION="$(pin torchvision)"; SETUPTOOLS="$(pin setuptools)"
VKEY="$(printf '%s\n' "py$PYVER" "recipe$RECIPE" "torch$TORCH" "tv$TORCHVISION" "numpy$DEVICE_NUMPY" \
  "setuptools$SETUPTOOLS" "${STANDIN[@]}" | sha256sum | cut -c1-12)"
SKEY="$(printf '%s\n' "$VKEY" $(for n in "${SOURCE[@]}"; do echo "$n==$(pin "$n")"; done) | sha256sum | cut -c1-12)"
VENV="$CACHE/venv-py$PYVER-$VKEY"
BUILT="$CACHE/built-py$PYVER-$SKEY"
DOWNLOADS="$CACHE/downloads"
mkdir -p "$CACHE" "$DOWNLOADS"
exec 9>"$CACHE/.lock"
flock 9  # one builder at a time per cache

# -- the cp312 venv: the image's stand-in and the compilers' environment ----------------------------------------
make_venv() {
  [[ -f "$VENV/.complete" ]] && { log "reusing $VENV"; return 0; }
  log "making the cp312 venv $VENV (torch $TORCH with its CUDA libraries from PyPI: ~3.5 GB, a few minutes)"
  local t0=$(date +%s)
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install -q 'pip==25.1.1'
  "${pip[@]}" install -q "torch==$TORCH" "torchvision==$TORCHVISION" "numpy==$DEVICE_NUMPY" \
    "setuptools==$SETUPTOOLS" "wheel==$(pin wheel)" "cython==$(pin cython)" "ninja==$(pin ninja)" "${STANDIN[@]}"
  "$VENV/bin/python" -c "import numpy, torch, torchvision; assert numpy.__version__ == '$DEVICE_NUMPY', numpy.__version__"
  "${pip[@]}" freeze > "$VENV/freeze.txt"
  date -u +%FT%TZ > "$VENV/.complete"
  log "venv ready in $(( $(date +%s) - t0 )) s"
}

# -- the wheels ----------------------------------------------------------------------------------------------
download() {  # the binary / pure-Python wheels, cached by name and version (no venv needed)
  local name ver got
  for name in "${BINARY[@]}"; do
    ver="$(pin "$name")"
    got="$(ls "$DOWNLOADS" | grep -i "^$(norm "$name" | tr - _)-$ver-" || true)"
    if [[ -z "$got" ]]; then
      log "downloading $name==$ver"
      "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
        -d "$DOWNLOADS" "$name==$ver" 2>/dev/null \
      || { log "$name==$ver has no cp312 wheel: building it (pure Python) from its sdist"
           "$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$DOWNLOADS" "$name==$ver"; }
    fi
  done
}

compile_sources() {  # tools/setup_env.sh's recipe for the source packages, against the venv's torch and numpy
  local name req t0
  mkdir -p "$BUILT"
  for name in "${SOURCE[@]}"; do
    req="$name==$(pin "$name")"
    if ls "$BUILT/${name}-"*.whl >/dev/null 2>&1; then continue; fi
    log "compiling $req from sdist against torch $TORCH / numpy $DEVICE_NUMPY$([[ $name == mmcv ]] && echo \
      ' (with its ops: ~9 min on 2 cores)')"
    t0=$(date +%s)
    rm -rf "$BUILT.tmp"
    # --no-cache-dir: pip would otherwise hand back a wheel it built earlier from the same sdist, whatever torch
    # and numpy that one was compiled against (this cache is keyed by them; pip's is not).
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" CFLAGS='-O2 -g0' CXXFLAGS='-O2 -g0' \
      "$VENV/bin/python" -m pip wheel -q --disable-pip-version-check --no-cache-dir --no-deps --no-build-isolation \
      --no-binary "$name" -w "$BUILT.tmp" "$req"
    mv "$BUILT.tmp/${name}-"*.whl "$BUILT/" && rm -rf "$BUILT.tmp"
    log "$req compiled in $(( $(date +%s) - t0 )) s"
  done
}

assemble() {  # DEST: exactly one wheel per package, within the size limit; written beside and renamed
  local name ver f n=0
  rm -rf "$DEST.tmp"
  mkdir -p "$DEST.tmp"
  for name in "${BINARY[@]}"; do
    ver="$(pin "$name")"
    f="$(ls "$DOWNLOADS" | grep -i "^$(norm "$name" | tr - _)-$ver-" | head -1)"
    [[ -n "$f" ]] || { echo "build_device_wheels: no wheel of $name==$ver in $DOWNLOADS" >&2; exit 1; }
    cp "$DOWNLOADS/$f" "$DEST.tmp/"; n=$((n + 1))
  done
  for name in "${SOURCE[@]}"; do
    cp "$BUILT/${name}-"*.whl "$DEST.tmp/"; n=$((n + 1))
  done
  [[ "$(ls "$DEST.tmp"/*.whl | wc -l)" == "$n" ]] || { echo "build_device_wheels: expected $n wheels" >&2; exit 1; }
  local size
  size="$(mib "$DEST.tmp"/*.whl)"
  if awk -v s="$size" -v l="$LIMIT_MIB" 'BEGIN { exit !(s > l) }'; then
    echo "build_device_wheels: the wheels take $size MiB, over DEVICE_WHEELS_LIMIT_MIB=$LIMIT_MIB" >&2; exit 1
  fi
  {
    echo "# device_wheels: built by tools/build_device_wheels.sh on $(date -u +%FT%TZ) ($(hostname))"
    echo "# for CPython $PYVER, torch $TORCH, numpy $DEVICE_NUMPY; $n wheels, $size MiB; stand-in venv $VENV"
    (cd "$DEST.tmp" && for f in *.whl; do echo "$(sha256sum "$f" | cut -c1-16)  $(du -b "$f" | cut -f1)  $f"; done)
  } > "$DEST.tmp/MANIFEST.txt"
  rm -rf "$DEST.old"
  [[ -e "$DEST" ]] && mv "$DEST" "$DEST.old"
  mv "$DEST.tmp" "$DEST"
  rm -rf "$DEST.old"
  log "$DEST: $n wheels, $size MiB"
}

verify() {  # install as the device does, import everything, run the fast tests and the --tiny check
  local t0 rc=0
  [[ -d "$DEST" ]] || { echo "build_device_wheels: no $DEST to verify" >&2; exit 1; }
  VSITE="$(mktemp -d /tmp/peclr_device_site.XXXXXX)"  # globals: the EXIT trap removes them
  VPTH="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz_peclr_device_check.pth"
  trap 'rm -rf "$VSITE" "$VPTH"' EXIT  # also when a step fails: the .pth must not stay in the cached venv
  t0=$(date +%s)
  # As tools/gpu_check.py does. Byte-compiled at install (pip hides the SyntaxWarnings of upstream docstrings
  # that Python 3.12 would otherwise print at the first import, into tools' one-line error output).
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-index --no-deps \
    --no-cache-dir --upgrade --target "$VSITE/site" "$DEST"/*.whl
  log "installed into a --target folder in $(( $(date +%s) - t0 )) s"
  # For the imports and the tests only: the installed folder and this checkout seen by every interpreter of the
  # stand-in (the tests start subprocesses with their own PYTHONPATH), with tools/ (peclr_lab) and the
  # peclr_mm:: config prefix, as tools/setup_env.sh's .venv has them. Removed before the --tiny check, which
  # installs the wheels itself.
  printf '%s\n%s\n%s/tools\nimport peclr_mm.mim\n' "$VSITE/site" "$ROOT" "$ROOT" > "$VPTH"
  local env=(env -u PYTHONPATH -u PYTHONHOME OMP_NUM_THREADS=1 CUDA_VISIBLE_DEVICES=)
  (cd "$ROOT" && "${env[@]}" "$VENV/bin/python" -c "
import importlib.metadata as md, numpy, torch
import mmcv.ops, mmdet.utils, mmengine, mmpose.models, mmpretrain.models, xtcocotools._mask
import peclr_mm.pose, peclr_mm.selfsup
from mmcv.utils import ext_loader
assert hasattr(ext_loader.load_ext('_ext', ['nms']), 'nms')
print('[device-wheels] imports ok: numpy', numpy.__version__, 'torch', torch.__version__, ', '.join(
    f'{n} {md.version(n)}' for n in ('mmengine', 'mmcv', 'mmpretrain', 'mmpose', 'mmdet', 'xtcocotools')))")
  t0=$(date +%s)
  # shellcheck disable=SC2086
  (cd "$ROOT" && "${env[@]}" "$VENV/bin/python" -m pytest -q -p no:cacheprovider -m 'not slow' --ignore tests/test_env.py \
    $TESTS) || rc=$?
  log "fast tests (not slow; $(echo $TESTS | wc -w) files): exit status $rc in $(( $(date +%s) - t0 )) s"
  [[ $rc == 0 ]] || exit $rc
  rm -f "$VPTH"
  # The device's own path (docs/gpu.md): a python that sees no stack, the checkout and its tools/ on PYTHONPATH,
  # tools/gpu_check.py installing device_wheels/ itself.
  t0=$(date +%s)
  (cd "$ROOT" && "${env[@]}" PYTHONPATH="$ROOT:$ROOT/tools" "$VENV/bin/python" tools/gpu_check.py \
    --tiny --wheelhouse "$DEST" --work-dir "$VSITE/check" --out "$VSITE/out") || rc=$?
  log "tools/gpu_check.py --tiny with the wheelhouse: exit status $rc in $(( $(date +%s) - t0 )) s"
  [[ $rc == 0 ]] || exit $rc
}

case "$ONLY" in
  download) download ;;
  verify) make_venv; verify ;;
  "")
    make_venv
    download
    compile_sources
    assemble
    if [[ "$VERIFY" != 0 ]]; then verify; fi ;;
  *) echo "build_device_wheels: ONLY=$ONLY? (download, verify, or unset)" >&2; exit 2 ;;
esac
log "done in $(( $(date +%s) - START )) s"
