#!/usr/bin/env bash
# Build a Python 3.11 base image from Debian packages, for machines that cannot pull from Docker Hub.
#
#   scripts/local_base_image.sh [TAG]      (default TAG: local/python:3.11-bookworm; needs root)
#
# debootstrap fetches a minimal Debian bookworm from the Debian mirror; `docker import` turns it into
# an image; a derived image adds Debian's python3.11 with venv and pip. Debian's python is `python3`
# and its system pip refuses to install packages (PEP 668), so the Dockerfile installs into a venv of
# its own, which works on this base and on python:3.11-slim alike.
#
# CA_BUNDLE (default: this machine's /etc/ssl/certs/ca-certificates.crt) replaces the image's CA list,
# and pip is told to use it: on a machine whose egress goes through a TLS-inspecting proxy, pip inside
# `docker build` otherwise fails certificate checks. The image is for local builds only; a published
# image starts from python:3.11-slim.
set -euo pipefail
TAG=${1:-local/python:3.11-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "$TAG exists"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! docker image inspect local/bookworm-minbase >/dev/null 2>&1; then
  debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; exit 1; }
  tar -C "$work/rootfs" -c . | docker import - local/bookworm-minbase >/dev/null
  rm -rf "$work/rootfs"
fi
cp "$CA_BUNDLE" "$work/ca-certificates.crt"
cat >"$work/Dockerfile" <<'DOCKERFILE'
FROM local/bookworm-minbase
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-pip ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/python3 /usr/local/bin/python
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
DOCKERFILE
docker build --network host -t "$TAG" "$work" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
echo "built $TAG"
