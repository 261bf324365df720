# hpo worker image: `docker run IMAGE worker --study NAME --storage URL` (ENTRYPOINT is `hpo`).
#
#   docker build -t hpo .                                                 # CPU
#   docker build -t hpo --build-arg PIP_EXTRA='tensorflow[and-cuda]' .    # NVIDIA GPUs
#
# GPUs: the slim base carries no CUDA, and needs none. TensorFlow's `and-cuda` extra
# installs CUDA and cuDNN as pip wheels (nvidia-*-cu12), so the image only needs the
# host's NVIDIA driver, which the NVIDIA Container Toolkit mounts in at run time:
#   docker run --gpus device=0 hpo worker --study keypoints --storage postgresql+psycopg://...
# (docker-compose.yml builds with that extra by default.) To build on NVIDIA's own CUDA
# userland instead, start from e.g. `nvidia/cuda:12.5.1-cudnn-runtime-ubuntu24.04`, install
# python3.11 (deadsnakes PPA or uv) and keep the rest of this file, with plain `tensorflow`.
# The base below works on CPU either way.
FROM python:3.11-slim

# One extra requirement installed next to hpo, e.g. 'tensorflow[and-cuda]' or 'torch'
# (the `gp` sampler); empty for a CPU-only image.
ARG PIP_EXTRA=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HPO_CACHE_DIR=/cache \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --gid 1000 hpo \
    && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin hpo

# The worker looks for search_spaces/NAME.yaml in its working directory.
WORKDIR /app

# Dependencies first (TensorFlow alone is hundreds of MB), in a layer that only
# pyproject.toml invalidates: install the project with an empty package, then the real one.
COPY pyproject.toml README.md ./
RUN mkdir hpo && touch hpo/__init__.py \
    && pip install . ${PIP_EXTRA:+"$PIP_EXTRA"} \
    && rm -rf hpo build *.egg-info

COPY hpo/ hpo/
RUN pip install --no-deps --force-reinstall . && rm -rf build *.egg-info && hpo --version

COPY search_spaces/ search_spaces/

# /cache: the parsed-data cache ($HPO_CACHE_DIR); /artifacts: trial checkpoints when
# $HPO_ARTIFACTS points there; /app/storage: the SQLite default, unused with PostgreSQL.
# Named volumes mounted on them start with this ownership.
RUN mkdir -p /cache /artifacts /app/storage /data && chown hpo:hpo /cache /artifacts /app/storage

USER 1000:1000

ENTRYPOINT ["hpo"]
CMD ["worker", "--help"]
