# The toymae dashboard on CPU, for a Docker-SDK Hugging Face Space (app_port 8501) or any container host.
#
#   docker build -t toymae .
#   docker run --read-only --tmpfs /tmp -p 8501:8501 toymae       # a read-only root needs a /tmp
#   docker build --build-arg XSRF_PROTECTION=false -t toymae-space .   # a Space's image, see below
#
# Build arguments: BASE_IMAGE (python:3.11-slim, or any Debian-like image with python3.11 and venv, e.g.
# scripts/local_base_image.sh's where Docker Hub is unreachable), TORCH_INDEX (a pip index holding the
# CPU torch wheel) and XSRF_PROTECTION. docs/hosting.md has the steps; scripts/container_smoke.sh
# builds, runs and drives the image.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH

# The dependencies go into a root-owned venv: the app's user runs them but cannot change them, and a
# venv works on Debian's python too, whose system pip refuses to install (PEP 668). First the CPU-only
# torch wheel at the version requirements.txt pins (the default index's Linux wheel pulls several GB of
# CUDA libraries), alone; then requirements.txt, which finds that torch installed and brings its
# dependencies from the default index with everything else.
WORKDIR /opt/toymae
COPY requirements.txt .
RUN python3 -m venv /opt/venv \
 && pip install --no-deps --index-url "$TORCH_INDEX" torch==2.13.0 \
 && pip install -r requirements.txt

# Hugging Face Spaces run containers as uid 1000; so do we, in a folder of the user's own, so the CLI can
# write its default output (runs/) there when the root file system is writable. The user makes the
# folder: WORKDIR alone would create it owned by root (Docker's classic builder does).
RUN useradd --create-home --uid 1000 user
USER user
ENV HOME=/home/user
RUN mkdir "$HOME/app"
WORKDIR $HOME/app
COPY --chown=user:user . .

# Streamlit and torch (the optimiser imports torch._dynamo, which needs a temp folder) write temporary
# files under TMPDIR. With --read-only, mount a tmpfs there, or the Train page fails with "No usable
# temporary directory". The CLI then writes to /tmp too: python -m toymae train --out /tmp/m.safetensors.
ENV TMPDIR=/tmp OMP_NUM_THREADS=2 STREAMLIT_SERVER_PORT=8501 STREAMLIT_SERVER_ADDRESS=0.0.0.0

# XSRF protection stays on, except in an image built for a Hugging Face Space: a Space embeds the app in
# a cross-site iframe, where the browser withholds Streamlit's XSRF cookie and every upload fails with
# HTTP 403. A Space passes its Variables to the build as arguments, so the Variable XSRF_PROTECTION=false
# builds that image. The trade-off is in docs/security.md. Declared last: both images share every layer
# above.
ARG XSRF_PROTECTION=true
ENV STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=$XSRF_PROTECTION

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read()==b'ok' else 1)"
CMD ["streamlit", "run", "app.py"]
