# PostgreSQL without a registry: Debian bookworm's postgresql-15 on hpo-base:local (see
# hpo.Dockerfile), behaving like the official `postgres` image as far as docker-compose.yml
# relies on it: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, the data directory
# /var/lib/postgresql/data, /docker-entrypoint-initdb.d run once on an empty volume (with the
# server on its socket only), pg_isready on PATH, and SIGINT (fast shutdown) to stop.
# Debian's package is PostgreSQL 15; the compose file's registry image is postgres:16.
FROM hpo-base:local

# Debian's package would otherwise create and start a cluster of its own at install time.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8

# A named volume mounted on PGDATA starts with this owner and mode.
RUN mkdir -p "$PGDATA" /docker-entrypoint-initdb.d /var/run/postgresql \
    && chown postgres:postgres "$PGDATA" /var/run/postgresql \
    && chmod 700 "$PGDATA" && chmod 2777 /var/run/postgresql

COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
