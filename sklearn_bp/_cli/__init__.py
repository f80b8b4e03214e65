"""The command line: ``sklearn-bp`` and ``python -m sklearn_bp``.

``fit`` trains on a CSV, Parquet or svmlight file and saves the model (skops by default),
``predict`` writes predictions or probabilities as CSV, ``info`` describes a saved model,
``gradcheck`` checks backpropagation's gradient, ``export`` writes a model as ONNX, and ``demo``
(also a bare ``sklearn-bp``) trains on scikit-learn's digits. Mistakes of the user (a missing
file, an unknown column, a bad hyperparameter, a model that cannot be read) end with one line on
stderr and exit status 1; a wrong command line with argparse's usage message and status 2. ``-``
as the data file reads CSV from standard input.

The core commands need only sklearn-bp's dependencies; reading tables needs pandas, progress
bars rich, and ``.skops`` files skops: ``pip install skops pandas rich`` (or, from a checkout,
``pip install ".[cli]"``). A command names every package it lacks at once, before any work.

The package: ``_tables`` reads data files, ``_models`` model files, ``_commands`` runs the
commands, ``_progress`` shows a fit's progress, ``_parser`` builds the argument parser, and
``_errors`` holds what they refuse with; :func:`main` here runs one command line.
"""

import os
import sys
import warnings

from ._errors import PROGRAM, UserError, one_line
from ._parser import build_parser

__all__ = ["main"]


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"{PROGRAM}: warning: {one_line(message)}", file=sys.stderr, flush=True)


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
            print(f"{PROGRAM}: error: {one_line(error)}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROGRAM}: interrupted", file=sys.stderr)
            return 130
