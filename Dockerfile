# A CPU image of the toymae dashboard, usable as a Docker-based Hugging Face Space (app_port 8501).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=2 STREAMLIT_SERVER_PORT=8501 STREAMLIT_SERVER_ADDRESS=0.0.0.0
WORKDIR /app

# The CPU-only torch wheel (the default index would pull GBs of CUDA libraries), then the rest.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

# Hugging Face Spaces run containers as uid 1000; so do we.
RUN useradd --create-home --uid 1000 user
COPY --chown=user:user . .
USER user

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health').read()==b'ok' else 1)"
CMD ["streamlit", "run", "app.py"]
