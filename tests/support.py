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


def tampered_skops(data, module, name):
    """The bytes of a skops file whose top-level object claims to be ``module.name``."""
    import io
    import json
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.namelist():
            content = source.read(item)
            if item == "schema.json":
                schema = json.loads(content)
                schema["__module__"], schema["__class__"] = module, name
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()
