"""Set-up for every test, doctest and docs page that pytest collects.

SciPy reads ``SCIPY_ARRAY_API`` once, when it is first imported, and scikit-learn's
``array_api_dispatch`` needs it (with SciPy 1.14 or later): set here, before any test module
imports SciPy, so that the array-API tests and scikit-learn's array-API estimator checks run.
A value the environment sets already wins; older SciPy, which dispatch cannot use, is left
as it is.
"""

import os
from importlib.metadata import version

import numpy as np
import pytest

if tuple(int(part) for part in version("scipy").split(".")[:2]) >= (1, 14):
    os.environ.setdefault("SCIPY_ARRAY_API", "1")

# The ONNX export's module and page need skl2onnx and onnxruntime (the onnx extra): without
# them, their doctests are not collected (tests/test_onnx.py skips with the reason).
collect_ignore = []
try:
    import onnxruntime  # noqa: F401
    import skl2onnx  # noqa: F401
except ImportError:
    collect_ignore += ["sklearn_bp/onnx.py", "docs/deploying.rst"]


@pytest.fixture(autouse=True)
def _global_generator_from_a_fixed_seed():
    """Start NumPy's global generator from the same seed in every test.

    A fit with ``random_state=None`` draws from it: seeded here, such a fit does not depend on
    which tests ran before, and a run of a few test files behaves as the whole suite does.
    """
    np.random.seed(0)  # noqa: NPY002 (check_random_state(None) draws from the legacy one)
