# The hpo image without a registry: Debian bookworm from debootstrap (hpo-base:local, made by
# scripts/compose_proof.sh with `docker import`) and Python wheels downloaded on the host.
# Same layout as the repository's Dockerfile (WORKDIR /app with search_spaces/, /cache,
# /artifacts, uid 1000, ENTRYPOINT hpo), so docker-compose.yml runs it unchanged.
#
# The build context is deploy/local/.cache/build, which compose_proof.sh stages:
#   wheels/            hpo's dependencies as wheels (a cache kept between runs)
#   requirements.txt   hpo's Requires-Dist, from the wheel below
#   hpo/*.whl          hpo, built from the working tree at the time of the run
#   search_spaces/     the repository's study files plus deploy/local/compose_proof.yaml
# Nothing is fetched during the build: pip runs with --no-index.

# Stage 1: the dependencies in a venv; only wheels/ and requirements.txt invalidate it.
FROM hpo-base:local AS deps
# docker-compose.yml passes PIP_EXTRA; its wheels must be in wheels/ (compose_proof.sh
# downloads them when HPO_PIP_EXTRA is set). Empty for the CPU image.
ARG PIP_EXTRA=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY wheels/ /tmp/wheels/
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /tmp/wheels \
       -r /tmp/requirements.txt ${PIP_EXTRA:+"$PIP_EXTRA"}

# Stage 2: the venv without the wheels it was installed from, then hpo itself.
FROM hpo-base:local

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HPO_CACHE_DIR=/cache \
    LANG=C.UTF-8

RUN groupadd --gid 1000 hpo \
    && useradd --uid 1000 --gid 1000 --create-home --shell /usr/sbin/nologin hpo

COPY --from=deps /opt/venv /opt/venv

WORKDIR /app

COPY hpo/ /tmp/hpo/
RUN pip install --no-index --no-deps /tmp/hpo/*.whl && rm -rf /tmp/hpo \
    && pip check && hpo --version

COPY search_spaces/ search_spaces/

RUN mkdir -p /cache /artifacts /app/storage /data && chown hpo:hpo /cache /artifacts /app/storage

USER 1000:1000

ENTRYPOINT ["hpo"]
CMD ["worker", "--help"]
