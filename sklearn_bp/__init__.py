"""sklearn-bp: neural networks trained by classic backpropagation, as scikit-learn estimators."""

from ._classifier import BackpropClassifier
from ._gradient_check import gradient_check
from ._regressor import BackpropRegressor

__all__ = ["BackpropClassifier", "BackpropRegressor", "__version__", "gradient_check"]

__version__ = "0.1.0"
