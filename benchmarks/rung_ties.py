"""Replay successive halving's promotion decisions in a kept study and count the ties.

Optuna's SuccessiveHalvingPruner (like Ray's ASHA) promotes a trial at a rung when its value is at
least the k-th best of the values recorded at that rung so far (k = n // reduction_factor, at least
1). A metric that moves in steps (accuracy on 324 images: 1/324) ties often; this counts the
promotions a strict rule (search_efficiency's ``promotable_strictly``, the rule of its
``default-ties-pruned`` condition) would have pruned. Both rules are called, not restated.

    python benchmarks/search_efficiency.py ... --keep /tmp/keep
    python benchmarks/rung_ties.py /tmp/keep/digits-default-0-w1/study.db [--study digits] [--eta 3]

Assumes one worker (trial order is the order the rungs were recorded), as in search_efficiency's
serial runs.
"""

from __future__ import annotations

import argparse

import optuna
from optuna.pruners._successive_halving import _is_trial_promotable_to_next_rung
from search_efficiency import promotable_strictly


def count_ties(storage: str, study_name: str, eta: int) -> tuple[int, int]:
    study = optuna.load_study(study_name=study_name, storage=storage)
    rungs: dict[int, list[float]] = {}
    promotions = ties = 0
    for trial in study.trials:  # one worker: trial order is time order
        rung = 0
        while f"completed_rung_{rung}" in trial.system_attrs:
            value = float(trial.system_attrs[f"completed_rung_{rung}"])
            seen = rungs.setdefault(rung, [])
            seen.append(value)  # Optuna's competing values hold the trial's own too
            if _is_trial_promotable_to_next_rung(value, list(seen), eta, study.direction):  # it sorts in place
                promotions += 1
                ties += int(not promotable_strictly(value, list(seen), eta, study.direction))
            rung += 1
    return promotions, ties


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", nargs="+", help="SQLite study files")
    parser.add_argument("--study", default="digits")
    parser.add_argument("--eta", type=int, default=3, help="the pruner's reduction_factor")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for db in args.db:
        promotions, ties = count_ties(f"sqlite:///{db}", args.study, args.eta)
        print(f"{db}: {promotions} promotions, {ties} of them ties at the cut-off")


if __name__ == "__main__":
    main()
