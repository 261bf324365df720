"""hpo: hyperparameter optimization for Keras image models, backed by a study database."""

from __future__ import annotations

__version__ = "0.1.0"
