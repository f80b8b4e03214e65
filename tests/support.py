"""Helpers shared by the test modules."""

import warnings
from contextlib import contextmanager

import numpy as np
from sklearn.exceptions import ConvergenceWarning


@contextmanager
def numpy_must_not_warn():
    """Turn numpy's overflow, divide-by-zero and invalid-value reports into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield
