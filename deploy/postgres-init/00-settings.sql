-- Run once by the postgres image's entrypoint, when the pgdata volume is first initialised
-- (docker-compose.yml mounts this folder at /docker-entrypoint-initdb.d). Takes effect when
-- the entrypoint restarts the server right after the init scripts.
--
-- Each hpo worker holds a small SQLAlchemy pool (a few connections, up to 15) plus its
-- heartbeat; PostgreSQL's default of 100 connections runs out at a few dozen workers.
-- ALTER SYSTEM writes postgresql.auto.conf inside the volume, so the setting survives
-- restarts. For an existing volume run the same statement with psql, then restart postgres.
ALTER SYSTEM SET max_connections = 300;
