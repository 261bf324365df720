"""The deployment files: Dockerfile, docker-compose.yml, deploy/k8s/worker-job.yaml.

Neither Docker nor Kubernetes is needed. The compose file is validated against the Compose
Specification's JSON schema (vendored in tests/schemas/), the Kubernetes manifests against
Kubernetes' own schemas (the kubernetes-validate package), and every hpo command line in them
is parsed by hpo's real argument parser, with the variables substituted the way Compose and
Kubernetes substitute them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from sqlalchemy.engine import make_url

from hpo.cli import build_parser
from hpo.storage import resolve_url

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE_SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
K8S_JOB_FILE = REPO / "deploy" / "k8s" / "worker-job.yaml"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


# --- Compose: variable interpolation, as the Compose Specification defines it -------------------

_COMPOSE_VAR = re.compile(
    r"""\$(?:
        (?P<escaped>\$)
      | \{(?P<braced>[_A-Za-z][_A-Za-z0-9]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}
      | (?P<named>[_A-Za-z][_A-Za-z0-9]*)
      | (?P<invalid>)
    )""",
    re.VERBOSE,
)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``$$``, ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``:?``, ``:+`` in every
    string value; anything else after a ``$`` is an error, as in ``docker compose``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        if m.group("invalid") is not None:
            raise ValueError(f"invalid interpolation at {m.start()} in {value!r} (write $$ for a literal $)")
        name = m.group("braced") or m.group("named")
        op, arg = m.group("op"), m.group("arg") or ""
        set_, nonempty = name in env, bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else set_) else arg
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else set_) else ""
        if op in (":?", "?"):
            if nonempty if op == ":?" else set_:
                return env[name]
            raise ValueError(f"required variable {name} is missing: {arg}")
        return env.get(name, "")

    return _COMPOSE_VAR.sub(substitute, value)


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as Compose sees it with this environment (default: none set)."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env or {})


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def mounts(service: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for each short-syntax volume."""
    out = []
    for spec in service.get("volumes") or []:
        assert isinstance(spec, str), f"long-syntax volume not handled by this test: {spec}"
        source, target, *mode = spec.split(":")
        out.append((source, target, "ro" in (mode[0].split(",") if mode else [])))
    return out


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def run_entrypoint(entrypoint: list[str], command: list[str], tmp_path: Path) -> list[str]:
    """Run a ``/bin/sh -c SCRIPT ...`` entrypoint with a stand-in ``hpo`` that prints its argv."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(parents=True)
    fake_hpo = fake_bin / "hpo"
    fake_hpo.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake_hpo.chmod(0o755)
    env = {"PATH": f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    done = subprocess.run([*entrypoint, *command], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(COMPOSE_SCHEMA.read_text())


# --- docker-compose.yml -------------------------------------------------------------------------


def test_compose_file_is_valid_against_the_compose_specification(schema: dict[str, Any]) -> None:
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    assert "version" not in raw, "the Compose Specification has no `version:`; Compose warns it is obsolete"
    for doc in (raw, load_compose(), load_compose({"POSTGRES_PASSWORD": "s3cret", "HPO_PIP_EXTRA": ""})):
        errors = validator_class(schema).iter_errors(doc)
        assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []


def test_the_vendored_schema_is_the_real_one_and_rejects_mistakes(schema: dict[str, Any], compose: dict) -> None:
    assert schema["title"] == "Compose Specification"
    assert "json-schema.org" in schema["$schema"]
    validator = jsonschema.validators.validator_for(schema)(schema)
    mistakes: list[tuple[list[str | int], Any]] = [
        (["services", "worker", "restart_policy"], "on-failure"),  # not a service key
        (["services", "worker", "deploy", "resources", "reservations", "devices", 0, "capabilities"], "gpu"),
        (["services", "postgres", "healthcheck", "test"], 5),
        (["services", "worker", "depends_on", "postgres", "condition"], None),
    ]
    for path, bad in mistakes:
        doc = copy.deepcopy(compose)
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = bad
        assert not validator.is_valid(doc), f"schema accepted {'.'.join(map(str, path))} = {bad!r}"


def test_compose_variables_are_all_escaped_or_interpolable() -> None:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    interpolate(raw, {})  # raises on a bare `$1` or `$(...)`, as `docker compose` would
    with pytest.raises(ValueError, match="invalid interpolation"):
        interpolate({"x": "echo $1"}, {})


def test_worker_command_parses_with_hpos_parser(compose: dict[str, Any], tmp_path: Path) -> None:
    worker = compose["services"]["worker"]
    command = as_argv(worker["command"])
    args = build_parser().parse_args(command)
    assert args.command == "worker"
    assert (REPO / "search_spaces" / f"{args.study}.yaml").exists(), "the image has no study file for --study"
    # --data points into the read-only data mount.
    data_mounts = [(src, dst) for src, dst, ro in mounts(worker) if ro and args.data.startswith(dst.rstrip("/") + "/")]
    assert data_mounts, f"--data {args.data} is not under a read-only volume of the worker"

    # The same command with the variables set: the study and data file follow them.
    other = load_compose({"HPO_STUDY": "digits", "HPO_DATA": "/data/x.csv"})["services"]["worker"]
    args = build_parser().parse_args(as_argv(other["command"]))
    assert (args.study, args.data) == ("digits", "/data/x.csv")


def test_worker_entrypoint_gives_each_replica_its_own_worker_id(compose: dict[str, Any], tmp_path: Path) -> None:
    if not Path("/bin/sh").exists():
        pytest.skip("needs a POSIX shell")
    worker = compose["services"]["worker"]
    entrypoint, command = as_argv(worker["entrypoint"]), as_argv(worker["command"])
    argv = run_entrypoint(entrypoint, command, tmp_path)
    args = build_parser().parse_args(argv)
    assert args.command == "worker" and args.study == build_parser().parse_args(command).study
    # The id is a checksum of the container's hostname (its container id under Docker).
    cksum = subprocess.run("uname -n | cksum", shell=True, capture_output=True, text=True, check=True)
    assert args.worker_id == int(cksum.stdout.split()[0])
    # A --worker-id in the command wins; other subcommands pass through untouched.
    argv = run_entrypoint(entrypoint, [*command, "--worker-id", "7"], tmp_path / "2")
    assert build_parser().parse_args(argv).worker_id == 7
    status = ["status", "--study", "keypoints", "--json"]
    assert run_entrypoint(entrypoint, status, tmp_path / "3") == status


@pytest.mark.parametrize("env", [{}, {"POSTGRES_PASSWORD": "s3cret-Pw"}], ids=["defaults", "password-set"])
def test_worker_storage_url_is_the_compose_postgres(env: dict[str, str]) -> None:
    services = load_compose(env)["services"]
    url = make_url(resolve_url(environment(services["worker"])["HPO_STORAGE"]))
    pg = environment(services["postgres"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host in services and services[url.host]["image"].startswith("postgres:")
    assert url.port == 5432
    assert (url.username, url.password, url.database) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"],
                                                          pg["POSTGRES_DB"])
    assert url.password == env.get("POSTGRES_PASSWORD", url.password)


def test_worker_cache_is_a_named_volume(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    cache = environment(worker)["HPO_CACHE_DIR"]
    named = {dst: src for src, dst, _ in mounts(worker) if not src.startswith((".", "/"))}
    assert cache in named and named[cache] in compose["volumes"]


def test_dashboard_runs_optuna_dashboard_on_the_workers_database(compose: dict[str, Any]) -> None:
    services = compose["services"]
    dashboard, worker = services["dashboard"], services["worker"]
    argv = as_argv(dashboard["entrypoint"]) + as_argv(dashboard["command"])
    assert argv[:2] == ["hpo", "dashboard"]  # optuna-dashboard with hpo's storage settings
    options = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert resolve_url(options["--storage"]) == resolve_url(environment(worker)["HPO_STORAGE"])
    assert options["--host"] == "0.0.0.0"
    published = [str(p).rsplit(":", 1)[-1] for p in dashboard["ports"]]
    assert options["--port"] in published
    # Checkpoints the workers write are what the dashboard shows.
    worker_artifacts = environment(worker)["HPO_ARTIFACTS"]
    assert environment(dashboard)["HPO_ARTIFACTS"] == worker_artifacts
    shared = {(s, d) for s, d, _ in mounts(dashboard)} & {(s, d) for s, d, _ in mounts(worker)}
    assert any(d == worker_artifacts for _, d in shared)
    # The flags exist in the hpo that is in the image.
    hpo_bin = Path(sys.executable).parent / "hpo"
    help_text = subprocess.run([str(hpo_bin), "dashboard", "--help"], capture_output=True, text=True,
                               timeout=60).stdout
    for flag in options:
        assert flag in help_text
    # Dashboard and worker run the same image, so the optuna versions match.
    assert dashboard["image"] == worker["image"] and dashboard["build"] == worker["build"]


def test_postgres_is_healthchecked_and_waited_for(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = services["postgres"]
    test = as_argv(pg["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL") and "pg_isready" in test[1:][0]
    check = test[1:] if test[0] == "CMD" else shlex.split(test[1])
    flags = dict(zip(check[1::2], check[2::2], strict=False))
    env = environment(pg)
    assert (flags["-U"], flags["-d"]) == (env["POSTGRES_USER"], env["POSTGRES_DB"])
    for name in ("worker", "dashboard"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    assert any(dst == "/var/lib/postgresql/data" and src in compose["volumes"] for src, dst, _ in mounts(pg))


def test_postgres_init_scripts_exist_and_raise_max_connections(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    init = [src for src, dst, _ in mounts(pg) if dst == "/docker-entrypoint-initdb.d"]
    assert len(init) == 1
    folder = REPO / init[0]
    scripts = sorted(folder.glob("*.sql"))
    assert scripts, f"no *.sql in {folder}"
    match = re.search(r"ALTER\s+SYSTEM\s+SET\s+max_connections\s*=\s*(\d+)", scripts[0].read_text(), re.I)
    assert match and int(match.group(1)) > 100  # PostgreSQL's default


def test_bind_mount_sources_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for src, _, _ in mounts(service):
            if src.startswith(".") and src != "./data":  # ./data is the user's, git-ignored
                assert (REPO / src).exists(), f"{name}: {src}"


def test_worker_is_scalable_and_reserves_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    gpus = [d for d in devices if d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])]
    assert gpus and (int(gpus[0].get("count", 0)) >= 1 or gpus[0].get("device_ids"))
    assert worker["restart"].startswith("on-failure")
    assert worker["build"]["context"] == "." and (REPO / "Dockerfile").exists()


# --- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    lines, current = [], ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            if current.strip():
                instr, _, rest = current.strip().partition(" ")
                lines.append((instr.upper(), rest.strip()))
            current = ""
    return lines


def test_dockerfile_installs_hpo_and_runs_it_as_non_root(compose: dict[str, Any]) -> None:
    instructions = dockerfile_instructions()
    base = next(rest for instr, rest in instructions if instr == "FROM")
    image, _, tag = base.partition(":")
    assert image == "python" and tag.endswith("-slim")
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(tag.split("-")[0])

    assert json.loads(dict(instructions)["ENTRYPOINT"]) == ["hpo"]
    assert "hpo" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    user = [rest for instr, rest in instructions if instr == "USER"][-1]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, "numeric non-root uid (runAsNonRoot)"
    assert any(instr == "RUN" and re.search(r"pip install[^&]* \.", rest) for instr, rest in instructions)

    # Every COPY source exists, and search_spaces/ lands in the working directory, where the
    # worker looks for search_spaces/NAME.yaml.
    workdir = PurePosixPath("/")
    copied: dict[str, PurePosixPath] = {}
    for instr, rest in instructions:
        if instr == "WORKDIR":
            workdir = workdir / rest
        elif instr == "COPY":
            *sources, dest = rest.split()
            for src in sources:
                assert (REPO / src).exists(), src
                copied[src.rstrip("/")] = workdir / dest
    assert {"pyproject.toml", "README.md", "hpo", "search_spaces"} <= copied.keys()
    assert copied["search_spaces"] == workdir / "search_spaces"

    # The worker's named volumes start out owned by the image's user, so they are writable.
    runs = " ".join(rest for instr, rest in instructions if instr == "RUN")
    worker = compose["services"]["worker"]
    for src, dst, _ in mounts(worker):
        if src in compose["volumes"]:
            assert re.search(rf"chown [^&]*{re.escape(dst)}(\s|$)", runs), f"{dst} is not chowned in the image"


def test_dockerignore_keeps_the_context_small_and_the_sources_in() -> None:
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    for needed in (".venv", ".git", "data/", "benchmarks/.data"):
        assert needed in patterns
    assert any(p.startswith("storage") for p in patterns)
    sources = [src for instr, rest in dockerfile_instructions() if instr == "COPY" for src in rest.split()[:-1]]
    for src in sources:
        for pattern in patterns:
            assert not fnmatch(src.rstrip("/"), pattern.rstrip("/")), f".dockerignore {pattern} drops COPY {src}"


# --- deploy/k8s/worker-job.yaml -----------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_docs() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(K8S_JOB_FILE.read_text()) if d is not None]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs)
    return by_kind


def k8s_expand(arg: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in command/args: $$ escapes, unknown references stay as written."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def container_env(job: dict[str, Any], container: dict[str, Any], secret: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would build it for the last completion index."""
    env: dict[str, str] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = str(var["value"])
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            assert ref["name"] == secret["metadata"]["name"], "secretKeyRef names a Secret not in the file"
            env[var["name"]] = secret["stringData"][ref["key"]]
        elif source.get("fieldRef", {}).get("fieldPath") == COMPLETION_INDEX:
            assert job["spec"].get("completionMode") == "Indexed", "the completion index needs completionMode: Indexed"
            env[var["name"]] = str(job["spec"]["completions"] - 1)
        else:
            raise AssertionError(f"unexpected env source {source}")
    return env


def worker_container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_k8s_job_runs_workers_in_parallel(k8s_docs: dict[str, dict[str, Any]]) -> None:
    job = k8s_docs["Job"]
    assert job["apiVersion"] == "batch/v1"
    spec = job["spec"]
    assert spec["parallelism"] >= 2 and spec["completions"] >= spec["parallelism"]
    assert isinstance(spec["backoffLimit"], int)
    assert spec["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_k8s_worker_args_parse_with_hpos_parser(k8s_docs: dict[str, dict[str, Any]]) -> None:
    job, secret = k8s_docs["Job"], k8s_docs["Secret"]
    container = worker_container(job)
    assert "command" not in container, "the image's entrypoint is hpo; give the subcommand in args"
    env = container_env(job, container, secret)
    args = build_parser().parse_args([k8s_expand(a, env) for a in container["args"]])
    assert args.command == "worker"
    assert (REPO / "search_spaces" / f"{args.study}.yaml").exists()
    # Each pod gets its own sampler-seed offset: its completion index.
    assert args.worker_id == job["spec"]["completions"] - 1
    # --data is on the read-only data volume, a PersistentVolumeClaim.
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    data_mount = [m for m in container["volumeMounts"] if args.data.startswith(m["mountPath"].rstrip("/") + "/")]
    assert data_mount and data_mount[0].get("readOnly") is True
    assert "claimName" in volumes[data_mount[0]["name"]]["persistentVolumeClaim"]


def test_k8s_storage_url_comes_from_the_secret(k8s_docs: dict[str, dict[str, Any]]) -> None:
    job, secret = k8s_docs["Job"], k8s_docs["Secret"]
    container = worker_container(job)
    (storage,) = [v for v in container["env"] if v["name"] == "HPO_STORAGE"]
    assert "value" not in storage and "secretKeyRef" in storage["valueFrom"]
    url = make_url(resolve_url(container_env(job, container, secret)["HPO_STORAGE"]))
    assert url.drivername == "postgresql+psycopg" and url.host and url.database  # pods cannot share SQLite


def test_k8s_worker_gets_a_gpu_and_runs_as_the_images_user(k8s_docs: dict[str, dict[str, Any]]) -> None:
    job = k8s_docs["Job"]
    assert int(worker_container(job)["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    pod_security = job["spec"]["template"]["spec"]["securityContext"]
    user = [rest for instr, rest in dockerfile_instructions() if instr == "USER"][-1]
    assert pod_security["runAsNonRoot"] is True and str(pod_security["runAsUser"]) == user.split(":")[0]


def test_k8s_manifests_match_the_kubernetes_schemas(k8s_docs: dict[str, dict[str, Any]]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true requires kubernetes-validate (the Kubernetes JSON schemas)")
        pytest.skip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    from kubernetes_validate.utils import all_versions

    versions = sorted(all_versions(), key=lambda v: tuple(int(p) for p in v.split(".")))
    for version in (versions[0], versions[-1]):  # the oldest and newest Kubernetes it knows
        for doc in k8s_docs.values():
            kubernetes_validate.validate(doc, version, strict=True)  # strict: unknown fields fail
    bad = copy.deepcopy(k8s_docs["Job"])
    worker_container(bad)["resources"]["limit"] = {"nvidia.com/gpu": 1}  # typo: limit, not limits
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, versions[-1], strict=True)
