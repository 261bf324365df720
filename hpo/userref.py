"""References to the user's own code: ``"file.py:function"`` or ``"package.module:function"``.

Builders, Keras Tuner ``build_model(hp)`` functions and data loaders are named this
way in a study file. A file path is relative to the study file's folder. This module
checks a reference without running it (``ast``: ``hpo create`` stays Keras-free),
fingerprints the code (its SHA-256 is pinned with the spec), and imports it when a
worker needs it. Every problem is a one-line ``ConfigError`` naming the key.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.errors import ConfigError


@dataclass(frozen=True)
class CodeRef:
    """A parsed reference: a file (``path``) or an importable module (``module``), and a name."""

    text: str
    function: str
    path: Path | None = None
    module: str | None = None

    @property
    def source_file(self) -> Path | None:
        """The file holding the code: the .py file, or the module's file found without importing it."""
        if self.path is not None:
            return self.path
        assert self.module is not None
        try:
            found = importlib.util.find_spec(self.module)
        except (ImportError, ValueError):
            return None
        origin = getattr(found, "origin", None)
        return Path(origin) if origin and origin.endswith(".py") else None


def parse_ref(text: Any, key: str, base_dir: Path) -> CodeRef:
    """``"models.py:build"`` (relative to ``base_dir``) or ``"pkg.mod:build"`` -> a ``CodeRef``."""
    if not isinstance(text, str) or text.count(":") != 1:
        raise ConfigError(f"{key}: must look like \"file.py:function\" or \"package.module:function\", "
                          f"got {text!r}")
    where, function = text.split(":")
    if not function.isidentifier():
        raise ConfigError(f"{key}: {function!r} is not a Python function name")
    if where.endswith(".py"):
        path = Path(where)
        return CodeRef(text, function, path=path if path.is_absolute() else base_dir / path)
    if not all(part.isidentifier() for part in where.split(".")):
        raise ConfigError(f"{key}: {where!r} is neither a .py file nor a module name")
    return CodeRef(text, function, module=where)


def check_ref(ref: CodeRef, key: str) -> str:
    """Check, without running it, that the code exists and defines the function; return its SHA-256."""
    source = ref.source_file
    if source is None:
        raise ConfigError(f"{key}: module {ref.module!r} is not installed (no importable .py file)")
    try:
        text = source.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: {source}: no such file (paths are relative to the study file)") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{key}: {source} is a directory; name a .py file") from e
    except OSError as e:
        raise ConfigError(f"{key}: {source}: cannot read: {e.strerror}") from e
    try:
        tree = ast.parse(text, filename=str(source))
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        raise ConfigError(f"{key}: {source}{f' line {line}' if line else ''}: not valid Python: "
                          f"{getattr(e, 'msg', e)}") from e
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                if isinstance(t, ast.Name)}
    defined |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    if ref.function not in defined:
        raise ConfigError(f"{key}: {source} defines no function {ref.function!r}")
    return hashlib.sha256(text).hexdigest()


def load_callable(ref: CodeRef, key: str) -> Callable[..., Any]:
    """Import the code and return the function; its own import errors become one line."""
    try:
        if ref.path is not None:
            name = f"hpo_user_{hashlib.sha256(str(ref.path.resolve()).encode()).hexdigest()[:12]}"
            spec = importlib.util.spec_from_file_location(name, ref.path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"{key}: {ref.path}: cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            # Its folder on sys.path, so the file can import its neighbours like a script would.
            folder = str(ref.path.resolve().parent)
            if folder not in sys.path:
                sys.path.append(folder)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            assert ref.module is not None
            module = importlib.import_module(ref.module)
    except ConfigError:
        raise
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: {ref.path}: no such file") from e
    except SystemExit as e:  # a script's argparse or sys.exit at import time would end the worker silently
        raise ConfigError(f"{key}: importing {ref.text} called sys.exit({e.code!r}); put the script's own "
                          f"start-up under `if __name__ == \"__main__\":`") from e
    except Exception as e:
        raise ConfigError(f"{key}: importing {ref.text} failed: {type(e).__name__}: {_first(e)}") from e
    fn = getattr(module, ref.function, None)
    if not callable(fn):
        raise ConfigError(f"{key}: {ref.text}: {ref.function!r} is not a function in that module")
    return fn  # type: ignore[no-any-return]


def call_user(fn: Callable[..., Any], key: str, ref_text: str, *args: Any) -> Any:
    """Call the user's function; whatever it raises becomes one line naming it."""
    try:
        return fn(*args)
    except ConfigError:
        raise
    except USER_ERRORS as e:
        raise ConfigError(f"{key}: {ref_text} {what_it_did(e)}") from e


# What user code may raise that must not end hpo's process unannounced: any exception, and
# sys.exit() (a notebook or script habit), which is not an Exception. Ctrl-C stays an interrupt.
USER_ERRORS = (Exception, SystemExit)


def what_it_did(e: BaseException) -> str:
    """``raised ValueError: ...`` or ``called sys.exit(3); ...``, after the function's name."""
    if isinstance(e, SystemExit):
        return f"called sys.exit({e.code!r}); a study's function must return, not exit"
    detail = " ".join(str(e).split())  # every line of it, as one
    detail = detail if len(detail) <= 300 else detail[:297] + "..."
    return f"raised {type(e).__name__}" + (f": {detail}" if detail else "")


def _first(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else "")[:300]
