"""Reading the data of a command: CSV, TSV, Parquet and svmlight files, or CSV from stdin.

pandas reads the tables (pyarrow Parquet), scikit-learn svmlight files. Every way a file can be
wrong (its format, a missing column, text or missing or infinite values among the features,
a target with gaps) is refused as a :class:`~sklearn_bp._cli._errors.UserError` that names the
file and the columns.
"""

import lzma
import sys
import zipfile
from pathlib import Path

import numpy as np

from ._errors import UserError, check_file, is_stdin, one_line, require, shown
from ._models import final_estimator

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


def data_packages(path):
    """The optional packages that reading the data file ``path`` needs."""
    kind = data_format(check_file(path))
    if kind == "svmlight":
        return []
    packages = ["pandas"] + (["pyarrow"] if kind == "parquet" else [])
    # pandas reads .zst with zstandard; the other compressions are in Python's library.
    return packages + (["zstandard"] if Path(str(path)).suffix.lower() == ".zst" else [])


def data_format(path):
    """The format of a data file, from its suffix; ``-`` (standard input) is CSV."""
    if is_stdin(path):
        return "csv"
    suffixes = [suffix.lower() for suffix in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSION:
        suffixes.pop()
    kind = TABLE_FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise UserError(
            f"Cannot tell the format of {shown(path)} from its suffix: use .csv, .tsv, "
            f".parquet or .svm/.svmlight/.libsvm (optionally compressed, e.g. .csv.gz)."
        )
    return kind


def exact_floats(pd):
    """``read_csv`` options that read numbers back exactly as written: pandas 3 does by
    default (and deprecates the option), pandas 2's default parser can miss the last bit."""
    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_table(path, index_col=None):
    """A CSV, TSV or Parquet file as a DataFrame."""
    path = check_file(path)
    kind = data_format(path)
    require(f"Reading {shown(path)}", data_packages(path))
    import pandas as pd

    source = sys.stdin if is_stdin(path) else path
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
        raise UserError(f"Cannot read {shown(path)}: {one_line(error)}") from None
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        OSError,  # gzip's BadGzipFile among them
        EOFError,
        lzma.LZMAError,
        zipfile.BadZipFile,
    ) as error:
        raise UserError(f"Cannot read {shown(path)}: {one_line(error)}") from None
    except ValueError as error:  # pyarrow's "not a parquet file", among others
        if isinstance(error, UserError):
            raise
        raise UserError(f"Cannot read {shown(path)}: {one_line(error)}") from None
    if frame.shape[0] == 0:
        raise UserError(f"{shown(path)} has no rows.")
    frame.columns = [str(column) for column in frame.columns]
    return frame


def _column(frame, name, path):
    """The column called ``name``, or a clear error listing the columns there are."""
    if name in frame.columns:
        return name
    columns = [str(column) for column in frame.columns]
    listing = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    raise UserError(f"No column {name!r} in {shown(path)}; its columns are: {listing}.")


def listed(names):
    return ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")


def _check_features(frame, path):
    """Refuse feature columns that are not finite numbers, by name."""
    numeric = frame.select_dtypes(include=["number", "bool"])
    text = [column for column in frame.columns if column not in numeric.columns]
    if text:
        raise UserError(
            f"Column(s) {listed(text)} of {shown(path)} are not numeric: encode them as "
            f"numbers first, or leave them out of the file."
        )
    missing = [column for column in frame.columns if frame[column].isna().any()]
    if missing:
        raise UserError(
            f"Column(s) {listed(missing)} of {shown(path)} have missing values: fill or drop "
            f"them first."
        )
    infinite = [column for column in numeric.columns if np.isinf(numeric[column]).any()]
    if infinite:
        raise UserError(
            f"Column(s) {listed(infinite)} of {shown(path)} have infinite values: replace or "
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
        f"Column(s) {listed(text)} of {shown(path)} are not numeric: encode them as numbers "
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
            f"{given[0]} does not apply to svmlight file {shown(path)}: its features have no "
            f"names, and its targets are the first value of each line."
        )


def read_training_data(path, target, index_col=None, features=None, drop=None):
    """Features and targets of a data file: ``(X, y, target name)``.

    ``features`` (column names) picks the feature columns; otherwise they are all the columns
    but the target, the index and those named in ``drop``.
    """
    if data_format(check_file(path)) == "svmlight":
        _svmlight_options(
            path,
            {"--target": target, "--index-col": index_col, "--features": features, "--drop": drop},
        )
        X, y = _read_svmlight(path)
        _check_sparse_features(X, path)
        return X, y, "target"
    if target is None:
        raise UserError(f"--target COLUMN is required for {shown(path)}: which column to learn.")
    frame = read_table(path, index_col)
    y = frame[_column(frame, target, path)]
    if y.isna().any():
        raise UserError(f"The target column {target!r} of {shown(path)} has missing values.")
    X = _features(frame, target, features, drop, path)
    if X.shape[1] == 0:
        raise UserError(f"{shown(path)} has no feature columns besides the target {target!r}.")
    return _check_training_features(X, path), y, target


def _check_sparse_features(X, path):
    """Refuse infinite values in an svmlight file, by feature column."""
    coo = X.tocoo()
    infinite = np.unique(coo.col[~np.isfinite(coo.data)]).tolist()
    if infinite:
        raise UserError(
            f"Feature column(s) {listed(infinite)} (counting from 0) of {shown(path)} have "
            f"infinite values: replace or drop them first."
        )
    return X


def _read_svmlight(path, n_features=None):
    from sklearn.datasets import load_svmlight_file

    compression = Path(path).suffix.lower()
    if compression in COMPRESSION - {".gz", ".bz2"}:
        raise UserError(
            f"svmlight files can be compressed with gzip (.gz) or bzip2 (.bz2), not "
            f"{compression}: {shown(path)}."
        )
    try:
        X, y = load_svmlight_file(str(path), n_features=n_features)
    except (ValueError, OSError, EOFError) as error:
        raise UserError(f"Cannot read {shown(path)} as svmlight: {one_line(error)}") from None
    if X.shape[0] == 0:
        raise UserError(f"{shown(path)} has no rows.")
    return X, y


def read_prediction_data(path, model, index_col=None):
    """The feature matrix of a data file for ``model``, and its index (None for svmlight)."""
    estimator = final_estimator(model)
    names = getattr(model, "feature_names_in_", None)
    if data_format(check_file(path)) == "svmlight":
        if names is not None:
            raise UserError(
                f"The model was trained on a table: it takes the columns "
                f"{listed(list(names))} by name, and svmlight file {shown(path)} has no "
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
                f"{shown(path)} lacks the model's feature column(s): "
                f"{', '.join(map(repr, absent[:8]))}."
            )
        frame = frame[list(names)]
    elif frame.shape[1] != estimator.n_features_in_:
        raise UserError(
            f"{shown(path)} has {frame.shape[1]} columns; the model takes "
            f"{estimator.n_features_in_} features (it was trained without column names)."
        )
    X = _check_features(frame, path)
    # A model trained without names takes the columns in order: names would only draw
    # scikit-learn's warning that the model was fitted without them.
    return (X if names is not None else X.to_numpy()), frame.index
