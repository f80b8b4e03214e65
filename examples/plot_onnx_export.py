"""
=============================================
Exporting a pipeline to ONNX for onnxruntime
=============================================

A pipeline of a scaler and a :class:`~sklearn_bp.BackpropClassifier` is exported to ONNX with
:func:`sklearn_bp.onnx.to_onnx` and run by onnxruntime, which serves it without Python. We
check that onnxruntime predicts what the estimator predicts, and compare their speed on one row
(a request to a service) and on 10000 rows (a batch).
"""

# %%
# Fit and export
# --------------
# The digits, as float32: the graph computes in the dtype of the rows it is given.
import time

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier
from sklearn_bp.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
clf = BackpropClassifier(hidden_layer_sizes=(50,), alpha=1.0, max_iter=300, random_state=0)
model = make_pipeline(StandardScaler(), clf).fit(X_train, y_train)

onx = to_onnx(model, X_train[:1])
session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
print("input:", [(i.name, i.type, i.shape) for i in session.get_inputs()])
print("outputs:", [o.name for o in session.get_outputs()])

# %%
# The same predictions
# --------------------
# Labels identical, probabilities equal to float32's rounding.
label, proba = session.run(None, {"X": X_test})
print("labels identical:", bool((label == model.predict(X_test)).all()))
difference = np.abs(proba - model.predict_proba(X_test)).max()
print(f"largest difference of the probabilities: {difference:.1e}")

# %%
# Speed on one row and on 10000 rows
# ----------------------------------
# The median of repeated calls. On one row the estimator pays for scikit-learn's input
# validation and the pipeline's Python; onnxruntime's call is a few microseconds of C++.
rng = np.random.default_rng(0)
batch = X_test[rng.integers(len(X_test), size=10000)]


def median_seconds(function, rows, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(rows)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_onnx(rows):
    return session.run(None, {"X": rows})


timings = {}
for name, rows, repeat in [("1 row", X_test[:1], 200), ("10000 rows", batch, 20)]:
    timings[name] = (
        median_seconds(model.predict_proba, rows, repeat),
        median_seconds(run_onnx, rows, repeat),
    )
    estimator, runtime = timings[name]
    print(
        f"{name:>10}: predict_proba {estimator * 1e3:8.3f} ms, onnxruntime "
        f"{runtime * 1e3:8.3f} ms ({estimator / runtime:.1f}x)"
    )

fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, (name, (estimator, runtime)) in zip(axes, timings.items()):
    ax.bar(["predict_proba", "onnxruntime"], [estimator * 1e3, runtime * 1e3], color=["C0", "C1"])
    ax.set_title(name)
    ax.set_ylabel("milliseconds")
fig.tight_layout()
plt.show()
