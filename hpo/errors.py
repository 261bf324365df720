"""The errors hpo raises, named for what the caller should do about them.

Only ``hpo.cli`` prints them: one line, exit code ``exit_code``. Library code
raises them (wrapping driver errors with ``from e``) and never prints.

    HpoError (1)
    ├── ConfigError (2): bad input; fix it and rerun
    │   ├── SpecError: a study file
    │   ├── SpecDriftError: the study file differs from the pinned spec
    │   ├── StudyNotFoundError
    │   └── DataError: a data or model file
    ├── StorageError (1): the database; retry when it is back
    ├── Interrupted (130): Ctrl-C or SIGTERM
    └── TrialError: one trial went bad; the worker goes on
"""

from __future__ import annotations


class HpoError(Exception):
    """Something went wrong that is not a bug in hpo. Exit code 1."""

    exit_code = 1


class ConfigError(HpoError):
    """Bad input from the user: a study file, a flag, a data file. Fix it and rerun. Exit 2."""

    exit_code = 2


class SpecError(ConfigError):
    """A study file (YAML) is invalid; the message names the file and the key path."""


class SpecDriftError(ConfigError):
    """The study file differs from the spec pinned in the study's database."""


class StudyNotFoundError(ConfigError):
    """No study of that name in the storage."""


class DataError(ConfigError):
    """A data file is missing or not in the format its study expects."""


class StorageError(HpoError):
    """The storage (database) cannot be reached or used. Exit 1: retry when it is back."""


class Interrupted(HpoError):
    """Stopped by Ctrl-C or SIGTERM (hpo.signals); the running trial was requeued. Exit 130."""

    exit_code = 130


class TrialError(HpoError):
    """One trial went bad (NaN loss, diverged); the worker fails that trial and carries on."""
