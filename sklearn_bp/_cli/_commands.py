"""The command line: ``sklearn-bp`` and ``python -m sklearn_bp``.

``fit`` trains on a CSV, Parquet or svmlight file and saves the model (skops by default),
``predict`` writes predictions or probabilities as CSV, ``info`` describes a saved model,
``gradcheck`` checks backpropagation's gradient, and ``demo`` (also a bare ``sklearn-bp``)
trains on scikit-learn's digits. Mistakes of the user (a missing file, an unknown column, a bad
hyperparameter, a model that cannot be read) end with one line on stderr and exit status 1;
a wrong command line with argparse's usage message and status 2. ``-`` as the data file reads
CSV from standard input.

The core commands need only sklearn-bp's dependencies; reading tables needs pandas, progress
bars rich, and ``.skops`` files skops: ``pip install skops pandas rich`` (or, from a checkout,
``pip install ".[cli]"``). A command names every package it lacks at once, before any work.
"""

import argparse
import contextlib
import lzma
import math
import os
import pickle
import re
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._classifier import BackpropClassifier
from .._gradient_check import gradient_check
from .._optimize import METHODS, method_spec
from .._optional import missing_message, missing_packages
from .._persistence import FORMATS, library_versions, load_model, save_model
from .._regressor import BackpropRegressor
from .._version import __version__

PROGRAM = "sklearn-bp"

# Data formats by suffix (after a compression suffix, which pandas and scikit-learn undo).
TABLE_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".svm": "svmlight",
    ".svmlight": "svmlight",
    ".libsvm": "svmlight",
}
COMPRESSION = {".gz", ".bz2", ".xz", ".zip", ".zst"}
STDIN = "-"  # as a data file: CSV from standard input

# gradient_check's answer when backpropagation is right is about 1e-9 or smaller; a wrong
# gradient gives 1e-2 and more. The command fails above this.
GRADCHECK_TOLERANCE = 1e-7

# fit refuses to learn as classes a numeric target with more than MANY_CLASSES distinct values
# and fewer than ROWS_PER_CLASS rows per value: each class would have a row or two to learn
# from (diabetes: 214 values in 442 rows, a held-out accuracy of 0).
MANY_CLASSES = 20
ROWS_PER_CLASS = 5

# The seed of the command line when --random-state is not given.
DEFAULT_SEED = 0


# The estimators' defaults, for the help texts (both estimators share them).
DEFAULTS = BackpropClassifier().get_params()


def _sizes(sizes):
    return ",".join(map(str, sizes)) if len(sizes) else "''"


class UserError(Exception):
    """A mistake of the user: reported in one line, exit status 1, no traceback."""


def _one_line(error):
    text = " ".join(str(error).split())
    return text or type(error).__name__


def _require(what, packages):
    """Refuse to start ``what`` while any of ``packages`` is missing, naming them all."""
    missing = missing_packages(dict.fromkeys(packages))
    if missing:
        raise UserError(missing_message(what, missing))


def _data_packages(path):
    """The optional packages that reading the data file ``path`` needs."""
    kind = data_format(_check_file(path))
    if kind == "svmlight":
        return []
    packages = ["pandas"] + (["pyarrow"] if kind == "parquet" else [])
    # pandas reads .zst with zstandard; the other compressions are in Python's library.
    return packages + (["zstandard"] if Path(str(path)).suffix.lower() == ".zst" else [])


def _model_packages(path):
    """The optional packages that reading or writing the model file ``path`` needs."""
    return ["skops"] if Path(path).suffix.lower() == ".skops" else []


def _check_model_file(path):
    if _is_stdin(path):
        raise UserError(f"A model is read from a file; {STDIN} (standard input) is for DATA.")
    return _check_file(path)


# Reading data -------------------------------------------------------------------------------


def data_format(path):
    """The format of a data file, from its suffix; ``-`` (standard input) is CSV."""
    if _is_stdin(path):
        return "csv"
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION:
        suffixes.pop()
    kind = TABLE_FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise UserError(
            f"Cannot tell the format of {_shown(path)} from its suffix: use .csv, .tsv, "
            f".parquet or .svm/.svmlight/.libsvm (optionally compressed, e.g. .csv.gz)."
        )
    return kind


def exact_floats(pd):
    """``read_csv`` options that read numbers back exactly as written: pandas 3 does by
    default (and deprecates the option), pandas 2's default parser can miss the last bit."""
    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _is_stdin(path):
    return str(path) == STDIN


def _shown(path):
    """A data or model file as the messages name it."""
    return "standard input" if _is_stdin(path) else repr(str(path))


def _check_file(path):
    if _is_stdin(path):
        return path
    path = Path(path)
    if not path.exists():
        raise UserError(f"No such file: {_shown(path)}.")
    if not path.is_file():
        raise UserError(f"{_shown(path)} is not a file.")
    return path


def read_table(path, index_col=None):
    """A CSV, TSV or Parquet file as a DataFrame."""
    path = _check_file(path)
    kind = data_format(path)
    _require(f"Reading {_shown(path)}", _data_packages(path))
    import pandas as pd

    source = sys.stdin if _is_stdin(path) else path
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
            if index_col is not None and index_col not in frame.index.names:
                frame = frame.set_index(_column(frame, index_col, path))
        else:
            frame = pd.read_csv(source, sep="\t" if kind == "tsv" else ",", **exact_floats(pd))
            if index_col is not None:
                frame = frame.set_index(_column(frame, index_col, path))
    except ImportError as error:  # a compression whose codec is not installed (.zst)
        raise UserError(f"Cannot read {_shown(path)}: {_one_line(error)}") from None
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        OSError,  # gzip's BadGzipFile among them
        EOFError,
        lzma.LZMAError,
        zipfile.BadZipFile,
    ) as error:
        raise UserError(f"Cannot read {_shown(path)}: {_one_line(error)}") from None
    except ValueError as error:  # pyarrow's "not a parquet file", among others
        if isinstance(error, UserError):
            raise
        raise UserError(f"Cannot read {_shown(path)}: {_one_line(error)}") from None
    if frame.shape[0] == 0:
        raise UserError(f"{_shown(path)} has no rows.")
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _column(frame, name, path):
    """The column called ``name``, or a clear error listing the columns there are."""
    if name in frame.columns:
        return name
    columns = [str(column) for column in frame.columns]
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    raise UserError(f"No column {name!r} in {_shown(path)}; its columns are: {shown}.")


def _listed(names):
    return ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")


def _check_features(frame, path):
    """Refuse feature columns that are not finite numbers, by name."""
    numeric = frame.select_dtypes(include=["number", "bool"])
    text = [column for column in frame.columns if column not in numeric.columns]
    if text:
        raise UserError(
            f"Column(s) {_listed(text)} of {_shown(path)} are not numeric: encode them as "
            f"numbers first, or leave them out of the file."
        )
    missing = [column for column in frame.columns if frame[column].isna().any()]
    if missing:
        raise UserError(
            f"Column(s) {_listed(missing)} of {_shown(path)} have missing values: fill or drop "
            f"them first."
        )
    infinite = [column for column in numeric.columns if np.isinf(numeric[column]).any()]
    if infinite:
        raise UserError(
            f"Column(s) {_listed(infinite)} of {_shown(path)} have infinite values: replace or "
            f"drop them first."
        )
    flags = frame.select_dtypes(include="bool").columns  # True/False columns become 1.0/0.0
    return frame.astype(dict.fromkeys(flags, np.float64)) if len(flags) else frame


def _check_training_features(X, path):
    """Refuse text columns among the features, with the options that leave them out."""
    numeric = X.select_dtypes(include=["number", "bool"]).columns
    text = [column for column in X.columns if column not in numeric]
    if not text:
        return _check_features(X, path)
    message = (
        f"Column(s) {_listed(text)} of {_shown(path)} are not numeric: encode them as numbers "
        f"first, or leave them out with --drop {','.join(text)}."
    )
    # A text column with a different value on every row names the rows, as an id does.
    names = [c for c in text if len(X) > 1 and X[c].notna().all() and X[c].is_unique]
    if names:
        message += f" {names[0]!r} looks like the rows' names: pass --index-col {names[0]}."
    raise UserError(message)


def _features(frame, target, features, drop, path):
    """The feature columns: ``features`` in their order, else all but the target and ``drop``."""
    for option, names in (("--features", features), ("--drop", drop)):
        if names is not None and target in names:
            raise UserError(f"{option} names the target {target!r}.")
    if features is not None:
        return frame[[_column(frame, name, path) for name in features]]
    X = frame.drop(columns=[target])
    return X.drop(columns=[_column(X, name, path) for name in drop or []])


def _svmlight_options(path, options):
    """Refuse the options that name columns, for an svmlight file, whose columns have none."""
    given = [option for option, value in options.items() if value is not None]
    if given:
        raise UserError(
            f"{given[0]} does not apply to svmlight file {_shown(path)}: its features have no "
            f"names, and its targets are the first value of each line."
        )


def read_training_data(path, target, index_col=None, features=None, drop=None):
    """Features and targets of a data file: ``(X, y, target name)``.

    ``features`` (column names) picks the feature columns; otherwise they are all the columns
    but the target, the index and those named in ``drop``.
    """
    if data_format(_check_file(path)) == "svmlight":
        _svmlight_options(
            path,
            {"--target": target, "--index-col": index_col, "--features": features, "--drop": drop},
        )
        X, y = _read_svmlight(path)
        _check_sparse_features(X, path)
        return X, y, "target"
    if target is None:
        raise UserError(f"--target COLUMN is required for {_shown(path)}: which column to learn.")
    frame = read_table(path, index_col)
    y = frame[_column(frame, target, path)]
    if y.isna().any():
        raise UserError(f"The target column {target!r} of {_shown(path)} has missing values.")
    X = _features(frame, target, features, drop, path)
    if X.shape[1] == 0:
        raise UserError(f"{_shown(path)} has no feature columns besides the target {target!r}.")
    return _check_training_features(X, path), y, target


def _check_sparse_features(X, path):
    """Refuse infinite values in an svmlight file, by feature column."""
    coo = X.tocoo()
    infinite = np.unique(coo.col[~np.isfinite(coo.data)]).tolist()
    if infinite:
        raise UserError(
            f"Feature column(s) {_listed(infinite)} (counting from 0) of {_shown(path)} have "
            f"infinite values: replace or drop them first."
        )
    return X


def _read_svmlight(path, n_features=None):
    from sklearn.datasets import load_svmlight_file

    compression = Path(path).suffix.lower()
    if compression in COMPRESSION - {".gz", ".bz2"}:
        raise UserError(
            f"svmlight files can be compressed with gzip (.gz) or bzip2 (.bz2), not "
            f"{compression}: {_shown(path)}."
        )
    try:
        X, y = load_svmlight_file(str(path), n_features=n_features)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"Cannot read {_shown(path)} as svmlight: {_one_line(error)}") from None
    if X.shape[0] == 0:
        raise UserError(f"{_shown(path)} has no rows.")
    return X, y


def read_prediction_data(path, model, index_col=None):
    """The feature matrix of a data file for ``model``, and its index (None for svmlight)."""
    estimator = final_estimator(model)
    names = getattr(model, "feature_names_in_", None)
    if data_format(_check_file(path)) == "svmlight":
        if names is not None:
            raise UserError(
                f"The model was trained on a table: it takes the columns "
                f"{_listed(list(names))} by name, and svmlight file {_shown(path)} has no "
                f"names. Predict a CSV, TSV or Parquet file with those columns."
            )
        _svmlight_options(path, {"--index-col": index_col})
        X, _ = _read_svmlight(path, n_features=estimator.n_features_in_)
        return _check_sparse_features(X, path), None
    frame = read_table(path, index_col)
    if names is not None:
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise UserError(
                f"{_shown(path)} lacks the model's feature column(s): "
                f"{', '.join(map(repr, absent[:8]))}."
            )
        frame = frame[list(names)]
    elif frame.shape[1] != estimator.n_features_in_:
        raise UserError(
            f"{_shown(path)} has {frame.shape[1]} columns; the model takes "
            f"{estimator.n_features_in_} features (it was trained without column names)."
        )
    X = _check_features(frame, path)
    # A model trained without names takes the columns in order: names would only draw
    # scikit-learn's warning that the model was fitted without them.
    return (X if names is not None else X.to_numpy()), frame.index


# Models -------------------------------------------------------------------------------------


def final_estimator(model):
    """The sklearn-bp estimator of a model: itself, the last step of a pipeline, or the
    regressor of a ``TransformedTargetRegressor`` (which ``fit --regressor`` makes)."""
    estimator = model
    while True:
        if hasattr(estimator, "regressor_"):
            estimator = estimator.regressor_
        elif hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        else:
            break
    if not isinstance(estimator, BackpropClassifier | BackpropRegressor):
        raise UserError(
            f"The file holds a {type(estimator).__name__}, not a sklearn-bp model "
            f"(BackpropClassifier or BackpropRegressor, or a pipeline ending in one)."
        )
    if not hasattr(estimator, "coefs_"):
        raise UserError(f"The {type(estimator).__name__} in the file is not fitted.")
    return estimator


def read_model(path, trust_pickle):
    """Load a model file for the command line, with every way it can fail as a UserError."""
    path = _check_model_file(path)
    try:
        return load_model(path, trust_pickle=trust_pickle)
    except ImportError as error:
        raise UserError(_one_line(error)) from None
    except ValueError as error:
        if "trust_pickle" in str(error):
            raise UserError(
                f"{_shown(path)} is a pickle, which runs code when loaded: pass --trust-pickle "
                f"only if you trust where it came from, or save models as .skops."
            ) from None
        raise UserError(_one_line(error)) from None  # load_model's messages name the file
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        AttributeError,
        ModuleNotFoundError,
        TypeError,
    ) as error:
        raise UserError(f"Cannot read the model {_shown(path)}: {_one_line(error)}") from None


# Progress -----------------------------------------------------------------------------------


class Progress:
    """The fit's progress on stderr: a rich bar in a terminal, else a plain line now and then.

    Called as sklearn-bp's ``callback`` after every iteration. Plain lines go out at the first
    iteration and then at most once every ``every`` seconds; ``close`` prints the last.
    """

    def __init__(self, max_iter, *, quiet=False, every=1.0, stream=None):
        self.max_iter = max_iter
        self.quiet = quiet
        self.every = every
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.last_line = -np.inf
        self.state = None
        self.bar = None
        if quiet:
            return
        try:
            from rich.console import Console
        except ImportError:
            return
        console = Console(file=self.stream)
        if console.is_terminal:
            from rich import progress

            self.bar = progress.Progress(
                progress.TextColumn("fit"),
                progress.BarColumn(),
                progress.TextColumn("iteration {task.completed}/{task.total}"),
                progress.TextColumn("loss {task.fields[loss]}"),
                progress.TimeElapsedColumn(),
                console=console,
            )
            self.task = self.bar.add_task("fit", total=max_iter, loss="-")

    def __deepcopy__(self, memo):
        # scikit-learn's clone deep-copies parameters: the clone reports to the same display.
        return self

    def __call__(self, iteration, loss, gradient_norm, coefs, intercepts):
        elapsed = time.perf_counter() - self.start
        self.state = (iteration, loss, elapsed)
        if self.bar is not None:
            if not self.bar.live.is_started:
                self.bar.start()
            self.bar.update(self.task, completed=min(iteration, self.max_iter), loss=f"{loss:.6g}")
        elif not self.quiet and (iteration == 1 or elapsed - self.last_line >= self.every):
            self._line()
            self.last_line = elapsed
        return False

    def _line(self):
        iteration, loss, elapsed = self.state
        print(
            f"fit: iteration {iteration}/{self.max_iter}, loss {loss:.6g}, {elapsed:.1f} s",
            file=self.stream,
            flush=True,
        )

    def close(self):
        """Stop the bar, or print the last plain line."""
        if self.bar is not None:
            self.bar.stop()
        elif not self.quiet and self.state is not None and self.state[2] != self.last_line:
            self._line()


# Commands -----------------------------------------------------------------------------------


def _hidden(text):
    """``--hidden 25,10`` → (25, 10); ``--hidden ""`` → no hidden layer."""
    text = text.strip()
    if not text or text.lower() == "none":
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected sizes separated by commas, such as 25,10; got {text!r}"
        ) from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _names(text):
    """``--features a,b,c`` → ["a", "b", "c"]."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected column names separated by commas; got {text!r}")
    if len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(f"a column is named twice in {text!r}")
    return names


def _class_weight(text):
    """``--class-weight balanced``, or ``--class-weight yes=5,no=1`` → {"yes": 5.0, "no": 1.0}."""
    if text == "balanced":
        return text
    weights = {}
    for part in text.split(","):
        label, _, weight = (item.strip() for item in part.rpartition("="))
        try:
            weights[label] = float(weight)
        except ValueError:
            weights[label] = np.nan
        if not label or not 0 <= weights[label] < np.inf:
            raise argparse.ArgumentTypeError(
                f"expected 'balanced' or CLASS=WEIGHT pairs separated by commas, each weight a "
                f"finite number >= 0, such as yes=5,no=1; got {text!r}"
            )
    return weights


def _estimator(args):
    """The estimator the options of ``fit`` and ``gradcheck`` describe."""
    for option, value in (
        ("--out-activation", args.out_activation),
        ("--class-weight", getattr(args, "class_weight", None)),
    ):
        if args.regressor and value is not None:
            raise UserError(
                f"{option} applies to classifiers; a BackpropRegressor's outputs are linear and "
                f"unweighted."
            )
    Estimator = BackpropRegressor if args.regressor else BackpropClassifier
    random_state = args.random_state
    if random_state is None and method_spec(args.method or DEFAULTS["method"]).reproducible:
        # A seed the user did not ask for: fits repeat exactly. A method that cannot repeat a
        # fit gets none, and so no warning that the seed cannot keep its promise.
        random_state = DEFAULT_SEED
    params = {
        "hidden_layer_sizes": args.hidden,
        "activation": args.activation,
        "out_activation": args.out_activation,
        "alpha": args.alpha,
        "method": args.method,
        "max_iter": getattr(args, "max_iter", None),
        "tol": getattr(args, "tol", None),
        "early_stopping": getattr(args, "early_stopping", None) or None,
        "random_state": random_state,
    }
    estimator = Estimator(**{name: value for name, value in params.items() if value is not None})
    # Bad values are refused now, with scikit-learn's message, before any data is read.
    estimator._validate_params()
    return estimator


def _model(args, estimator, sparse_input):
    """The estimator, scaled: features by a StandardScaler, and a regressor's targets too."""
    if args.no_scale:
        return estimator
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Centering would make a sparse matrix dense: scale sparse data without it.
    model = make_pipeline(StandardScaler(with_mean=not sparse_input), estimator)
    if args.regressor:
        # The squared error of targets in the hundreds dwarfs the penalty and saturates the
        # hidden units' gradients: learn standardized targets, predict in the original units.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return model


def _unscalable(X):
    """The columns of X whose mean or variance overflows float64 in a StandardScaler.

    The scaler itself does not say: it takes an infinite variance for a constant column's and
    divides by 1, or centers by a NaN mean.
    """
    from scipy import sparse
    from sklearn.preprocessing import StandardScaler

    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is what is looked for
        scaler = StandardScaler(with_mean=not sparse.issparse(X)).fit(X)
    return np.flatnonzero(~(np.isfinite(scaler.mean_) & np.isfinite(scaler.var_))).tolist()


def _check_scalable(X, path):
    """Refuse features too large for a StandardScaler, which would turn them into NaN."""
    columns = _unscalable(X)
    if not columns:
        return
    if hasattr(X, "columns"):
        names = [X.columns[j] for j in columns]
        where, leave_out = f"Column(s) {_listed(names)}", f" (--drop {','.join(names)})"
        part = X.iloc[:, columns].to_numpy()
    else:
        where, leave_out = f"Feature column(s) {_listed(columns)} (counting from 0)", ""
        part = X[:, columns]
    raise UserError(
        f"{where} of {_shown(path)} are too large to scale: values up to "
        f"{float(abs(part).max()):.3g} overflow float64 in their variance. Divide them by a "
        f"power of ten first, leave them out{leave_out}, or fit without scaling (--no-scale)."
    )


def _check_scalable_target(y, target, path):
    """Refuse regression targets too large to standardize."""
    if _unscalable(np.asarray(y, dtype=np.float64).reshape(-1, 1)):
        raise UserError(
            f"The target {target!r} of {_shown(path)} is too large to standardize: values up to "
            f"{np.max(np.abs(np.asarray(y, dtype=np.float64))):.3g} overflow float64 in its "
            f"variance. Divide it by a power of ten first, or fit without scaling (--no-scale)."
        )


def _check_classes(y, target, path):
    """Refuse to learn as classes a numeric target that looks like a quantity."""
    values = np.asarray(y)
    if values.dtype.kind not in "iuf":
        return
    distinct = np.unique(values)
    fractions = values.dtype.kind == "f" and not np.array_equal(distinct, np.round(distinct))
    many = distinct.size > MANY_CLASSES and distinct.size * ROWS_PER_CLASS > values.size
    if fractions or many:
        raise UserError(
            f"The target {target!r} of {_shown(path)} has {distinct.size} distinct numbers in "
            f"{values.size} rows{', not all whole' if fractions else ''}: a quantity to "
            f"predict rather than classes to tell apart. Pass --regressor."
        )


def _class_weights(weights, y, path):
    """``--class-weight`` with its labels as the classes of y (written as the file does)."""
    if not isinstance(weights, dict):
        return weights
    known = np.unique(np.asarray(y)).tolist()
    classes = {str(label): label for label in known}
    # svmlight's targets are floats: its class 1.0 is also "1", as the file may write it.
    classes.update({f"{label:g}": label for label in known if isinstance(label, float)})
    unknown = [label for label in weights if label not in classes]
    if unknown:
        raise UserError(
            f"--class-weight names {_listed(unknown)}, not classes of {_shown(path)}; its "
            f"classes are: {', '.join(map(str, known[:20]))}{', ...' if len(known) > 20 else ''}."
        )
    return {classes[label]: weight for label, weight in weights.items()}


def _command_line_advice(text, scaled):
    """A warning's advice in the command line's terms: its options, and no scaling hint after
    the command line has scaled the data."""
    rewrite = "--max-iter (now \\1) or --tol."
    if not scaled:
        rewrite = "--max-iter (now \\1) or --tol, or scale the data (leave out --no-scale)."
    return re.sub(r"max_iter \(now (\d+)\) or tol, or scale the data\.", rewrite, text)


@contextlib.contextmanager
def _advice(scaled):
    """Show the warnings of the block with :func:`_command_line_advice`."""
    show = warnings.showwarning
    with warnings.catch_warnings():

        def show_advice(message, category, filename, lineno, file=None, line=None):
            text = _command_line_advice(str(message), scaled)
            show(text, category, filename, lineno, file, line)

        warnings.showwarning = show_advice
        yield


def command_fit(args):
    output = Path(args.output)
    if output.suffix.lower() not in FORMATS:
        raise UserError(
            f"Cannot tell the format of {str(output)!r} from its suffix: use .skops "
            f"(recommended), .pkl, .pickle or .joblib."
        )
    # Everything missing is named now, in one message, not one package at a time.
    _require(f"{PROGRAM} fit", _data_packages(args.data) + _model_packages(output))
    if not output.parent.is_dir():
        raise UserError(
            f"Cannot write the model to {str(output)!r}: no folder {str(output.parent)!r}."
        )
    if not os.access(output.parent, os.W_OK):
        raise UserError(f"Cannot write the model to {str(output)!r}: the folder is not writable.")
    estimator = _estimator(args)
    X, y, target = read_training_data(
        args.data, args.target, args.index_col, args.features, args.drop
    )
    if args.regressor and not np.issubdtype(np.asarray(y).dtype, np.number):
        raise UserError(f"--regressor needs a numeric target; column {target!r} is not numeric.")
    if not args.regressor:
        _check_classes(y, target, args.data)
        estimator.set_params(class_weight=_class_weights(args.class_weight, y, args.data))
    from scipy import sparse

    model = _model(args, estimator, sparse.issparse(X))
    X_train, y_train, X_test, y_test = X, y, None, None
    if not args.no_score:
        X_train, X_test, y_train, y_test = _split(X, y, args)
    if not args.no_scale:  # what the scalers in the model will be fitted on
        _check_scalable(X_train, args.data)
        if args.regressor:
            _check_scalable_target(y_train, target, args.data)
    progress = Progress(estimator.max_iter, quiet=args.quiet)
    estimator.set_params(callback=progress)
    try:
        with _advice(scaled=not args.no_scale):
            model.fit(X_train, y_train)
    finally:
        progress.close()
        # The model is saved without the progress bar: a callback is code, not data.
        estimator.set_params(callback=None)
    estimator = final_estimator(model)  # the fitted one: a TransformedTargetRegressor clones
    estimator.set_params(callback=None)
    n_rows = X_train.shape[0]
    if X_test is not None:
        name = "R²" if args.regressor else "accuracy"
        print(f"held-out {name} {model.score(X_test, y_test):.4f} ({X_test.shape[0]} rows)")
    save_model(model, output)
    print(
        f"{type(estimator).__name__} fitted on {n_rows} rows in {estimator.n_iter_} iterations "
        f"(J = {estimator.loss_:.6g}), saved to {output}"
    )
    return 0


def _split(X, y, args):
    from sklearn.model_selection import train_test_split

    stratify = None
    if not args.regressor:
        _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        if counts.min() >= 2:
            stratify = y
    try:
        return train_test_split(
            X, y, test_size=args.test_size, random_state=args.split_seed, stratify=stratify
        )
    except ValueError as error:
        raise UserError(
            f"Cannot hold out --test-size {args.test_size}: {_one_line(error)}"
        ) from None


def command_predict(args):
    # pandas writes the predictions, whatever the data file.
    packages = [
        *_model_packages(_check_model_file(args.model)),
        "pandas",
        *_data_packages(args.data),
    ]
    _require(f"{PROGRAM} predict", packages)
    import pandas as pd

    model = read_model(args.model, args.trust_pickle)
    estimator = final_estimator(model)
    X, index = read_prediction_data(args.data, model, args.index_col)
    if args.proba:
        if not isinstance(estimator, BackpropClassifier):
            raise UserError(
                f"--proba needs a classifier; the model is a {type(estimator).__name__}."
            )
        values = model.predict_proba(X)
        columns = [str(label) for label in estimator.classes_]
        if values.shape[1] != len(columns):  # multilabel: one column per label
            columns = [str(i) for i in range(values.shape[1])]
    else:
        values = model.predict(X)
        columns = (
            ["prediction"]
            if values.ndim == 1
            else [f"prediction_{i}" for i in range(values.shape[1])]
        )
    table = pd.DataFrame(np.asarray(values).reshape(X.shape[0], -1), columns=columns, index=index)
    if args.output is None:
        table.to_csv(sys.stdout)
    else:
        table.to_csv(args.output)
        print(f"{X.shape[0]} predictions written to {args.output}", file=sys.stderr)
    return 0


def command_info(args):
    _require(f"{PROGRAM} info", _model_packages(_check_model_file(args.model)))
    model = read_model(args.model, args.trust_pickle)
    estimator = final_estimator(model)
    sizes = [estimator.n_features_in_] + [coef.shape[1] for coef in estimator.coefs_]
    # Sizes from shapes: a model fitted on a device holds tensors, whose .size is a method.
    n_params = sum(
        math.prod(coef.shape) + math.prod(b.shape)
        for coef, b in zip(estimator.coefs_, estimator.intercepts_)
    )
    rows = [("model", type(estimator).__name__)]
    wrapper, inner = None, model
    if hasattr(model, "regressor_"):  # fit --regressor: standardized targets
        wrapper, inner = type(model).__name__, model.regressor_
    if hasattr(inner, "steps"):
        steps = " → ".join(type(step).__name__ for _, step in inner.steps)
        rows.append(("pipeline", f"{wrapper}({steps})" if wrapper else steps))
    elif wrapper:
        rows.append(("pipeline", f"{wrapper}({type(inner).__name__})"))
    rows += [
        ("layers", " → ".join(map(str, sizes))),
        ("activation", f"{estimator._activation} (hidden), {estimator.out_activation_} (output)"),
        ("parameters", f"{n_params:,}"),
    ]
    if isinstance(estimator, BackpropClassifier):
        classes = [str(label) for label in estimator.classes_]
        shown = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
        if estimator._target_type == "multilabel":
            rows.append(("labels", f"{len(classes)} (multilabel), columns {shown}"))
        else:
            rows.append(("classes", f"{len(classes)}: {shown}"))
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        rows.append(("features", shown))
    rows += [
        ("alpha", f"{estimator.alpha:g}"),
        ("method", f"{estimator.method}"),
        (
            "loss",
            f"J = {estimator.loss_:.6g}" + (" (on standardized targets)" if wrapper else ""),
        ),
        ("iterations", f"{estimator.n_iter_}"),
    ]
    seconds = getattr(estimator, "_fit_seconds", None)
    rows.append(("training time", "not recorded" if seconds is None else f"{seconds:.2f} s"))
    trained = getattr(estimator, "_versions", {})
    now = library_versions()
    for library in now:
        then = trained.get(library, "not recorded")
        note = "" if then == now[library] else f" (now {now[library]})"
        rows.append((f"trained with {library}", f"{then}{note}"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def command_gradcheck(args):
    estimator = _estimator(args)
    if args.data is None:
        from sklearn.datasets import load_diabetes, load_digits

        X, y = (load_diabetes if args.regressor else load_digits)(return_X_y=True)
        X = X[:, :: max(1, X.shape[1] // 8)]
        where = "the diabetes data" if args.regressor else "the digits data"
    else:
        _require(f"{PROGRAM} gradcheck", _data_packages(args.data))
        X, y, target = read_training_data(
            args.data, args.target, args.index_col, args.features, args.drop
        )
        where = "standard input" if _is_stdin(args.data) else str(args.data)
    from sklearn.preprocessing import StandardScaler

    # Rows spread evenly over the file: files are often sorted by their target.
    rows = np.unique(np.linspace(0, X.shape[0] - 1, min(args.rows, X.shape[0])).astype(int))
    X = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    y = np.asarray(y)[rows]
    if args.data is not None:  # the bundled data sets scale well
        _check_scalable(X, args.data)
        if args.regressor:
            _check_scalable_target(y, target, args.data)
    X = StandardScaler(with_mean=not hasattr(X, "tocsr")).fit_transform(X)
    rows = rows.size
    if args.regressor:
        y = (y - y.mean()) / (y.std() or 1.0)
    difference = gradient_check(estimator, X, y)
    ok = difference < GRADCHECK_TOLERANCE
    print(
        f"gradient check of {type(estimator).__name__}{tuple(estimator.hidden_layer_sizes)} "
        f"on {rows} rows of {where}: relative difference {difference:.2e} "
        f"({'OK' if ok else 'FAILED'}: backpropagation agrees with central differences when it "
        f"is below {GRADCHECK_TOLERANCE:g})"
    )
    return 0 if ok else 1


def command_demo(args):
    from ..__main__ import demo

    return demo()


# The parser ---------------------------------------------------------------------------------


def command_export(args):
    try:  # by its full name: imported again if skl2onnx has been installed since a failure
        import sklearn_bp.onnx as bp_onnx
    except ImportError as error:
        raise UserError(_one_line(error)) from None
    model = read_model(args.model, args.trust_pickle)
    final_estimator(model)  # refuses files that hold no fitted sklearn-bp model
    if hasattr(model, "regressor_"):
        raise UserError(
            "Exporting a TransformedTargetRegressor (fit --regressor) is not supported: "
            "skl2onnx has no converter for it."
        )
    dtype = np.float64 if args.float64 else np.float32
    onx = bp_onnx.to_onnx(model, np.zeros((1, model.n_features_in_), dtype=dtype))
    Path(args.output).write_bytes(onx.SerializeToString())

    def shape(value):
        dims = value.type.tensor_type.shape.dim
        # A dimension left open (the number of rows) has neither a value nor a name.
        sizes = [str(dim.dim_value) if dim.HasField("dim_value") else "N" for dim in dims]
        return "(" + ", ".join(sizes) + ")"

    def element(value):
        from onnx import TensorProto

        return TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower()

    print(f"ONNX model written to {args.output}")
    for kind, values in (("input", onx.graph.input), ("output", onx.graph.output)):
        for value in values:
            print(f"{kind:<6}  {value.name}: {element(value)} {shape(value)}")
    return 0


def _network_options(parser, *, hidden_default):
    parser.add_argument(
        "--regressor", action="store_true", help="a BackpropRegressor (default: a classifier)"
    )
    parser.add_argument(
        "--hidden",
        type=_hidden,
        default=hidden_default,
        metavar="SIZES",
        help="hidden layer sizes separated by commas, e.g. 25,10; '' for none "
        f"(default: {_sizes(hidden_default or DEFAULTS['hidden_layer_sizes'])})",
    )
    parser.add_argument(
        "--activation",
        choices=["logistic", "tanh", "relu", "identity"],
        help=f"hidden units (default: {DEFAULTS['activation']})",
    )
    parser.add_argument(
        "--out-activation",
        choices=["logistic", "softmax"],
        help=f"a classifier's output units (default: {DEFAULTS['out_activation']})",
    )
    parser.add_argument(
        "--alpha", type=float, help=f"L2 penalty on the weights (default: {DEFAULTS['alpha']:g})"
    )
    parser.add_argument(
        "--method",
        choices=sorted(METHODS),
        help=f"scipy.optimize.minimize method (default: {DEFAULTS['method']})",
    )
    parser.add_argument(
        "--random-state",
        type=int,
        metavar="SEED",
        help=f"seed of the initial weights (default: {DEFAULT_SEED}; none for trust-krylov, "
        f"whose fits differ from run to run whatever the seed)",
    )


DATA_HELP = "CSV, TSV, Parquet or svmlight/libsvm file; - reads CSV from standard input"


def _data_options(parser, *, target_required_text, nargs=None):
    parser.add_argument("data", metavar="DATA", nargs=nargs, help=DATA_HELP)
    parser.add_argument("--target", metavar="COLUMN", help=target_required_text)
    parser.add_argument(
        "--index-col", metavar="COLUMN", help="column that names the rows (kept in predictions)"
    )
    columns = parser.add_mutually_exclusive_group()
    columns.add_argument(
        "--features",
        type=_names,
        metavar="COLUMNS",
        help="the feature columns, separated by commas (default: all but the target and index)",
    )
    columns.add_argument(
        "--drop", type=_names, metavar="COLUMNS", help="columns to leave out, separated by commas"
    )


def build_parser():
    """The argument parser of ``sklearn-bp``."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Neural networks trained by classic backpropagation, from the command "
        "line. Without a command, runs the digits demo.",
        epilog="Example: sklearn-bp fit train.csv --target label -o model.skops && "
        "sklearn-bp predict model.skops new.csv --proba -o proba.csv",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="train a model on a data file and save it",
        description="Train on a data file and save the model. Unless --no-score, a part of "
        "the rows (--test-size) is held out to score the model, which is fitted on the rest.",
    )
    _data_options(fit, target_required_text="the column to learn (not for svmlight files)")
    fit.add_argument(
        "-o", "--output", required=True, metavar="MODEL",
        help="where to save the model: .skops (recommended), .pkl or .joblib",
    )  # fmt: skip
    _network_options(fit, hidden_default=None)
    fit.add_argument(
        "--max-iter",
        type=int,
        metavar="N",
        help=f"most iterations (default: {DEFAULTS['max_iter']})",
    )
    fit.add_argument(
        "--tol", type=float, help=f"the method's tolerance (default: {DEFAULTS['tol']:g})"
    )
    fit.add_argument(
        "--early-stopping", action="store_true", help="stop when a held-out score stalls"
    )
    fit.add_argument(
        "--class-weight",
        type=_class_weight,
        metavar="WEIGHTS",
        help="a classifier's weight of each class: 'balanced' (inversely to their frequency) or "
        "CLASS=WEIGHT pairs separated by commas, such as yes=5,no=1 (default: 1 each)",
    )
    fit.add_argument(
        "--no-scale", action="store_true", help="no StandardScaler in front of the network"
    )
    fit.add_argument(
        "--no-score", action="store_true", help="fit on all rows; print no held-out score"
    )
    fit.add_argument(
        "--test-size", type=float, default=0.25, metavar="FRACTION",
        help="fraction of rows held out for the score (default: 0.25)",
    )  # fmt: skip
    fit.add_argument(
        "--split-seed", type=int, default=0, metavar="SEED",
        help="seed of the held-out split (default: 0)",
    )  # fmt: skip
    fit.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    fit.set_defaults(run=command_fit)

    predict = commands.add_parser(
        "predict",
        help="predict with a saved model",
        description="Predict the rows of a data file; write CSV with the input's index.",
    )
    predict.add_argument("model", metavar="MODEL", help="a model saved by fit")
    predict.add_argument("data", metavar="DATA", help=DATA_HELP)
    predict.add_argument(
        "--index-col", metavar="COLUMN", help="column that names the rows (kept in the output)"
    )
    predict.add_argument("--proba", action="store_true", help="probabilities, one column per class")
    predict.add_argument("-o", "--output", metavar="OUT", help="CSV file (default: stdout)")
    predict.add_argument(
        "--trust-pickle", action="store_true",
        help="allow a pickle or joblib model, which runs code when loaded",
    )  # fmt: skip
    predict.set_defaults(run=command_predict)

    info = commands.add_parser("info", help="describe a saved model")
    info.add_argument("model", metavar="MODEL", help="a model saved by fit")
    info.add_argument(
        "--trust-pickle", action="store_true",
        help="allow a pickle or joblib model, which runs code when loaded",
    )  # fmt: skip
    info.set_defaults(run=command_info)

    gradcheck = commands.add_parser(
        "gradcheck",
        help="check backpropagation's gradient against central differences",
        description="Compare the gradient of J computed by backpropagation with central "
        "differences, on a small network and rows spread over a data file (by default "
        "scikit-learn's digits, or diabetes with --regressor). Exit status 1 if they differ.",
    )
    _data_options(gradcheck, target_required_text="the column to learn", nargs="?")
    _network_options(gradcheck, hidden_default=(5,))
    gradcheck.add_argument(
        "--rows", type=int, default=50, metavar="N", help="rows to use (default: 50)"
    )
    gradcheck.set_defaults(run=command_gradcheck)

    demo = commands.add_parser("demo", help="train on scikit-learn's digits and report")
    demo.set_defaults(run=command_demo)

    export = commands.add_parser(
        "export",
        help="export a saved model to ONNX",
        description="Write a saved model as an ONNX file for onnxruntime and the other ONNX "
        'runtimes; needs skl2onnx and onnx (pip install skl2onnx onnx, or ".[onnx]").',
    )
    export.add_argument("model", metavar="MODEL", help="a model saved by fit")
    export.add_argument("-o", "--output", required=True, metavar="OUT", help="the .onnx file")
    export.add_argument(
        "--float64", action="store_true", help="a float64 input and graph (default: float32)"
    )
    export.add_argument(
        "--trust-pickle", action="store_true",
        help="allow a pickle or joblib model, which runs code when loaded",
    )  # fmt: skip
    export.set_defaults(run=command_export)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROGRAM}: warning: {_one_line(message)}", file=sys.stderr, flush=True)


def main(argv=None):
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv or ["demo"])
        if args.command is None:  # only global options, such as --debug
            args = parser.parse_args([*argv, "demo"])
    except SystemExit as exit:  # argparse: --help, --version, or a usage error (status 2)
        return exit.code
    if args.debug:
        return args.run(args)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except BrokenPipeError:
            # The reader of the output went away (``| head``): stop quietly with status 0, as
            # Unix tools do. What is left in stdout's buffer goes to devnull, not to another
            # BrokenPipeError when Python flushes it at exit (Python's docs on SIGPIPE).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except (UserError, OSError, ValueError, TypeError) as error:
            # OSError: files; ValueError and TypeError: what the estimators refuse (bad
            # hyperparameters and data) say what is wrong in their message.
            print(f"{PROGRAM}: error: {_one_line(error)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROGRAM}: interrupted", file=sys.stderr)
            return 130
