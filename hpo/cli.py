"""The ``hpo`` command: argument parsing, and the one place that turns errors into exit codes.

An ``HpoError`` becomes one line on stderr and exit 2 (bad input) or 1 (failure);
no traceback for a user mistake. Subcommands import what they need lazily, so
``hpo status`` and ``hpo export`` never import TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from hpo import __version__
from hpo.errors import ConfigError, HpoError, Interrupted, StorageError
from hpo.fmt import count

# What one printed message line may hold: a hostile file's huge key or value is cut, not echoed.
MAX_LINE = 400
MAX_LINES = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def say(kind: str, message: str) -> None:
    """Print ``hpo: KIND: ...`` on stderr: the one place every error and warning line is bounded
    (at most MAX_LINE characters, the middle cut so the file and key at the start and the advice
    at the end stay; at most MAX_LINES lines) and its control characters escaped."""
    lines = message.split("\n")
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"... and {len(lines) - MAX_LINES + 1} more lines like these"]
    for line in lines:
        line = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)
        if len(line) > MAX_LINE:
            head, tail = MAX_LINE * 2 // 3, MAX_LINE // 4
            line = f"{line[:head]} ...[{len(line) - head - tail} characters cut]... {line[-tail:]}"
        print(f"hpo: {kind}: {line}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, naming the flag, instead of argparse's usage block.
        say("error", f"{message}; see `{self.prog} --help`")
        self.exit(2)


def _number(kind: type[int] | type[float], *, above: float | None = None, at_least: float | None = None,  # type: ignore[no-untyped-def]
            at_most: int | None = None, why: str = ""):
    """An argparse type: a number of ``kind`` within bounds, with a one-line complaint
    (``why``: what the upper bound is for)."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"must be {noun}, got {text!r}") from e
        if at_least is not None and value < at_least:
            raise argparse.ArgumentTypeError(f"must be >= {at_least:g}, got {text}")
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be > {above:g}, got {text}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(f"must be at most {at_most}{why}, got {text}")
        return value

    return parse


_positive_int = _number(int, at_least=1)
_positive_float = _number(float, above=0)


def _non_negative(kind: type[int] | type[float]):  # type: ignore[no-untyped-def]
    return _number(kind, at_least=0)


def _file_out(example: str):  # type: ignore[no-untyped-def]
    """An argparse type for an output FILE: a trailing slash or an existing folder names a
    folder, and Path() would silently drop the slash and write a file called like the folder."""

    def parse(text: str) -> str:
        if text != "-" and (text.endswith(("/", os.sep)) or Path(text).is_dir()):
            raise argparse.ArgumentTypeError(
                f"{text} is a directory; give a file name, e.g. {os.path.join(text, example)}")
        return text

    return parse


# `hpo data synth` bounds: real files are far smaller (FER2013: 35,887 rows; Kaggle keypoints: 7,049).
MAX_SYNTH_ROWS = 100_000
MAX_SYNTH_PER_CLASS = 10_000
MAX_SYNTH_SIDE = 1024
MAX_SEED = 2**31 - 1  # as in study files (hpo.space.MAX_SEED)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hpo", description="Hyperparameter optimization for Keras image models.")
    parser.add_argument("--version", action="version", version=f"hpo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def storage_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--storage", metavar="URL",
                       help="sqlite:///PATH or postgresql+psycopg://USER@HOST/DB "
                            "(default: $HPO_STORAGE, else sqlite:///storage/hpo.db)")

    p = sub.add_parser("create", help="create a study from its study file and pin the spec")
    p.add_argument("--study", required=True, metavar="NAME")
    p.add_argument("--space", metavar="FILE", help="study file (default: search_spaces/NAME.yaml)")
    storage_flag(p)

    p = sub.add_parser("worker", help="pull and run trials until the study's budget is spent")
    p.add_argument("--study", required=True, metavar="NAME")
    storage_flag(p)
    p.add_argument("--trials", type=_positive_int, metavar="N",
                   help="stop after this many trials of this worker")
    p.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                   help="start no new trial after this long")
    p.add_argument("--data", metavar="PATH", help="data file on this machine (overrides data.path)")
    p.add_argument("--space", metavar="FILE",
                   help="study file for a new study (default: search_spaces/NAME.yaml); "
                        "for an existing one it must match the pinned spec")
    p.add_argument("--worker-id", type=_non_negative(int), default=0, metavar="K",
                   help="offsets the sampler seed so parallel workers propose different trials")
    p.add_argument("--quiet", action="store_true", help="print only errors")
    p.add_argument("--gpus", metavar="LIST",
                   help="run one worker process per listed GPU, e.g. 0,1,2,3 (CUDA_VISIBLE_DEVICES)")
    p.add_argument("--per-gpu", type=_positive_int, metavar="M",  # default 1, filled in by _check_flags
                   help="with --gpus: worker processes per GPU (memory growth on; default 1)")
    p.add_argument("--workers", type=_positive_int, metavar="K", help="run K CPU worker processes")
    p.add_argument("--mixed-precision", action="store_true",
                   help="train with Keras's mixed_float16 policy (for GPUs with float16 units)")
    p.add_argument("--db-wait", type=_positive_float, default=300, metavar="SECONDS",
                   help="when the database goes away, retry (with backoff) this long before "
                        "giving up with exit 1 (default 300)")
    p.add_argument("--max-retries", type=_non_negative(int), default=1, metavar="N",
                   help="queue a trial that failed on its own (NaN, out of memory) again up to N times "
                        "(default 1; a dead worker's trial: $HPO_STALE_RETRIES, default 2)")
    p.add_argument("--recycle-mb", type=_non_negative(float), default=1024, metavar="MB",
                   help="re-exec this worker (same PID) when its memory grew by more than MB since "
                        "its first trial (TensorFlow leaks per model.fit); 0: never (default 1024)")

    p = sub.add_parser("status", help="studies, trials by state, best value and params")
    p.add_argument("--study", metavar="NAME")
    storage_flag(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", help="write the best trial's configuration as JSON")
    p.add_argument("--study", required=True, metavar="NAME")
    storage_flag(p)
    p.add_argument("--out", default="-", type=_file_out("best.json"), metavar="FILE",
                   help="output file, or - for stdout")
    p.add_argument("--trial", type=int, metavar="N",
                   help="export trial N instead of the best (required for a multi-objective study: "
                        "one of its Pareto front)")

    p = sub.add_parser("train", help="train the final model from an exported JSON config")
    p.add_argument("--config", required=True, metavar="FILE", help="JSON written by hpo export")
    p.add_argument("--out", required=True, type=_file_out("model.keras"), metavar="FILE",
                   help="where to save the model (.keras)")
    p.add_argument("--data", metavar="PATH", help="data file on this machine (overrides data.path)")
    p.add_argument("--epochs", type=_positive_int, metavar="N",
                   help="epochs to train (default: the best trial's best epoch + 1)")
    p.add_argument("--no-refit", dest="refit", action="store_false",
                   help="train on the train split only and report the validation score (default: refit on "
                        "train + validation)")
    p.add_argument("--top", type=_positive_int, default=1, metavar="K",
                   help="train the K best distinct trials and save one model that averages them")
    p.add_argument("--tta", choices=("none", "flip"), default="none",
                   help="flip: average each prediction with the one on the mirrored image")

    p = sub.add_parser("evaluate", help="score a trained model on the test split no trial saw")
    p.add_argument("--model", required=True, metavar="FILE", help=".keras file from hpo train")
    p.add_argument("--data", metavar="PATH", help="data file on this machine (default: the one it trained on)")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for evaluation.json, index.html, PNGs")

    p = sub.add_parser("predict", help="predict on new images; CSV, or a Kaggle submission")
    p.add_argument("--model", required=True, metavar="FILE", help=".keras file from hpo train")
    p.add_argument("--input", required=True, nargs="+", metavar="PATH",
                   help="Kaggle test.csv, a FER2013 CSV, an image folder, or image files")
    p.add_argument("--out", required=True, type=_file_out("predictions.csv"), metavar="FILE",
                   help="predictions CSV (or the submission)")
    p.add_argument("--kaggle-lookup", metavar="FILE",
                   help="Kaggle IdLookupTable.csv: write the submission RowId,Location in its order")

    p = sub.add_parser("report", help="write a self-contained HTML report (and PNGs) of a study")
    p.add_argument("--study", required=True, metavar="NAME")
    storage_flag(p)
    p.add_argument("--out", required=True, metavar="DIR", help="directory for index.html and the PNGs")
    p.add_argument("--importance", default="ped-anova", choices=("ped-anova", "fanova"),
                   help="importance evaluator (default ped-anova)")

    p = sub.add_parser("dashboard", help="optuna-dashboard on the study database and its artifacts")
    storage_flag(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8080, help="port (default 8080)")

    p = sub.add_parser("proxy", help="serve the storage over gRPC (optuna's proxy) for large fleets")
    storage_flag(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=13000, help="port (default 13000)")

    p = sub.add_parser("data", help="data utilities")
    data_sub = p.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    synth = data_sub.add_parser("synth", help="write a synthetic file in a real data set's format")
    synth.add_argument("format", choices=("keypoints", "keypoints-test", "lookup", "fer2013", "image-folder"),
                       help="keypoints: training.csv; keypoints-test: test.csv; lookup: IdLookupTable.csv")
    synth.add_argument("--rows", type=_number(int, at_least=1, at_most=MAX_SYNTH_ROWS,
                                              why=" (the real FER2013 file has 35887)"), metavar="N",
                       help="keypoints, keypoints-test, fer2013: rows to write")
    synth.add_argument("--test", metavar="FILE", help="lookup: the test.csv whose images the table asks about")
    synth.add_argument("--out", required=True, metavar="PATH", help="file (CSV formats) or folder (image-folder)")
    synth.add_argument("--seed", type=_number(int, at_least=0, at_most=MAX_SEED), default=0, metavar="S")
    synth.add_argument("--classes", metavar="A,B", help="image-folder: class names (default happy,sad)")
    synth.add_argument("--per-class", type=_number(int, at_least=2, at_most=MAX_SYNTH_PER_CLASS), metavar="N",
                       help="image-folder: images per class, train and test together (default 40)")
    synth.add_argument("--size", type=_number(int, at_least=8, at_most=MAX_SYNTH_SIDE), nargs=2, metavar=("H", "W"),
                       help="image-folder: image height and width (default 48 48)")
    synth.add_argument("--rgb", action="store_true", help="image-folder: colour images (default grey)")
    return parser


def _image_folder_only(a: argparse.Namespace) -> tuple[str, str] | None:
    return None if a.format == "image-folder" else ("for image-folder", f"with {a.format}")


# Flags that do nothing in some combination, in one table: (command, flag's dest, its default,
# when it does nothing -> (where it does something, the combination given)). Given with a value
# that would change something, what was asked cannot be done: refused. Given with the value it
# has anyway: ignored, and said so once.
_INERT_FLAGS: tuple[tuple[str, str, object, Callable[[argparse.Namespace], tuple[str, str] | None]], ...] = (
    ("worker", "per_gpu", 1, lambda a: None if a.gpus is not None else ("with --gpus", "without --gpus")),
    ("data", "rows", None, lambda a: ("for keypoints, keypoints-test and fer2013", f"with {a.format} (it takes "
                                      f"{'--per-class' if a.format == 'image-folder' else 'its images from --test'})")
          if a.format in ("image-folder", "lookup") else None),
    ("data", "test", None, lambda a: None if a.format == "lookup" else ("for lookup", f"with {a.format}")),
    ("data", "classes", None, _image_folder_only),
    ("data", "per_class", 40, _image_folder_only),
    ("data", "size", [48, 48], _image_folder_only),
    ("data", "rgb", False, _image_folder_only),
)


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse or warn about flags that do nothing here (``_INERT_FLAGS``), then fill in defaults."""
    for command, dest, default, inert in _INERT_FLAGS:
        value = getattr(args, dest, None) if args.command == command else None
        where = inert(args) if value is not None and value is not False else None
        if where is not None:
            flag, (only, given) = "--" + dest.replace("_", "-"), where
            if value != default:
                raise ConfigError(f"{flag}: only {only}, not {given}; drop it")
            say("warning", f"{flag} is ignored {given} (it is only {only})")
        if value is None and default is not None and args.command == command:
            setattr(args, dest, default)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # TensorFlow's C++ start-up chatter hides hpo's own output; HPO users can still opt in.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from hpo import signals

    # A worker records Ctrl-C / SIGTERM from its first moment (start-up imports take seconds).
    restore = signals.install() if args.command == "worker" else (lambda: None)
    try:
        _check_flags(args)
        return _dispatch(args)
    except Interrupted as e:
        print(f"hpo: {e}", file=sys.stderr)
        return e.exit_code
    except HpoError as e:
        say("error", str(e) or type(e).__name__)
        return e.exit_code
    except _interrupted() as e:
        print(f"hpo: {str(e) or 'interrupted'}", file=sys.stderr)
        return 130
    except Exception as e:
        from hpo.storage import caused_by_storage, describe_failure

        if caused_by_storage(e):
            say("error", describe_failure(e))
            return 1
        if isinstance(e, OSError):  # a file no library code expected to fail on: one line, not a traceback
            say("error", f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e) or type(e).__name__)
            return 1
        raise
    finally:
        restore()


def _check_out(out: str, inputs: dict[str, list[str]], *, folder: bool = False) -> None:
    """Refuse, before any work, an --out that is one of the command's own inputs (writing it
    would destroy the input) or that cannot be written (found out after training, it would
    waste the training)."""
    from hpo.files import same_file, writable_problem

    for flag, paths in inputs.items():
        for path in paths:
            if same_file(out, path):
                raise ConfigError(f"--out: {out} is the {flag} file; give the output its own name")
    problem = writable_problem(out, folder=folder)
    if problem:
        raise ConfigError(f"--out: {problem}; give a path you can write")


def _interrupted() -> tuple[type[BaseException], ...]:
    return (KeyboardInterrupt,)  # a second Ctrl-C (hpo.signals), or one outside a worker


def _dispatch(args: argparse.Namespace) -> int:
    from hpo.storage import open_storage, redact, refuse_foreign_file, resolve_url

    if args.command == "data":
        return _synth(args)
    if args.command == "train":
        from hpo.train import train_final

        _check_out(args.out, {"--config": [args.config]})

        train_final(Path(args.config), Path(args.out), data_path=args.data, epochs=args.epochs,
                    refit=args.refit, top=args.top, tta=args.tta)
        return 0
    if args.command == "evaluate":
        from hpo.evaluate import evaluate

        _check_out(args.out, {"--model": [args.model]}, folder=True)

        evaluate(Path(args.model), Path(args.out), data_path=args.data)
        return 0
    if args.command == "predict":
        from hpo.predict import predict

        _check_out(args.out, {"--model": [args.model], "--input": args.input,
                              "--kaggle-lookup": [args.kaggle_lookup] if args.kaggle_lookup else []})

        predict(Path(args.model), [Path(p) for p in args.input], Path(args.out),
                kaggle_lookup=Path(args.kaggle_lookup) if args.kaggle_lookup else None)
        return 0

    url = resolve_url(args.storage)
    if args.command in ("proxy", "dashboard"):
        check_listen(args.host, args.port)  # before the database is opened, and before a server's banner
    if args.command == "proxy":
        return _proxy(url, args.host, args.port)
    if args.command == "report":
        from hpo.report import build_report

        page = build_report(open_storage(url, must_exist=True), args.study, Path(args.out),
                            importance=args.importance)
        print(f"wrote {page}", file=sys.stderr)
        return 0
    if args.command == "dashboard":
        import optuna_dashboard

        from hpo.storage import open_artifact_store

        storage = open_storage(url, must_exist=True)
        print(f"hpo dashboard: http://{args.host}:{args.port}/dashboard/ on {redact(url)} (Ctrl-C stops)",
              file=sys.stderr, flush=True)
        optuna_dashboard.run_server(storage, host=args.host, port=args.port,
                                    artifact_store=open_artifact_store(url))
        return 0
    if args.command == "create":
        from hpo.errors import StudyNotFoundError
        from hpo.space import load_spec
        from hpo.study import create_study, pinned_spec, reconcile
        from hpo.worker import find_space_file

        spec = load_spec(args.space or find_space_file(args.study), expected_name=args.study)
        refuse_foreign_file(url)
        storage = open_storage(url)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hpo's own line says it; optuna's "[I ...]" repeats it
        try:
            changes = reconcile(storage, pinned_spec(storage, spec.name, wait_s=0), spec)
        except StudyNotFoundError:
            create_study(storage, spec)
            print(f"created study {spec.name!r} in {redact(url)} (spec sha256 {spec.sha256[:12]}, "
                  f"{len(spec.baselines)} baselines enqueued)")
            return 0
        print(f"updated study {spec.name!r}: {'; '.join(changes)}" if changes else
              f"unchanged: study {spec.name!r} already exists with the same spec")
        return 0
    if args.command == "worker" and (args.gpus is not None or args.workers is not None):
        from hpo.fleet import plan, run_fleet

        slots = plan(args.gpus, args.per_gpu, args.workers, args.worker_id)
        return run_fleet(slots, _worker_flags(args, args.trials, args.timeout))
    if args.command == "worker":
        from hpo.progress import for_terminal
        from hpo.worker import run_worker

        started = time.monotonic()
        progress = for_terminal(args.quiet)
        try:
            report = run_worker(url, args.study, trials=args.trials, timeout=args.timeout,
                                data_path=args.data, space_path=args.space, worker_id=args.worker_id,
                                recycle_mb=args.recycle_mb, mixed_precision=args.mixed_precision,
                                db_wait=args.db_wait, max_retries=args.max_retries, progress=progress)
        finally:
            progress.close()
        ran = report.ran + int(os.environ.get(_RAN_BEFORE, "0"))
        elapsed = time.monotonic() - started
        if (report.recycle and not report.budget_reached
                and (args.trials is None or report.ran < args.trials)
                and (args.timeout is None or elapsed < args.timeout)):
            _reexec_worker(args, report.ran, ran, elapsed)
        if not args.quiet:
            print(f"worker done: ran {count(ran, 'trial')}; study {args.study!r}: "
                  + ", ".join(f"{n} {s.lower()}" for s, n in sorted(report.states.items()))
                  + ("; budget reached" if report.budget_reached else ""))
        return 0
    if args.command == "status":
        import json

        from hpo.status import format_summary, half_made_studies, hpo_studies, study_summary

        storage = open_storage(url, must_exist=True)
        names = [args.study] if args.study else hpo_studies(storage)
        summaries = [study_summary(storage, n) for n in names]
        broken = [] if args.study else half_made_studies(storage)
        if args.json:
            print(json.dumps([*summaries, *({"study": n, "half_made": True} for n in broken)], indent=2))
        else:
            print(f"storage: {redact(url)}")
            print("\n".join(format_summary(s) for s in summaries) if summaries else "no studies yet")
            for n in broken:
                print(f"study {n!r}: its creation was interrupted (no spec pinned); "
                      f"`hpo create --study {shlex.quote(n)}` makes it again")
        return 0
    if args.command == "export":
        from hpo.export import best_config, dump, write_atomic

        text = dump(best_config(open_storage(url, must_exist=True), args.study, args.trial))
        if args.out == "-":
            sys.stdout.write(text)
        else:
            out = Path(args.out)
            if out.is_dir():
                raise ConfigError(f"--out: {out} is a directory; give a file name")
            try:
                write_atomic(out, text)
            except OSError as e:
                raise ConfigError(f"--out: cannot write {out}: {e.strerror}") from e
            print(f"wrote {args.out}", file=sys.stderr)
        return 0
    raise AssertionError(args.command)


_RAN_BEFORE = "HPO_WORKER_RAN_BEFORE"


def _worker_flags(args: argparse.Namespace, trials: int | None, timeout: float | None) -> list[str]:
    """The flags of one worker process (no fleet flags, no --worker-id)."""
    flags = ["--study", args.study, "--recycle-mb", str(args.recycle_mb), "--db-wait", str(args.db_wait),
             "--max-retries", str(args.max_retries)]
    if args.storage is not None:
        # Through the environment the children inherit, not argv: `ps` shows argv, password included.
        os.environ["HPO_STORAGE"] = args.storage
    for flag, value in (("--data", args.data), ("--space", args.space), ("--trials", trials),
                        ("--timeout", timeout)):
        if value is not None:
            flags += [flag, str(value)]
    if args.mixed_precision:
        flags.append("--mixed-precision")
    if args.quiet:  # else a fleet's workers, and a recycled worker, would talk after all
        flags.append("--quiet")
    return flags


def _reexec_worker(args: argparse.Namespace, ran_here: int, ran_total: int, elapsed: float) -> NoReturn:
    """Replace this process with a fresh worker that carries on with what is left."""
    trials = None if args.trials is None else args.trials - ran_here
    timeout = None if args.timeout is None else args.timeout - elapsed
    # -P: like the `hpo` script, do not put the working directory first on sys.path.
    argv = [sys.executable, "-P", "-m", "hpo.cli", "worker", *_worker_flags(args, trials, timeout),
            "--worker-id", str(args.worker_id)]
    os.environ[_RAN_BEFORE] = str(ran_total)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)


def check_listen(host: str, port: int) -> None:
    """A one-line error for an address a server cannot listen on: a busy port, a bad host."""
    import errno
    import socket

    if not 0 < port < 65536:
        raise ConfigError(f"--port: {port} is not a TCP port (1-65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"--host: cannot listen on {host!r}: {getattr(e, 'strerror', None) or e}; "
                          "give an address of this machine, e.g. 127.0.0.1 or 0.0.0.0") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers themselves do
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"--host: {host} is not an address of this machine; give one of its addresses, "
                                  "e.g. 127.0.0.1 or 0.0.0.0") from e
            what = "is in use" if e.errno == errno.EADDRINUSE else f"cannot be used ({e.strerror})"
            raise ConfigError(f"--port: {host}:{port} {what}; pick another port with --port") from e


def _proxy(url: str, host: str, port: int) -> int:
    """Optuna's gRPC storage proxy in front of the database: workers use --storage grpc://HOST:PORT."""
    import warnings

    import optuna

    from hpo.storage import open_storage, redact, serve_grpc_proxy

    if url.startswith("grpc://"):
        raise ConfigError("--storage: the proxy serves a database; give its sqlite:// or postgresql:// URL")
    # Behind optuna's in-process trial cache, as optuna's proxy documentation asks: a bare
    # RDBStorage re-reads whole trials from the database on every request.
    storage = optuna.storages.get_storage(open_storage(url))
    print(f"hpo proxy: serving {redact(url)} on grpc://{host}:{port} (Ctrl-C stops)", file=sys.stderr, flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            serve_grpc_proxy(storage, host, port)
        except RuntimeError as e:  # grpc could not bind
            raise StorageError(f"--port: cannot serve on {host}:{port}: {e}") from e
    print("hpo proxy: stopped", file=sys.stderr, flush=True)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from hpo.data import synth

    out = Path(args.out)
    if args.format == "image-folder":
        classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
        if classes is not None and (not 2 <= len(classes) <= 100 or not all(classes)
                                    or len(set(classes)) != len(classes)):
            raise ConfigError(f"--classes: give 2 to 100 distinct names separated by commas, got {args.classes!r}")
        try:
            counts = synth.write_image_folder(out, classes=classes, per_class=args.per_class,
                                              size=tuple(args.size), rgb=args.rgb, seed=args.seed)
        except ValueError as e:  # a class name that cannot be a folder name ("a/b", ".x")
            raise ConfigError(f"--{e}") from e
        except FileExistsError as e:
            raise ConfigError(f"--out: {out} exists and is not empty; give a new folder") from e
        except OSError as e:
            raise StorageError(f"--out: cannot write {out}: {e.strerror}") from e
        print(f"wrote {', '.join(f'{n} {k}' for k, n in counts.items())} images to {out}", file=sys.stderr)
        return 0
    try:  # a CSV format: --out names a file (image-folder's names a folder)
        _file_out({"lookup": "IdLookupTable.csv", "fer2013": "fer2013.csv", "keypoints-test": "test.csv"}.get(
            args.format, "training.csv"))(args.out)
    except argparse.ArgumentTypeError as e:
        raise ConfigError(f"--out: {e}") from e
    if args.format == "lookup":
        if args.test is None:
            raise ConfigError("--test: required for lookup: the test.csv (ImageId,Image) the table is for")
        _check_out(str(out), {"--test": [args.test]})
        try:
            n = synth.write_lookup_csv(out, Path(args.test), seed=args.seed)
        except OSError as e:
            raise StorageError(f"--out: cannot write {out}: {e.strerror}") from e
        print(f"wrote {n} rows of lookup data to {out}", file=sys.stderr)
        return 0
    if args.rows is None:
        raise ConfigError(f"--rows: required for {args.format}")
    writer = {"keypoints": synth.write_keypoints_csv, "keypoints-test": synth.write_keypoints_test_csv,
              "fer2013": synth.write_fer2013_csv}[args.format]
    try:
        writer(out, args.rows, seed=args.seed)
    except OSError as e:
        raise StorageError(f"--out: cannot write {out}: {e.strerror}") from e
    print(f"wrote {args.rows} rows of {args.format} data to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
