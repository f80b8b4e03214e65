"""Reading a model file for a command: skops, or pickle and joblib when trusted.

:func:`read_model` turns every way loading can fail into a
:class:`~sklearn_bp._cli._errors.UserError`; :func:`final_estimator` finds the fitted sklearn-bp
estimator in what was loaded.
"""

import pickle
import zipfile
from pathlib import Path

from .._classifier import BackpropClassifier
from .._persistence import load_model
from .._regressor import BackpropRegressor
from ._errors import STDIN, UserError, check_file, is_stdin, one_line, shown


def model_packages(path):
    """The optional packages that reading or writing the model file ``path`` needs."""
    return ["skops"] if Path(path).suffix.lower() == ".skops" else []


def check_model_file(path):
    if is_stdin(path):
        raise UserError(f"A model is read from a file; {STDIN} (standard input) is for DATA.")
    return check_file(path)


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
    path = check_model_file(path)
    try:
        return load_model(path, trust_pickle=trust_pickle)
    except ImportError as error:
        raise UserError(one_line(error)) from None
    except ValueError as error:
        if "trust_pickle" in str(error):
            raise UserError(
                f"{shown(path)} is a pickle, which runs code when loaded: pass --trust-pickle "
                f"only if you trust where it came from, or save models as .skops."
            ) from None
        raise UserError(one_line(error)) from None  # load_model's messages name the file
    except (
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        AttributeError,
        ModuleNotFoundError,
        TypeError,
    ) as error:
        raise UserError(f"Cannot read the model {shown(path)}: {one_line(error)}") from None
