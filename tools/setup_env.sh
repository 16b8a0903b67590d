#!/usr/bin/env bash
# Build (once) and link the pinned OpenMMLab stack for peclr-mm.
#
# The environment lives outside the clone, in $PECLR_MM_CACHE (default ~/.cache/peclr-mm)/envs/<hash>,
# where <hash> covers requirements/stack.txt, the Python version and the build recipe's number. A complete env (marker
# file written last) is reused; an incomplete one (killed build) is rebuilt. Built wheels of the source
# packages (mmcv with ops, xtcocotools against numpy 2) are cached in $PECLR_MM_CACHE/wheels/<hash>.
# Afterwards `.venv` in the repository root is this clone's own small venv that sees the shared env's
# packages and this clone's peclr_mm (see the end of this file). Idempotent: run it as often as you like
# (`make install`).
#
# One run at a time per cache: building the env, the extras and this clone's .venv all happen under the lock
# file $PECLR_MM_CACHE.lock (beside the cache folder, so deleting the cache during a build leaves it in place and
# a second run still waits).
#
# Optional layers: PECLR_MM_EXTRAS="tensorboard ..." (`make install EXTRAS=...`; the Makefile's default is
# tensorboard) adds requirements/extras-<name>.txt, each installed --no-deps into its own cache folder
# $PECLR_MM_CACHE/extras/<name>-<hash> (keyed by that file and the main env's hash, so stack.txt and its
# cached envs are untouched) and linked into .venv beside the main env. .venv holds exactly the extras of
# the last run: PECLR_MM_EXTRAS= (or none) leaves them out again.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQ="$ROOT/requirements/stack.txt"
PY="${PECLR_MM_PYTHON:-python3}"
CACHE="${PECLR_MM_CACHE:-$HOME/.cache/peclr-mm}"
CACHE="${CACHE%/}"
LOCK="$CACHE.lock"
START=$(date +%s)

PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# Bump RECIPE when the build steps below change in a way that changes the env.
RECIPE=1
HASH="$(cat "$REQ" <(echo "py$PYVER recipe$RECIPE") | sha256sum | cut -c1-16)"
ENV="$CACHE/envs/py$PYVER-$HASH"
WHEELS="$CACHE/wheels/py$PYVER-$HASH"
mkdir -p "$CACHE/envs" "$WHEELS"

section() { sed -n "/^#$1\$/,/^#[a-z]*\$/p" "$REQ" | grep -v '^#' | grep -v '^$' || true; }

build_env() {
  echo "[peclr-mm] building the stack into $ENV (first time for this requirements hash; ~10-15 min)"
  rm -rf "$ENV"
  "$PY" -m venv "$ENV"
  local pip=("$ENV/bin/python" -m pip --disable-pip-version-check)
  "${pip[@]}" install -q --upgrade 'pip==25.1.1'
  # 1) binary wheels: torch first so the rest resolves against it.
  "${pip[@]}" install -q -r <(section wheels)
  # 2) OpenMMLab packages without their declared deps (mmpose would pull chumpy, which does not build).
  "${pip[@]}" install -q --no-deps -r <(section nodeps)
  # 3) source builds, against the torch/numpy just installed; wheels cached for reuse.
  local src
  src="$(section source)"
  for req in $src; do
    local name="${req%%==*}"
    if ! ls "$WHEELS/${name}-"*.whl >/dev/null 2>&1; then
      echo "[peclr-mm] compiling $req from sdist (mmcv with ops takes ~6 min on 2 cores)"
      MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="$(nproc)" CFLAGS='-O2 -g0' CXXFLAGS='-O2 -g0' \
        "${pip[@]}" wheel -q --no-deps --no-build-isolation --no-binary "$name" -w "$WHEELS.tmp" "$req"
      mkdir -p "$WHEELS" && mv "$WHEELS.tmp/${name}-"*.whl "$WHEELS/" && rm -rf "$WHEELS.tmp"
    fi
    "${pip[@]}" install -q --no-deps "$WHEELS/${name}-"*.whl
  done
  "$ENV/bin/python" -c "import mmcv.ops, mmpose.models, mmpretrain.models, mmdet.utils, xtcocotools._mask"
  date -u +%FT%TZ > "$ENV/.peclr_mm_complete"
}

# One run at a time per cache (CI and a developer may share a machine; two `make install` in one clone), held
# until this script exits: the env, the extras and .venv below. The lock file is not inside $CACHE, so
# `rm -rf $CACHE` during a build does not let a second run in.
exec 9>"$LOCK"
flock 9
if [[ ! -f "$ENV/.peclr_mm_complete" ]]; then
  build_env
else
  echo "[peclr-mm] reusing cached environment $ENV"
fi

# Optional layers, each a --target folder of pinned wheels on top of the main env (never inside it).
EXTRA_SITES=()
for extra in $(echo "${PECLR_MM_EXTRAS:-}" | tr ',' ' '); do
  [[ "$extra" == none ]] && continue
  XREQ="$ROOT/requirements/extras-$extra.txt"
  if [[ ! -f "$XREQ" ]]; then
    echo "[peclr-mm] unknown extra '$extra': no requirements/extras-$extra.txt (have:" \
      "$(cd "$ROOT/requirements" && ls extras-*.txt 2>/dev/null | sed 's/^extras-//; s/\.txt$//' | tr '\n' ' '))" >&2
    exit 1
  fi
  XDIR="$CACHE/extras/$extra-py$PYVER-$(cat "$XREQ" <(echo "$HASH") | sha256sum | cut -c1-16)"
  if [[ ! -f "$XDIR/.peclr_mm_complete" ]]; then
    echo "[peclr-mm] installing extra '$extra' into $XDIR"
    rm -rf "$XDIR" "$XDIR.tmp"
    mkdir -p "$XDIR.tmp"
    "$ENV/bin/python" -m pip --disable-pip-version-check install -q --no-deps --target "$XDIR.tmp/site" \
      -r <(grep -v '^#' "$XREQ") || { echo "[peclr-mm] extra '$extra' failed to install (leave it out:" \
      "make install EXTRAS=)" >&2; exit 1; }
    # The file's '#check:' line must import with the main env plus this layer (no missing dependency).
    PYTHONPATH="$XDIR.tmp/site" "$ENV/bin/python" -c "$(sed -n 's/^#check: //p' "$XREQ")"
    date -u +%FT%TZ > "$XDIR.tmp/.peclr_mm_complete"
    mv "$XDIR.tmp" "$XDIR"
  else
    echo "[peclr-mm] reusing cached extra '$extra' $XDIR"
  fi
  EXTRA_SITES+=("$XDIR/site")
done

# This clone's own view of the shared env: .venv is a small venv of this clone (no pip) whose site-packages
# links every entry of the shared env's site-packages (so paths like .venv/lib/python3.X/site-packages/
# mmpretrain/.mim/tools/train.py work) except any peclr_mm install, plus a .pth with this clone's root.
# Nothing is installed into the shared env, so clones never re-point each other (deleting one breaks none).
VENV="$ROOT/.venv"
SHARED_SITE="$("$ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
if [[ -L "$VENV" ]]; then
  rm "$VENV"  # a .venv that is a link (to the shared env) is replaced by this clone's own view
fi
# Python scripts (torchrun, tensorboard, ...) get a copy whose #! is .venv's python, so what they start sees
# this clone's peclr_mm; binaries (ruff, ninja) are linked. MARK identifies what a .venv was built from (the
# env, this clone, the layout's version, the extras); a .venv whose .peclr_mm_env differs is rebuilt. The
# layout: activate scripts name .venv (not .venv.tmp); the .pth puts the clone and its tools/ on the path
# and imports peclr_mm.mim (the peclr_mm:: config prefix).
MARK="$ENV $ROOT v6${EXTRA_SITES[*]:+ ${EXTRA_SITES[*]}}"
link_bin() {  # link_bin <folder of tools> <bin folder of the python that owns its scripts>
  local entry name line want
  want="$(cd -P "$2" && pwd)"
  for entry in "$1"/*; do
    [[ -f "$entry" ]] || continue
    name="$(basename "$entry")"
    case "$name" in pip*) continue ;; esac  # installing must not change the env every clone shares
    [[ ! -e "$VENV.tmp/bin/$name" ]] || continue
    line="$(head -n1 "$entry" | tr -d '\0')"
    case "$line" in
      '#!'*/python|'#!'*/python3|'#!'*/python3.*)
        if [[ "$(cd -P "$(dirname "${line#??}")" 2>/dev/null && pwd)" == "$want" ]]; then
          { echo "#!$VENV/bin/python"; tail -n +2 "$entry"; } > "$VENV.tmp/bin/$name"
          chmod +x "$VENV.tmp/bin/$name"
          continue
        fi ;;
    esac
    ln -sn "$entry" "$VENV.tmp/bin/$name"
  done
}
if [[ "$(cat "$VENV/.peclr_mm_env" 2>/dev/null)" != "$MARK" || ! -x "$VENV/bin/python" ]]; then
  rm -rf "$VENV.tmp"
  "$PY" -m venv --without-pip --prompt .venv "$VENV.tmp"
  sed -i "s#$VENV.tmp#$VENV#g" "$VENV.tmp"/bin/[aA]ctivate*  # it is built beside and renamed at the end
  LOCAL_SITE="$VENV.tmp/lib/python$PYVER/site-packages"
  [[ -d "$LOCAL_SITE" ]] || { echo "[peclr-mm] unexpected venv layout: no $LOCAL_SITE" >&2; exit 1; }
  for entry in "$SHARED_SITE"/* "$SHARED_SITE"/.[!.]*; do
    [[ -e "$entry" ]] || continue
    name="$(basename "$entry")"
    case "$name" in
      __editable__*peclr*|peclr_mm*|peclr-mm*) continue ;;  # any clone's peclr_mm install: the .pth names this one
    esac
    ln -sn "$entry" "$LOCAL_SITE/$name"  # -n: never a link inside an already linked (shared) folder
  done
  link_bin "$ENV/bin" "$ENV/bin"
  for site in "${EXTRA_SITES[@]}"; do
    for entry in "$site"/*; do
      name="$(basename "$entry")"
      [[ "$name" != bin ]] || continue
      if [[ -e "$LOCAL_SITE/$name" ]]; then
        echo "[peclr-mm] $entry is also in the main env: drop it from its extras file" >&2; exit 1
      fi
      ln -sn "$entry" "$LOCAL_SITE/$name"
    done
    if [[ -d "$site/bin" ]]; then link_bin "$site/bin" "$ENV/bin"; fi
  done
  printf '%s\n%s/tools\nimport peclr_mm.mim\n' "$ROOT" "$ROOT" > "$LOCAL_SITE/zz_peclr_mm_clone.pth"
  echo "$MARK" > "$VENV.tmp/.peclr_mm_env"
  rm -rf "$VENV.old"
  if [[ -e "$VENV" ]]; then mv "$VENV" "$VENV.old"; fi
  mv "$VENV.tmp" "$VENV"  # two renames: .venv is missing only between them, not during a whole rm -rf
  rm -rf "$VENV.old"
fi
# `_base_ = ['peclr_mm::...']` reads peclr_mm/.mim (peclr_mm/mim.py): link it to this clone's configs and model
# index, as a wheel holds copies (setup.py). Existing copies are left alone.
for part in configs model-index.yml; do
  [[ -e "$ROOT/peclr_mm/.mim/$part" && ! -L "$ROOT/peclr_mm/.mim/$part" ]] || \
    { mkdir -p "$ROOT/peclr_mm/.mim" && ln -sfn "../../$part" "$ROOT/peclr_mm/.mim/$part"; }
done
echo "[peclr-mm] environment: $ENV${EXTRA_SITES[*]:+ + extras ${PECLR_MM_EXTRAS}} (this clone's view: .venv);" \
  "set-up took $(( $(date +%s) - START )) s"
