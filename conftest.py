"""Set-up for every test, doctest and docs page that pytest collects.

SciPy reads ``SCIPY_ARRAY_API`` once, when it is first imported, and scikit-learn's
``array_api_dispatch`` needs it: set here, before any test module imports SciPy, so that the
array-API tests (and scikit-learn's array-API estimator checks) run. A value the environment
sets already wins.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
