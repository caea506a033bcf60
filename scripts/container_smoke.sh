#!/usr/bin/env bash
# Build the image, run it read-only, and drive it in Chromium (scripts/container_smoke.py).
#
#   scripts/container_smoke.sh [--base-image IMAGE] [--torch-index URL | --torch-wheels DIR]
#
#   --base-image    the Dockerfile's BASE_IMAGE (default python:3.11-slim; where Docker Hub is out of
#                   reach, scripts/local_base_image.sh builds local/python:3.11-bookworm)
#   --torch-index   the Dockerfile's TORCH_INDEX (default https://download.pytorch.org/whl/cpu)
#   --torch-wheels  a folder holding the CPU torch wheel, served to the build as its TORCH_INDEX
#
# Builds two images from the same layers: toymae:smoke (XSRF protection on, the default) and
# toymae:smoke-space (--build-arg XSRF_PROTECTION=false, for a Hugging Face Space). Runs both with
# --read-only and a tmpfs on /tmp, as uid 1000, waits until Docker reports them healthy, checks the
# CLI's output path handling, then drives every page, both uploads (directly and from a cross-site
# iframe), a short training run and its download. Prints the image size, build time and the server's
# peak memory. Needs a Docker daemon, Python with Playwright (the project's .venv), /usr/bin/chromium.
# The build uses --network host, so pip in the build reaches the index the way this machine does.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=python:3.11-slim
TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_WHEELS=
while [ $# -gt 0 ]; do
  case "$1" in
    --base-image) BASE_IMAGE=$2; shift 2 ;;
    --torch-index) TORCH_INDEX=$2; shift 2 ;;
    --torch-wheels) TORCH_WHEELS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
APP=toymae-smoke-app
SPACE=toymae-smoke-space
SAMESITE=toymae-smoke-samesite
APP_PORT=18501
SPACE_PORT=18502
SAMESITE_PORT=18503
INDEX_PORT=18765
cleanup() {
  docker rm -f "$APP" "$SPACE" "$SAMESITE" >/dev/null 2>&1 || true
  [ -n "${INDEX_PID:-}" ] && kill "$INDEX_PID" 2>/dev/null || true
  [ -n "${INDEX_DIR:-}" ] && rm -rf "$INDEX_DIR"
}
trap cleanup EXIT

if [ -n "$TORCH_WHEELS" ]; then
  # A one-project index (PEP 503 layout) over the wheel folder, on loopback (the build has --network host).
  INDEX_DIR=$(mktemp -d)
  mkdir "$INDEX_DIR/torch"
  ln -s "$(realpath "$TORCH_WHEELS")"/torch-*.whl "$INDEX_DIR/torch/"
  "$PY" -m http.server "$INDEX_PORT" --bind 127.0.0.1 --directory "$INDEX_DIR" >/dev/null 2>&1 &
  INDEX_PID=$!
  TORCH_INDEX=http://127.0.0.1:$INDEX_PORT/
  sleep 1
fi

echo "== build (BASE_IMAGE=$BASE_IMAGE, TORCH_INDEX=$TORCH_INDEX)"
t0=$(date +%s)
docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg TORCH_INDEX="$TORCH_INDEX" \
  -t toymae:smoke . >/tmp/toymae-smoke-build.log 2>&1 || { tail -30 /tmp/toymae-smoke-build.log; exit 1; }
t1=$(date +%s)
docker build --network host --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg TORCH_INDEX="$TORCH_INDEX" \
  --build-arg XSRF_PROTECTION=false -t toymae:smoke-space . >>/tmp/toymae-smoke-build.log 2>&1 \
  || { tail -30 /tmp/toymae-smoke-build.log; exit 1; }
t2=$(date +%s)
size=$(docker image inspect -f '{{.Size}}' toymae:smoke)
torch_mb=$(docker run --rm --entrypoint du toymae:smoke -sm /opt/venv/lib/python3.11/site-packages/torch | cut -f1)
echo "build: $((t1 - t0)) s; the Space image after it: $((t2 - t1)) s (every layer but the last shared)"
echo "image size: $((size / 1000000)) MB (torch $torch_mb MB)"

echo "== CLI in the container"
out=$(docker run --rm toymae:smoke sh -c 'id -u; pwd; stat -c %U .; python -m toymae train --recipe tiny --steps 5 --quiet >/dev/null && ls runs' 2>&1 || true)
echo "$out" | tr '\n' ' '; echo
[ "$(echo "$out" | sed -n 1p)" = 1000 ] && [ "$(echo "$out" | sed -n 3p)" = user ] \
  && echo "$out" | grep -q model.safetensors \
  && echo "ok   uid 1000, work dir \$HOME/app owned by user: the default train --out runs/... is written" \
  || { echo "FAIL the default output in the work dir"; exit 1; }
set +e
err=$(docker run --rm --read-only --tmpfs /tmp toymae:smoke python -m toymae train --recipe tiny --steps 5 --quiet 2>&1 >/dev/null)
rc=$?
set -e
echo "     read-only root, default --out: exit $rc: $err"
[ "$rc" = 2 ] && [ "$(echo "$err" | wc -l)" = 1 ] && ! echo "$err" | grep -q "^training" \
  && echo "ok   an unwritable --out is refused in one line (exit 2) before training" \
  || { echo "FAIL unwritable --out"; exit 1; }
docker run --rm --read-only --tmpfs /tmp toymae:smoke python -m toymae train --recipe tiny --steps 5 --quiet \
  --out /tmp/m.safetensors >/dev/null && echo "ok   read-only root, --out /tmp/m.safetensors: trained and written"

echo "== serve read-only with a tmpfs /tmp"
# The third: the default image with XSRF protection kept but its cookie marked SameSite=None (a Space
# Variable can set this at run time, see docs/security.md).
for spec in "$APP:$APP_PORT:toymae:smoke:lax" "$SPACE:$SPACE_PORT:toymae:smoke-space:lax" \
  "$SAMESITE:$SAMESITE_PORT:toymae:smoke:none"; do
  IFS=: read -r name port image tag samesite <<<"$spec"
  docker run -d --name "$name" --read-only --tmpfs /tmp:rw,mode=1777,size=512m \
    -e STREAMLIT_SERVER_XSRF_COOKIE_SAME_SITE="$samesite" -p "127.0.0.1:$port:8501" "$image:$tag" >/dev/null
done
t0=$(date +%s)
for name in "$APP" "$SPACE" "$SAMESITE"; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ]; do
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || { docker logs "$name" | tail; exit 1; }
    [ $(($(date +%s) - t0)) -lt 240 ] || { echo "FAIL $name not healthy in 240 s"; exit 1; }
    sleep 2
  done
  echo "ok   $name healthy after $(($(date +%s) - t0)) s ($(docker inspect -f '{{.Config.User}}' "$name"), read-only: $(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$name"))"
done

echo "== browser"
"$PY" scripts/container_smoke.py --app "http://127.0.0.1:$APP_PORT" --app-container "$APP" \
  --space "http://127.0.0.1:$SPACE_PORT" --space-container "$SPACE" \
  --samesite "http://127.0.0.1:$SAMESITE_PORT" --samesite-container "$SAMESITE"
echo "== container memory (docker stats)"
docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' "$APP" "$SPACE" "$SAMESITE"
echo "all checks passed"
