#!/usr/bin/env bash
# Create .venv and install the app (and, with --dev, the test tools). Safe to run again: pip skips
# what is already installed. Needs Python >= 3.11 and network access to PyPI only.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" --upgrade pip
# torch first, pinned, so nothing else can pull a multi-GB CUDA build.
"${PIP[@]}" torch==2.13.0
# llama-cpp-python has no binary wheel and compiles (~6 min on 2 cores, cached by pip afterwards).
# The default native build can crash with SIGILL on VMs whose CPU advertises AMX; build portable
# AVX2 kernels on x86-64 instead.
if [ "$(uname -m)" = "x86_64" ]; then
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
fi
"${PIP[@]}" llama-cpp-python==0.3.36
# OCR of scanned PDF pages and images runs Debian's Tesseract (rag/ocr.py).
if ! command -v tesseract >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-eng) >/dev/null \
      || echo "warning: could not install tesseract-ocr; scanned pages and images will not be read" >&2
  else
    echo "note: install tesseract-ocr and tesseract-ocr-eng to read scanned PDF pages and images" >&2
  fi
fi
if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" -e ".[local-llm,dev]"
  # Browser tests use Debian's Chromium (never a browser download).
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver docker-compose) >/dev/null \
        || echo "warning: could not install chromium; browser tests will be skipped" >&2
    fi
  fi
else
  "${PIP[@]}" -e ".[local-llm]"
fi
