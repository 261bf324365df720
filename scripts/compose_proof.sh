#!/usr/bin/env bash
# docker-compose.yml, run for real: PostgreSQL, two CPU workers and the dashboard on one
# study, with a worker killed and PostgreSQL restarted mid-study; then the study must have
# finished its budget with nothing lost, nothing run twice and the dashboard answering.
# Slow (5-7 minutes here; a first run also makes the base and images: 2-3 minutes more on
# this machine, longer where the wheels must come from far away), so not part of CI.
#
#   bash scripts/compose_proof.sh          # as root, on a machine with a Docker engine
#
# No registry is needed: the base image is Debian bookworm made with debootstrap and
# `docker import` (hpo-base:local), PostgreSQL is Debian's package on it (hpo-postgres:local),
# and hpo is installed from wheels downloaded on the host (PyPI) plus a wheel built from this
# working tree now (hpo:local). Downloads are cached in deploy/local/.cache (git-ignored).
# The stack is docker-compose.yml with deploy/local/docker-compose.local.yml over it, run as
# its own project (hpo-proof), so a user's `hpo` project and its volumes are never touched.
#
# Needs: docker.io and docker-compose (or the compose plugin), debootstrap, curl, Python 3.11
# with pip and PyYAML; on Debian: apt-get install docker.io docker-compose debootstrap curl,
# and `dockerd &` where no init system starts it.
#
# Settings (environment): HPO_PROOF_PG_PORT (55432; the host's own PostgreSQL may hold 5432),
# HPO_PROOF_TIMEOUT (1800 s for the study), HPO_PROOF_REBUILD_BASE=1 (debootstrap again),
# HPO_PROOF_KEEP=1 (leave the stack up at the end), HPO_PROOF_DEBIAN_MIRROR, PYTHON,
# HPO_PROOF_SOURCE (another checkout to build the hpo wheel from; default: this working tree).
# Everything the run saw is kept in deploy/local/.cache/last-run/ (compose.log: all logs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$PWD
LOCAL=deploy/local
CACHE=$LOCAL/.cache
CTX=$CACHE/build
RUN=$CACHE/last-run
PROJECT=${HPO_PROOF_PROJECT:-hpo-proof}
MIRROR=${HPO_PROOF_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${HPO_PROOF_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
TIMEOUT=${HPO_PROOF_TIMEOUT:-1800}
# The faults, by the number of trials finished when they happen.
KILL_AT=${HPO_PROOF_KILL_AT:-4}          # docker kill a worker mid-trial, then docker start it
RESTART_PG_AT=${HPO_PROOF_RESTART_PG_AT:-10}  # docker restart postgres with trials running
CRASH_AT=${HPO_PROOF_CRASH_AT:-16}       # SIGKILL a worker's process: restart: on-failure restarts it

# What docker-compose.yml reads from the environment (a .env file in the repo is overridden).
export HPO_STUDY=compose_proof
export POSTGRES_PASSWORD=proof-Pw_1
export POSTGRES_PORT=${HPO_PROOF_PG_PORT:-55432}
export POSTGRES_BIND=127.0.0.1 HPO_DASHBOARD_BIND=127.0.0.1
export HPO_PIP_EXTRA=""   # the CPU image, as the compose file says for machines without GPUs
DASHBOARD=http://127.0.0.1:8080

started=$SECONDS
log() { printf '[%s +%4ds] %s\n' "$(date +%T)" "$((SECONDS - started))" "$*"; }
die() { log "compose_proof: $*" >&2; exit 1; }
event() { log "$*"; printf '+%4ds  %s\n' "$((SECONDS - started))" "$*" >> "$RUN/timeline.txt"; }

# --- tools ----------------------------------------------------------------------------------
docker info >/dev/null 2>&1 || die "no Docker engine answers (install docker.io; start dockerd)"
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
  COMPOSE=(docker-compose)
else
  die "neither 'docker compose' nor docker-compose is installed"
fi
command -v curl >/dev/null || die "curl is needed"
PY=
for candidate in "${PYTHON:-python3}" .venv/bin/python /usr/bin/python3; do
  if "$candidate" -c 'import sys, yaml, pip; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    PY=$candidate; break
  fi
done
# 3.11: Debian bookworm's Python, which the images run; wheels are resolved for it here.
[ -n "$PY" ] || die "needs Python 3.11 with pip and PyYAML on the host (set PYTHON=...)"
mkdir -p "$CACHE" "$CTX/wheels"
rm -rf "$RUN" && mkdir -p "$RUN"
: > "$RUN/timeline.txt"
log "docker $(docker version -f '{{.Server.Version}}'), $("${COMPOSE[@]}" version --short 2>/dev/null \
  || "${COMPOSE[@]}" version | head -1), host $("$PY" --version)"

# --- 1. base image: Debian bookworm from debootstrap ------------------------------------------
if [ -n "${HPO_PROOF_REBUILD_BASE:-}" ] || ! docker image inspect hpo-base:local >/dev/null 2>&1; then
  tarball=$CACHE/rootfs/bookworm-minbase.tar
  if [ -n "${HPO_PROOF_REBUILD_BASE:-}" ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is needed for the base image"
    root=$CACHE/rootfs/tree
    rm -rf "$root" && mkdir -p "$root"
    log "debootstrap bookworm (minbase + python3, python3-venv) from $MIRROR"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" "$MIRROR" > "$CACHE/rootfs/debootstrap.log" 2>&1; then
      tail -n 20 "$CACHE/rootfs/debootstrap.log" >&2; die "debootstrap failed ($CACHE/rootfs/debootstrap.log)"
    fi
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
      "$MIRROR" "$MIRROR" "$SECURITY_MIRROR" > "$root/etc/apt/sources.list"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    chroot "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -q' \
      >> "$CACHE/rootfs/debootstrap.log" 2>&1 || die "apt-get upgrade in the rootfs failed"
    chroot "$root" apt-get clean
    rm -rf "$root"/var/lib/apt/lists/* "$root"/etc/resolv.conf "$root"/etc/hostname
    tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "docker import $tarball as hpo-base:local"
  docker import --change 'CMD ["/bin/bash"]' "$tarball" hpo-base:local >/dev/null
fi
log "base: hpo-base:local, $(docker run --rm hpo-base:local sh -c '. /etc/os-release; echo "$PRETTY_NAME, $(python3 --version)"')"

# --- 2. the hpo build context: wheels from the host ------------------------------------------
rm -rf "$CTX/hpo" "$CTX/search_spaces" && mkdir -p "$CTX/hpo" "$CTX/search_spaces"
src=$(mktemp -d)
# A clean copy of the working tree's package, so no stale build/ output gets into the wheel.
SOURCE=${HPO_PROOF_SOURCE:-$REPO}
tar -C "$SOURCE" --exclude=__pycache__ -cf - pyproject.toml README.md hpo | tar -C "$src" -xf -
"$PY" -m pip wheel -q --no-deps -w "$CTX/hpo" "$src" > "$RUN/pip-hpo.log" 2>&1 \
  || { tail -n 20 "$RUN/pip-hpo.log" >&2; die "building the hpo wheel failed"; }
rm -rf "$src"
wheel=$(ls "$CTX"/hpo/hpo-*.whl)
log "hpo wheel built from $SOURCE: $(basename "$wheel")"
"$PY" - "$wheel" > "$CTX/requirements.txt.new" <<'EOF'
import email, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as w:
    meta = next(n for n in w.namelist() if n.endswith(".dist-info/METADATA"))
    for req in email.message_from_bytes(w.read(meta)).get_all("Requires-Dist") or []:
        if "extra ==" not in req:
            print(req)
EOF
# Rewritten only when it changes, so the dependency layer stays cached.
if cmp -s "$CTX/requirements.txt.new" "$CTX/requirements.txt"; then
  rm "$CTX/requirements.txt.new"
else
  mv "$CTX/requirements.txt.new" "$CTX/requirements.txt"
fi
# The dependencies: from the cache alone when it has them all, else from PyPI into the cache.
extra=(); [ -n "$HPO_PIP_EXTRA" ] && extra=("$HPO_PIP_EXTRA")
if "$PY" -m pip wheel -q --no-index --find-links "$CTX/wheels" -w "$CTX/wheels" \
    -r "$CTX/requirements.txt" "${extra[@]}" > "$RUN/pip-deps.log" 2>&1; then
  log "dependency wheels: all in the cache ($(ls "$CTX/wheels" | wc -l) files)"
else
  log "downloading dependency wheels into $CTX/wheels"
  "$PY" -m pip wheel -q -w "$CTX/wheels" -r "$CTX/requirements.txt" "${extra[@]}" > "$RUN/pip-deps.log" 2>&1 \
    || { tail -n 20 "$RUN/pip-deps.log" >&2; die "pip wheel of the dependencies failed"; }
fi
rm -f "$CTX"/wheels/hpo-*.whl
cp search_spaces/*.yaml "$LOCAL/compose_proof.yaml" "$CTX/search_spaces/"
BUDGET=$("$PY" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["budget"]["trials"])' \
  "$LOCAL/compose_proof.yaml")

# --- 3. the compose files ---------------------------------------------------------------------
# docker-compose.yml as a CPU machine runs it: the worker's GPU reservation removed, as the
# file's own comment says to do without GPUs (an override cannot delete a key; Compose v2's
# !reset is unknown to docker-compose 1.x). The top-level `name:` goes too, since
# docker-compose 1.x rejects it; -p names the project instead. Nothing else changes.
"$PY" - docker-compose.yml "$CACHE/docker-compose.cpu.yml" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
doc.pop("name", None)
doc["services"]["worker"].pop("deploy", None)
with open(sys.argv[2], "w") as f:
    f.write("# Generated by scripts/compose_proof.sh from docker-compose.yml: no `name:`, no GPU reservation.\n")
    yaml.safe_dump(doc, f, sort_keys=False)
EOF
compose() {
  "${COMPOSE[@]}" -p "$PROJECT" --project-directory "$REPO" \
    -f "$CACHE/docker-compose.cpu.yml" -f "$LOCAL/docker-compose.local.yml" "$@"
}
compose config -q || die "the compose files do not validate"

# --- 4. build ---------------------------------------------------------------------------------
log "building hpo-postgres:local and hpo:local (log: $RUN/build.log)"
compose build > "$RUN/build.log" 2>&1 || { tail -n 30 "$RUN/build.log" >&2; die "compose build failed"; }
log "images: $(docker run --rm hpo:local --version), hpo-postgres:local $(docker run --rm \
  --entrypoint postgres hpo-postgres:local --version | awk '{print $3}')"

# --- 5. up ------------------------------------------------------------------------------------
compose down -v --remove-orphans > /dev/null 2>&1 || true   # an earlier run's leftovers
if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then die "127.0.0.1:8080 is taken; the dashboard publishes it"; fi
cleanup() {
  local rc=$?
  compose logs --no-color > "$RUN/compose.log" 2>&1 || true
  if [ -n "${HPO_PROOF_KEEP:-}" ]; then
    log "HPO_PROOF_KEEP: the stack stays up; remove it with:" \
        "${COMPOSE[*]} -p $PROJECT --project-directory . -f $CACHE/docker-compose.cpu.yml" \
        "-f $LOCAL/docker-compose.local.yml down -v"
  else
    compose down -v --remove-orphans > "$RUN/down.log" 2>&1 || true
  fi
  log "logs: $RUN/compose.log; took $((SECONDS - started)) s in all; exit $rc"
}
trap cleanup EXIT
study_started=$SECONDS
event "docker-compose up -d --scale worker=2 (postgres, dashboard, 2 workers; study $HPO_STUDY, budget $BUDGET)"
compose up -d --scale worker=2 > "$RUN/up.log" 2>&1 || { cat "$RUN/up.log" >&2; die "compose up failed"; }
PG=$(compose ps -q postgres)
mapfile -t WORKERS < <(compose ps -q worker)
[ "${#WORKERS[@]}" = 2 ] || die "expected 2 worker containers, got ${#WORKERS[@]}"
name_of() { docker inspect -f '{{.Name}}' "$1" | sed 's,^/,,'; }
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1"; }
log "postgres $(health "$PG"); workers $(for w in "${WORKERS[@]}"; do printf '%s ' "$(name_of "$w")"; done)"

pgq() { docker exec "$PG" psql -U hpo -d hpo -tA -F ' ' -c "$1" 2>/dev/null; }
COUNTS_SQL="select coalesce(sum((t.state in ('COMPLETE','PRUNED'))::int), 0), coalesce(sum((t.state = 'RUNNING')::int), 0),
  coalesce(sum((t.state = 'WAITING')::int), 0), coalesce(sum((t.state = 'FAIL')::int), 0)
  from trials t join studies s on s.study_id = t.study_id where s.study_name = '$HPO_STUDY'"
# RUNNING trials: number, the worker's hostname (its container's short id), epochs reported,
# and when it started (Unix time; the containers' clocks are UTC, as optuna's naive times are).
RUNNING_SQL="select t.number, coalesce(split_part((ua.value_json::json)->>'worker', '/', 1), '-'),
  (select count(*) from trial_intermediate_values v where v.trial_id = t.trial_id),
  extract(epoch from t.datetime_start)::bigint
  from trials t join studies s on s.study_id = t.study_id
  left join trial_user_attributes ua on ua.trial_id = t.trial_id and ua.key = 'runtime'
  where s.study_name = '$HPO_STUDY' and t.state = 'RUNNING' order by t.number"
FIN=0 RUNNING=0 WAITING=0 FAILED=0
poll() {  # FIN RUNNING WAITING FAILED; unchanged while the database does not answer
  local out
  out=$(pgq "$COUNTS_SQL") && [ -n "$out" ] && read -r FIN RUNNING WAITING FAILED <<< "$out"
  return 0
}
deadline=$((SECONDS + TIMEOUT))
wait_for() {  # wait_for FINISHED: until that many trials finished (and one is running, if any left)
  while poll; [ "$FIN" -lt "$1" ]; do
    [ $SECONDS -lt $deadline ] || die "timed out waiting for $1 finished trials (at $FIN)"
    sleep 1
  done
}
# A worker container running a trial that has reported at least one epoch: "number container".
# The trial must have started after the container did: a restarted worker keeps its hostname,
# and the trial its first life left RUNNING is not one it is running now.
busy_worker() {
  local number host epochs since w up
  while read -r number host epochs since; do
    [ -n "$number" ] && [ "$epochs" -ge 1 ] || continue
    for w in "${WORKERS[@]}"; do
      [[ $w == "$host"* ]] && [ "$(docker inspect -f '{{.State.Running}}' "$w")" = true ] || continue
      up=$(date -d "$(docker inspect -f '{{.State.StartedAt}}' "$w")" +%s)
      if [ "$since" -ge "$up" ]; then
        echo "$number $w"; return 0
      fi
    done
  done < <(pgq "$RUNNING_SQL")
  return 1
}
victim_of() {  # victim_of FINISHED: wait for that many finished, then a busy worker
  local found
  wait_for "$1"
  until found=$(busy_worker); do
    [ $SECONDS -lt $deadline ] || die "timed out waiting for a busy worker"
    sleep 0.5
  done
  echo "$found"
}

dash() { curl -s -o /dev/null -m 30 -w '%{http_code}' "$DASHBOARD$1" || true; }
# The dashboard, as a browser open on it before anything goes wrong would see it.
until [ "$(dash /api/studies)" = 200 ]; do
  [ $SECONDS -lt $deadline ] || die "the dashboard never answered"
  sleep 1
done
DASH_BEFORE=$(dash /dashboard)
event "dashboard answers: GET /api/studies 200, GET /dashboard $DASH_BEFORE"

# --- 6. faults --------------------------------------------------------------------------------
# (a) docker kill: SIGKILL, mid-trial. Docker counts it as a manual stop, so the restart policy
# leaves it down (checked); it is started again by hand, as an operator would.
found=$(victim_of "$KILL_AT")
read -r KILL_TRIAL KILL_CID <<< "$found"
poll; KILL_FIN=$FIN KILL_RUNNING=$RUNNING
docker kill "$KILL_CID" > /dev/null
event "docker kill $(name_of "$KILL_CID") during its trial $KILL_TRIAL ($FIN/$BUDGET finished, $RUNNING running)"
sleep 10
state=$(docker inspect -f '{{.State.Status}} (exit {{.State.ExitCode}}, {{.RestartCount}} restarts)' "$KILL_CID")
case $state in
  exited*) event "$(name_of "$KILL_CID") 10 s later: $state; Docker treats docker kill as a manual stop" ;;
  *) event "$(name_of "$KILL_CID") 10 s later: $state" ;;
esac
docker start "$KILL_CID" > /dev/null
event "docker start $(name_of "$KILL_CID")"

# (b) docker restart postgres while trials run.
wait_for "$RESTART_PG_AT"
until poll; [ "$RUNNING" -ge 1 ]; do sleep 0.5; done
PG_FIN=$FIN PG_RUNNING=$RUNNING
t0=$SECONDS
docker restart "$PG" > /dev/null
event "docker restart $(name_of "$PG") ($FIN/$BUDGET finished, $RUNNING running); took $((SECONDS - t0)) s"
until [ "$(health "$PG")" = healthy ] && pgq 'select 1' > /dev/null; do
  [ $SECONDS -lt $deadline ] || die "postgres did not come back"
  sleep 1
done
event "postgres healthy again"
# optuna-dashboard's engine has no pool_pre_ping: its pooled connections died with the server.
DASH_AFTER_PG_1=$(dash /api/studies)
DASH_AFTER_PG_2=$(dash /api/studies)
event "dashboard after the restart: GET /api/studies $DASH_AFTER_PG_1, then $DASH_AFTER_PG_2"

# (c) a crash: SIGKILL to a worker's process from the host. `restart: on-failure` must restart it.
found=$(victim_of "$CRASH_AT")
read -r CRASH_TRIAL CRASH_CID <<< "$found"
poll; CRASH_FIN=$FIN
restarts_before=$(docker inspect -f '{{.RestartCount}}' "$CRASH_CID")
kill -KILL "$(docker inspect -f '{{.State.Pid}}' "$CRASH_CID")"
event "kill -KILL the hpo process of $(name_of "$CRASH_CID") during its trial $CRASH_TRIAL ($FIN/$BUDGET finished)"
CRASH_RESTARTED=false
for _ in $(seq 60); do
  if [ "$(docker inspect -f '{{.RestartCount}}' "$CRASH_CID")" -gt "$restarts_before" ]; then
    CRASH_RESTARTED=true; break
  fi
  sleep 0.5
done
event "$(name_of "$CRASH_CID"): restarted by Docker's restart policy: $CRASH_RESTARTED"

# --- 7. the end: every worker exits 0 once the budget is spent ---------------------------------
last=0
while :; do
  poll
  done_workers=0
  for w in "${WORKERS[@]}"; do
    [ "$(docker inspect -f '{{.State.Status}}/{{.State.ExitCode}}' "$w")" = exited/0 ] && done_workers=$((done_workers + 1))
  done
  [ "$done_workers" = "${#WORKERS[@]}" ] && break
  if [ $((SECONDS - last)) -ge 15 ]; then
    log "  $FIN/$BUDGET finished, $RUNNING running, $WAITING waiting, $FAILED failed; $done_workers workers done"
    last=$SECONDS
  fi
  [ $SECONDS -lt $deadline ] || die "the study did not finish within $TIMEOUT s ($FIN/$BUDGET finished)"
  sleep 2
done
poll
event "both workers exited 0: $FIN/$BUDGET finished, $RUNNING running, $WAITING waiting, $FAILED failed;" \
      "study took $((SECONDS - study_started)) s"

# --- 8. what the stack says -------------------------------------------------------------------
compose run --rm --no-deps -T worker status --study "$HPO_STUDY" --json > "$RUN/status.json" 2> "$RUN/status.err" \
  || { cat "$RUN/status.err" >&2; die "hpo status failed"; }
compose run --rm --no-deps -T worker status --study "$HPO_STUDY" 2>&1 | grep -v '^Creating ' > "$RUN/status.txt" || true
compose run --rm --no-deps -T --entrypoint python worker -c "$(cat "$LOCAL/compose_proof_check.py")" \
  dump "$HPO_STUDY" > "$RUN/trials.json" 2> "$RUN/dump.err" || { cat "$RUN/dump.err" >&2; die "trial dump failed"; }
MAX_CONNECTIONS=$(pgq 'show max_connections')
INDEX_STATUS=$(dash /dashboard)
DASH_NAME=$(compose ps -q dashboard)
DASH_RESTARTS=$(docker inspect -f '{{.RestartCount}}' "$DASH_NAME")
docker logs "$DASH_NAME" 2>&1 | grep -c 'relation "version_info" does not exist' > "$RUN/dashboard-empty-db-crashes" || true
curl -sf "$DASHBOARD/api/studies" > "$RUN/dashboard-studies.json" || die "dashboard: GET /api/studies failed"
study_id=$("$PY" -c 'import json, sys; print(next(s["study_id"] for s in json.load(open(sys.argv[1]))["study_summaries"]
  if s["study_name"] == sys.argv[2]))' "$RUN/dashboard-studies.json" "$HPO_STUDY") \
  || die "dashboard: study $HPO_STUDY not in /api/studies"
curl -sf "$DASHBOARD/api/studies/$study_id" > "$RUN/dashboard-study.json" || die "dashboard: GET /api/studies/$study_id failed"

containers=$(for w in "${WORKERS[@]}"; do
  docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$w"; done)
export KILL_TRIAL KILL_FIN KILL_RUNNING PG_FIN PG_RUNNING CRASH_TRIAL CRASH_FIN CRASH_RESTARTED \
  MAX_CONNECTIONS INDEX_STATUS DASH_BEFORE DASH_AFTER_PG_1 DASH_AFTER_PG_2 DASH_RESTARTS containers
"$PY" - "$RUN" <<'EOF'
import json, os, sys
from pathlib import Path
e = os.environ
events = {
    "killed_worker": {"trial": int(e["KILL_TRIAL"]), "finished_before": int(e["KILL_FIN"]),
                      "running_before": int(e["KILL_RUNNING"])},
    "postgres_restarted": {"finished_before": int(e["PG_FIN"]), "running_before": int(e["PG_RUNNING"])},
    "crashed_worker": {"trial": int(e["CRASH_TRIAL"]), "finished_before": int(e["CRASH_FIN"]),
                       "restarted_by_docker": e["CRASH_RESTARTED"] == "true"},
    "containers": [dict(zip(("name", "status", "exit_code", "restarts"), line.split()))
                   for line in e["containers"].splitlines()],
    "postgres": {"max_connections": e["MAX_CONNECTIONS"]},
    "dashboard": {"index_status": int(e["INDEX_STATUS"] or 0), "before_faults": int(e["DASH_BEFORE"] or 0),
                  "after_pg_restart": [int(e["DASH_AFTER_PG_1"] or 0), int(e["DASH_AFTER_PG_2"] or 0)],
                  "restarts": int(e["DASH_RESTARTS"]),
                  "empty_db_crashes": int(Path(sys.argv[1], "dashboard-empty-db-crashes").read_text() or 0)},
    "timeline": Path(sys.argv[1], "timeline.txt").read_text().splitlines(),
}
for c in events["containers"]:
    c["name"] = c["name"].lstrip("/")
    c["exit_code"], c["restarts"] = int(c["exit_code"]), int(c["restarts"])
Path(sys.argv[1], "events.json").write_text(json.dumps(events, indent=1))
EOF
cat "$RUN/status.txt"
HPO_STUDY=$HPO_STUDY "$PY" "$LOCAL/compose_proof_check.py" report "$RUN" | tee "$RUN/summary.txt"
exit "${PIPESTATUS[0]}"
