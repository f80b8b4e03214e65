"""Set-up for every test, doctest and docs page that pytest collects.

SciPy reads ``SCIPY_ARRAY_API`` once, when it is first imported, and scikit-learn's
``array_api_dispatch`` needs it (with SciPy 1.14 or later): set here, before any test module
imports SciPy, so that the array-API tests and scikit-learn's array-API estimator checks run.
A value the environment sets already wins; older SciPy, which dispatch cannot use, is left
as it is.
"""

import os
from importlib.metadata import version

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
