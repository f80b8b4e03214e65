"""sklearn-bp: a neural network trained by classic backpropagation, as a scikit-learn classifier."""

from ._classifier import BackpropClassifier
from ._gradient_check import gradient_check

__all__ = ["BackpropClassifier", "__version__", "gradient_check"]

__version__ = "0.1.0"
