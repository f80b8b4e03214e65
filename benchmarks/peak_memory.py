"""Peak memory of one fit, measured in a fresh process that loads its data from files.

The benchmark calls :func:`save` once per data set and :func:`measure` once per fit. Each
:func:`measure` runs this file as a script in a new interpreter, which unpickles the unfitted
estimator (importing its modules), loads X and y, notes its resident size (VmRSS), fits, and
reports its peak resident size (VmHWM) from ``/proc/self/status``. A fresh process matters:
VmHWM would otherwise carry the peak of whatever the benchmark did before, and ``ru_maxrss``
(not used) even carries a parent's across fork and exec. Linux only.
"""

import json
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning

MIB = 2**20


def save(folder, name, X, y):
    """Write X (dense or sparse) and y into ``folder``; return their paths."""
    folder = Path(folder)
    if sparse.issparse(X):
        X_path = folder / f"{name}_X.npz"
        sparse.save_npz(X_path, X, compressed=False)
    else:
        X_path = folder / f"{name}_X.npy"
        np.save(X_path, X)
    y_path = folder / f"{name}_y.npy"
    np.save(y_path, y)
    return {"X": str(X_path), "y": str(y_path)}


def measure(paths, estimator):
    """Fit a copy of the unfitted ``estimator`` in a fresh process; return its sizes in MiB.

    Returns a dict with ``input`` (bytes of X as loaded), ``after_load`` (VmRSS once the data
    is in memory), ``peak`` (VmHWM after the fit), ``above_input`` (peak − after_load) and the
    fit's ``n_iter``.
    """
    estimator_path = Path(paths["X"]).with_name("estimator.pickle")
    estimator_path.write_bytes(pickle.dumps(estimator))
    job = {**paths, "estimator": str(estimator_path)}
    completed = subprocess.run(
        [sys.executable, __file__, json.dumps(job)], capture_output=True, text=True
    )
    if completed.returncode != 0:
        raise RuntimeError(f"The fit in a fresh process failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def _status_mib(field):
    """A size field of ``/proc/self/status`` (reported in kB), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field} field.")


def _load(path):
    return sparse.load_npz(path) if path.endswith(".npz") else np.load(path)


def _nbytes(X):
    if sparse.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def _fit_and_report(job):
    # Unpickling imports the estimator's modules: their memory is in place before the data.
    estimator = pickle.loads(Path(job["estimator"]).read_bytes())
    X, y = _load(job["X"]), _load(job["y"])
    after_load = _status_mib("VmRSS")
    # Reset VmHWM to the current resident size, so that transients of the imports and of the
    # loading do not count as the fit's peak (Linux >= 4.0; harmless to skip where refused).
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    peak = _status_mib("VmHWM")
    return {
        "input": _nbytes(X) / MIB,
        "after_load": after_load,
        "peak": peak,
        "above_input": peak - after_load,
        "n_iter": int(estimator.n_iter_),
    }


if __name__ == "__main__":
    print(json.dumps(_fit_and_report(json.loads(sys.argv[1]))))
