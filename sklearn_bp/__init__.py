"""sklearn-bp: neural networks trained by classic backpropagation, as scikit-learn estimators."""

from ._classifier import BackpropClassifier
from ._gradient_check import gradient_check
from ._persistence import TRUSTED_TYPES, InconsistentVersionWarning, load_model, save_model
from ._regressor import BackpropRegressor
from ._version import __version__

__all__ = [
    "TRUSTED_TYPES",
    "BackpropClassifier",
    "BackpropRegressor",
    "InconsistentVersionWarning",
    "__version__",
    "gradient_check",
    "load_model",
    "save_model",
]
