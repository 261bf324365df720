#!/usr/bin/env bash
# The main job on embedded defaults: a real study (faces: scikit-image's lfw_subset) on
# the SQLite database under storage/, a handful of trials, then the best value and the
# best configuration as JSON. Usage: bash scripts/demo.sh [STUDY] [TRIALS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
STUDY=${1:-faces}
TRIALS=${2:-8}
hpo worker --study "$STUDY" --trials "$TRIALS"
hpo status --study "$STUDY"
hpo export --study "$STUDY" --out "storage/$STUDY-best.json"
echo "best configuration: storage/$STUDY-best.json (train it: hpo train --config storage/$STUDY-best.json --out storage/$STUDY.keras)"
