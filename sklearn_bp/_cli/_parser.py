"""The argument parser of ``sklearn-bp``: its commands, their options and the options' types.

The choices of ``--activation`` and ``--method`` are the activation and method tables'; the
defaults in the help texts are the estimators'.
"""

import argparse

import numpy as np

from .._activations import ACTIVATIONS
from .._losses import CLASSIFIER_LOSSES, REGRESSOR_LOSSES
from .._optimize import METHODS
from .._regressor import BackpropRegressor
from .._version import __version__
from ._commands import (
    DEFAULT_SEED,
    DEFAULTS,
    command_demo,
    command_export,
    command_fit,
    command_gradcheck,
    command_info,
    command_predict,
)
from ._errors import PROGRAM


def _sizes(sizes):
    return ",".join(map(str, sizes)) if len(sizes) else "''"


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


def _alpha(text):
    """``--alpha 0.5`` → 0.5; ``--alpha evidence`` → "evidence"."""
    if text.strip().lower() == "evidence":
        return "evidence"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number such as 0.5, or 'evidence'; got {text!r}"
        ) from None


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
        choices=list(ACTIVATIONS),
        help=f"hidden units (default: {DEFAULTS['activation']})",
    )
    parser.add_argument(
        "--out-activation",
        choices=list(CLASSIFIER_LOSSES),
        help=f"a classifier's output units (default: {DEFAULTS['out_activation']})",
    )
    parser.add_argument(
        "--loss",
        choices=list(REGRESSOR_LOSSES),
        help="a regressor's loss: squared_error, poisson (counts) or gamma (positive amounts) "
        f"(default: {BackpropRegressor().loss})",
    )
    parser.add_argument(
        "--alpha",
        type=_alpha,
        metavar="ALPHA",
        help=f"L2 penalty on the weights, a number, or 'evidence' to let the evidence choose "
        f"it during the fit (default: {DEFAULTS['alpha']:g})",
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
