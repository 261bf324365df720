"""Create and open studies; the spec is pinned in the study so any worker needs only the URL.

A study carries its validated spec (as JSON) and the spec's SHA-256 in its user
attributes. Creating it again with the same spec changes nothing; a different
spec is refused with the key paths that differ.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Mapping
from shlex import quote
from typing import TYPE_CHECKING, Any

from hpo.errors import ConfigError, SpecDriftError, StorageError, StudyNotFoundError
from hpo.record import (
    BASELINE_ATTR,
    CHANGES_ATTR,
    CREATING_ATTR,
    DATA_ATTR,
    RUNGS_IN_EPOCHS_ATTR,
    SHA_ATTR,
    SPEC_ATTR,
    TRIVIAL_ATTR,
)
from hpo.space import StudySpec, grid_search_space, spec_from_dict
from hpo.storage import caused_by_storage, describe_failure, env_number

if TYPE_CHECKING:
    import optuna

# Top-level spec keys an existing study may change: more trials or epochs, other sampler,
# pruner or early-stopping settings (they decide how much a trial costs, not what its value
# means). Anything else would make earlier trials incomparable.
GROWABLE = ("budget", "sampler", "pruner", "early_stopping")
# A creation silent this long (baselines refresh the marker every 50) was killed, not slow;
# $HPO_HALF_MADE_AFTER overrides it (read when used: a bad value is one line, not an import error).
HALF_MADE_AFTER_S = 30.0


def make_sampler(spec: StudySpec, *, worker_id: int = 0) -> optuna.samplers.BaseSampler:
    """The study's sampler. Each worker offsets the seed so parallel workers differ."""
    import optuna

    opts = dict(spec.sampler)
    kind = opts.pop("type")
    seed = opts.pop("seed", None)
    if seed is not None:
        seed = (int(seed) + worker_id) % 2**32  # numpy's seed range
    if kind == "tpe":
        opts.setdefault("constant_liar", True)  # parallel workers avoid piling on one point
        if opts.get("multivariate") and any(p.when for p in spec.searched):
            opts.setdefault("group", True)  # conditional params need grouped multivariate TPE
        with warnings.catch_warnings():  # `group` is "experimental" since optuna 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, **opts)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "gp":
        try:
            import torch  # noqa: F401  # GPSampler's dependency, not hpo's
        except ImportError as e:
            raise StorageError(
                "sampler.type gp needs PyTorch; install it (pip install 'hpo[gp]') or pick tpe"
            ) from e
        return optuna.samplers.GPSampler(seed=seed, **opts)
    if kind == "cmaes":
        opts.setdefault("warn_independent_sampling", False)  # categoricals go to the random sampler
        return optuna.samplers.CmaEsSampler(seed=seed, **opts)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **opts)
    if kind == "grid":
        return optuna.samplers.GridSampler(grid_search_space(spec), seed=seed)
    raise AssertionError(kind)


def make_pruner(spec: StudySpec, *, rungs_in_epochs: bool = True) -> optuna.pruners.BasePruner:
    """The spec's pruner. ``rungs_in_epochs=False``: Optuna's own successive halving and
    Hyperband (rungs one epoch later), for studies created before hpo counted them in epochs."""
    import optuna

    opts = dict(spec.pruner)
    kind = opts.pop("type")
    if kind == "median":
        return optuna.pruners.MedianPruner(**opts)
    if kind == "percentile":
        return optuna.pruners.PercentilePruner(**opts)
    if kind == "successive_halving":
        from hpo.pruners import EpochSuccessiveHalvingPruner

        sh = EpochSuccessiveHalvingPruner if rungs_in_epochs else optuna.pruners.SuccessiveHalvingPruner
        return sh(**opts)
    if kind == "hyperband":
        from hpo.pruners import EpochHyperbandPruner

        opts.setdefault("max_resource", spec.max_epochs)
        hyperband = EpochHyperbandPruner if rungs_in_epochs else optuna.pruners.HyperbandPruner
        return hyperband(**opts)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise AssertionError(kind)


def spec_diff(old: Any, new: Any, path: str = "") -> list[str]:
    """Key paths where two spec dicts differ, with both values."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                out.append(f"{sub} (added)")
            elif key not in new:
                out.append(f"{sub} (removed)")
            else:
                out.extend(spec_diff(old[key], new[key], sub))
        return out
    if old != new:
        return [f"{path} ({json.dumps(old)} -> {json.dumps(new)})"]
    return []


def pinned_spec(storage: optuna.storages.BaseStorage, name: str, *, wait_s: float = 10.0) -> StudySpec:
    # wait_s: how long to wait for a study that another worker is creating right now.
    """The spec pinned in study ``name``; raise ``StudyNotFoundError`` if there is no such study."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError as e:
        known = sorted(s.study_name for s in storage.get_all_studies())
        hint = f" (studies here: {', '.join(known)})" if known else ""
        raise StudyNotFoundError(
            f"--study: no study named {name!r} in this storage{hint}; create it with "
            f"`hpo create --study {quote(name)}` or `hpo worker --study {quote(name)}`"
        ) from e
    deadline = time.monotonic() + wait_s
    while True:
        attrs = storage.get_study_user_attrs(study_id)
        if SPEC_ATTR in attrs:
            return spec_from_dict(attrs[SPEC_ATTR], source=f"study {name!r} (pinned spec)", pinned=True)
        # Another worker may be between creating the study and pinning its spec.
        if time.monotonic() > deadline or half_made(attrs):
            if CREATING_ATTR in attrs:
                raise StudyNotFoundError(
                    f"--study: the creation of study {name!r} was interrupted (no spec pinned); "
                    f"`hpo create --study {quote(name)}` or `hpo worker --study {quote(name)}` makes it again")
            raise StudyNotFoundError(
                f"--study: study {name!r} has no hpo spec pinned; it was not created by hpo"
            )
        time.sleep(0.2)


def create_study(storage: optuna.storages.BaseStorage, spec: StudySpec) -> tuple[optuna.Study, bool]:
    """Create the study with its spec pinned and baselines enqueued, or check an existing one.

    Returns the study and whether it was created now. Raises ``SpecDriftError``
    when the study exists with a different spec.
    """
    import optuna

    try:
        try:
            study = optuna.create_study(
                study_name=spec.name, storage=storage, directions=spec.directions,  # type: ignore[arg-type]
                sampler=make_sampler(spec), pruner=make_pruner(spec),
            )
        except optuna.exceptions.DuplicatedStudyError:
            if not _remove_if_half_made(storage, spec.name):
                reconcile(storage, pinned_spec(storage, spec.name), spec)
                return open_study(storage, spec.name)[0], False
            study = optuna.create_study(
                study_name=spec.name, storage=storage, directions=spec.directions,  # type: ignore[arg-type]
                sampler=make_sampler(spec), pruner=make_pruner(spec),
            )
        try:
            with warnings.catch_warnings():  # "experimental" since optuna 3.2
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names(spec.metric_names)  # the dashboard's axis and column names
            # Baselines first, the spec last: other workers wait for the spec, so none can
            # sample before the baselines are queued, and a study without a spec is one
            # whose creation did not finish. The marker (refreshed as baselines go in) tells
            # a creation in progress from one that was killed.
            study.set_user_attr(CREATING_ATTR, time.time())
            for i, baseline in enumerate(spec.baselines):
                searched = {k: v for k, v in baseline.items() if k not in spec.fixed}
                study.enqueue_trial(searched, user_attrs={BASELINE_ATTR: i})
                if i % 50 == 49:
                    study.set_user_attr(CREATING_ATTR, time.time())
            study.set_user_attr(RUNGS_IN_EPOCHS_ATTR, True)
            study.set_user_attr(SHA_ATTR, spec.sha256)
            study.set_user_attr(SPEC_ATTR, spec.to_dict())
        except BaseException:
            optuna.delete_study(study_name=spec.name, storage=storage)  # nothing half-made
            raise
        return study, True
    except Exception as e:
        if not caused_by_storage(e):
            raise
        raise StorageError(f"while creating study {spec.name!r}: {describe_failure(e)}") from e


def half_made(attrs: Mapping[str, Any]) -> bool:
    """A study hpo began to create and never finished (killed before its spec was pinned), and
    whose creator has been silent for HALF_MADE_AFTER_S: nobody is finishing it."""
    started = attrs.get(CREATING_ATTR)
    if SPEC_ATTR in attrs or not isinstance(started, (int, float)):
        return False
    return time.time() - started > env_number("HPO_HALF_MADE_AFTER", HALF_MADE_AFTER_S, minimum=0)


def _remove_if_half_made(storage: optuna.storages.BaseStorage, name: str) -> bool:
    """Delete study ``name`` if its creation was interrupted (it holds no results: only queued
    baselines), so that creating it again starts clean. Returns whether it was removed."""
    import optuna

    if not half_made(storage.get_study_user_attrs(storage.get_study_id_from_name(name))):
        return False
    optuna.delete_study(study_name=name, storage=storage)
    return True


def check_same_spec(pinned: StudySpec, spec: StudySpec) -> list[str]:
    """The key paths where ``spec`` differs from the pinned one, if the difference is one a
    running study may take (budget, sampler, pruner, early stopping); else ``SpecDriftError``."""
    if pinned.sha256 == spec.sha256:
        return []
    diffs = spec_diff(pinned.to_dict(), spec.to_dict())
    refused = [d for d in diffs if d.split(" ")[0].split(".")[0] not in GROWABLE]
    if refused:
        raise SpecDriftError(
            f"{spec.source}: differs from the spec pinned in study {spec.name!r} at: "
            f"{'; '.join(refused)}; restore the file or create a study under a new name "
            f"(only {', '.join(GROWABLE)} may change on an existing study)"
        )
    return diffs


def reconcile(storage: optuna.storages.BaseStorage, pinned: StudySpec, spec: StudySpec) -> list[str]:
    """Take a grown budget or new sampler/pruner/early-stopping settings into the study, recording the change and
    its time in ``hpo:changes``; refuse any other difference. Returns the changes made."""
    from datetime import UTC, datetime

    diffs = check_same_spec(pinned, spec)
    if not diffs:
        return []
    study_id = storage.get_study_id_from_name(spec.name)
    history = list(storage.get_study_user_attrs(study_id).get(CHANGES_ATTR, []))
    at = datetime.now(UTC).isoformat(timespec="seconds")
    storage.set_study_user_attr(study_id, CHANGES_ATTR, [*history, {"at": at, "changes": diffs}])
    storage.set_study_user_attr(study_id, SPEC_ATTR, spec.to_dict())
    storage.set_study_user_attr(study_id, SHA_ATTR, spec.sha256)
    return diffs


def open_study(
    storage: optuna.storages.BaseStorage, name: str, *, worker_id: int = 0
) -> tuple[optuna.Study, StudySpec]:
    import zlib

    import optuna

    from hpo.storage import count_states, worker_cache

    spec = pinned_spec(storage, name)
    # The seed depends on the worker id and on how many trials the study already holds: a worker
    # restarted with the same id (a container keeps its hostname; a user reruns the command) must
    # not replay its first life's random start-up samples. Still reproducible from the same state.
    study_id = storage.get_study_id_from_name(name)
    life = sum(count_states(storage, study_id).values())
    offset = worker_id if life == 0 else zlib.crc32(f"{worker_id}/{life}".encode())
    in_epochs = bool(storage.get_study_user_attrs(study_id).get(RUNGS_IN_EPOCHS_ATTR, False))
    study = optuna.load_study(
        study_name=name, storage=worker_cache(storage),
        sampler=make_sampler(spec, worker_id=offset), pruner=make_pruner(spec, rungs_in_epochs=in_epochs),
    )
    return study, spec


def pin_data(study: optuna.Study, record: Mapping[str, Any], trivial: Mapping[str, Any] | None) -> list[str]:
    """Record the first worker's data (file hash, split fingerprints) and trivial baseline in the
    study; refuse a later worker whose splits differ (its trials would not be comparable and its
    test rows might be another worker's training rows). Returns the lines to print."""
    from hpo.data.fingerprint import describe_splits

    pinned = study.user_attrs.get(DATA_ATTR)
    splits = record["splits"]
    if pinned is None:
        study.set_user_attr(DATA_ATTR, dict(record))
        if trivial is not None:
            study.set_user_attr(TRIVIAL_ATTR, dict(trivial))
    else:
        differ = [k for k in ("train", "validation", "test") if pinned["splits"].get(k) != splits.get(k)]
        if differ:
            was, now = pinned["splits"][differ[0]], splits[differ[0]]
            where = record.get("file", {}).get("path", record.get("source"))
            raise ConfigError(
                f"--data: {where}: its {differ[0]} split ({now['rows']} rows, {now['sha256']}) differs from the one "
                f"study {study.study_name!r} recorded ({was['rows']} rows, {was['sha256']}, from "
                f"{pinned.get('file', {}).get('path', pinned.get('source'))}); use the same data, or a new study")
        trivial = study.user_attrs.get(TRIVIAL_ATTR, trivial)
    lines = [f"splits: {describe_splits(splits)}"]
    if trivial is not None:
        lines.append(f"trivial baseline ({trivial['predictor']}): {trivial['metric']} {trivial['value']:.4g} "
                     f"on the {trivial['split']} split; a trial must beat it to have learnt anything")
    return lines
