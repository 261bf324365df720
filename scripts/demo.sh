#!/usr/bin/env bash
# The main job on embedded defaults: a real study on the SQLite database under storage/,
# a handful of trials, then the best value and the best configuration as JSON.
# Usage: bash scripts/demo.sh [STUDY] [TRIALS]
#   faces (default): scikit-image's bundled lfw_subset. digits, activations: scikit-learn's digits.
#   happy_sad: image folders (written by `hpo data synth image-folder` when data/happy_sad is absent);
#   custom CNN vs MLP vs pretrained backbones in one study.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
STUDY=${1:-faces}
TRIALS=${2:-8}
SPACE=()
if [ "$STUDY" = happy_sad ]; then
  [ -d data/happy_sad ] || hpo data synth image-folder --out data/happy_sad --per-class 120
  # Keras downloads ImageNet weights on first use; a machine without internet cannot. Then run the
  # same study file with weights: none, under its own name, and say so.
  if ! ls ~/.keras/models/*notop* >/dev/null 2>&1 && ! python -c \
      "import urllib.request; urllib.request.urlopen('https://storage.googleapis.com', timeout=5)" 2>/dev/null; then
    STUDY=happy_sad_offline
    sed -e 's/^name: happy_sad$/name: happy_sad_offline/' -e 's/^\(  weights: *\)imagenet/\1none/' \
      search_spaces/happy_sad.yaml > storage/happy_sad_offline.yaml
    SPACE=(--space storage/happy_sad_offline.yaml)
    echo "no internet: ImageNet weights cannot be downloaded, so this demo runs study $STUDY" \
         "(search_spaces/happy_sad.yaml with weights: none)" >&2
  fi
fi
hpo worker --study "$STUDY" --trials "$TRIALS" "${SPACE[@]}"
hpo status --study "$STUDY"
hpo export --study "$STUDY" --out "storage/$STUDY-best.json"
echo "best configuration: storage/$STUDY-best.json (train it: hpo train --config storage/$STUDY-best.json --out storage/$STUDY.keras)"
