FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
        tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
# The app never runs as root: a fixed unprivileged user owns /app and its .venv.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin rag
WORKDIR /app
RUN chown rag:rag /app
USER rag
COPY --chown=rag:rag pyproject.toml README.md ./
COPY --chown=rag:rag rag ./rag
COPY --chown=rag:rag scripts ./scripts
RUN bash scripts/setup.sh
COPY --chown=rag:rag app.py ./
COPY --chown=rag:rag pages ./pages
COPY --chown=rag:rag ui ./ui
# Only the settings file: secrets.toml is never copied into an image (it is in .dockerignore too);
# mount it at run time, or pass the keys as environment variables.
COPY --chown=rag:rag .streamlit/config.toml ./.streamlit/config.toml
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4)"
# 0.0.0.0 inside the container only: docker-compose.yml publishes the port on 127.0.0.1 by default.
CMD [".venv/bin/streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
