"""The ONNX export: onnxruntime's outputs against the estimator's own predictions."""

import importlib
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor

REASON = 'the ONNX export needs skl2onnx, onnx and onnxruntime: pip install ".[onnx]"'
skl2onnx = pytest.importorskip("skl2onnx", reason=REASON)
pytest.importorskip("onnx", reason=REASON)
ort = pytest.importorskip("onnxruntime", reason=REASON)

from sklearn_bp.onnx import overflow_limit, to_onnx  # noqa: E402

# Short fits: the tests compare the graph with whatever network the fit returned.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Probabilities and predictions to this absolute difference, by the dtype the graph runs in.
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-10}


def row_tolerance(pipe, X, dtype):
    """TOLERANCE, or for rows with a large z(L) its rounding: 16 ε max_k |z_k|.

    NumPy's BLAS and onnxruntime sum the products of a layer in different orders, so two
    evaluations of z(L) in one dtype differ by a few ε |z|; with unbounded units far outside
    the training range |z| reaches 1e8, and a softmax of z differences near 1 shows it.
    """
    Z = np.abs(pipe.decision_function(X)).reshape(len(X), -1)
    return np.maximum(TOLERANCE[dtype], 16 * np.finfo(dtype).eps * Z.max(axis=1))[:, np.newaxis]


def session(onx):
    return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])


def run(onx, X):
    sess = session(onx)
    return sess.run(None, {sess.get_inputs()[0].name: X})


def split(X, y, dtype):
    """Train and test rows in dtype, and test rows far outside the training range."""
    X_train, X_test, y_train, _ = train_test_split(X.astype(dtype), y, random_state=0)
    far = np.vstack([X_test * 1e3, X_test * 1e6, X_test + 1e4]).astype(dtype)
    return X_train, y_train, {"test": X_test, "far": far}


def classification(target, n_classes=3):
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=n_classes, random_state=0
    )
    if target == "strings":
        return X, np.array(["cat", "dog", "emu", "fox"])[y]
    if target == "multilabel":
        return X, np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    return X, y


CLASSIFIER_CASES = {
    "logistic hidden, multiclass": ({"activation": "logistic"}, "integers", 3),
    "tanh hidden, multiclass": ({"activation": "tanh"}, "integers", 3),
    "relu hidden, multiclass": ({"activation": "relu"}, "integers", 3),
    "identity hidden, multiclass": ({"activation": "identity"}, "integers", 3),
    "softmax output": ({"out_activation": "softmax", "activation": "relu"}, "integers", 4),
    "binary": ({"activation": "tanh"}, "integers", 2),
    "binary, string labels": ({}, "strings", 2),
    "multiclass, string labels": ({"out_activation": "softmax"}, "strings", 3),
    "multilabel": ({"activation": "relu"}, "multilabel", 2),
    "no hidden layer": ({"hidden_layer_sizes": ()}, "integers", 3),
    "two hidden layers": ({"hidden_layer_sizes": (6, 4), "activation": "relu"}, "integers", 3),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CLASSIFIER_CASES)
def test_classifier_pipeline_matches_estimator(case, dtype):
    params, target, n_classes = CLASSIFIER_CASES[case]
    X, y = classification(target, n_classes)
    X_train, y_train, rows = split(X, y, dtype)
    params = {"hidden_layer_sizes": (5,), "alpha": 1e-3, "random_state": 0, **params}
    pipe = make_pipeline(StandardScaler(), BackpropClassifier(**params)).fit(X_train, y_train)
    onx = skl2onnx.to_onnx(pipe, X_train[:1], options={BackpropClassifier: {"zipmap": False}})
    for name, X_rows in rows.items():
        label, proba = run(onx, X_rows)
        expected = pipe.predict_proba(X_rows)
        assert proba.dtype == dtype
        assert np.isfinite(expected).all() and np.isfinite(proba).all()
        assert (np.abs(proba - expected) <= row_tolerance(pipe, X_rows, dtype)).all()
        assert_allclose(proba, expected, rtol=0, atol=TOLERANCE[dtype] if name == "test" else 1)
        assert_array_equal(label, pipe.predict(X_rows))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "params",
    [{"activation": "logistic"}, {"activation": "relu"}, {"hidden_layer_sizes": ()}],
    ids=["logistic", "relu", "no hidden layer"],
)
@pytest.mark.parametrize("n_targets", [1, 3])
def test_regressor_pipeline_matches_estimator(n_targets, params, dtype):
    X, y = make_regression(n_samples=200, n_features=5, n_targets=n_targets, random_state=0)
    y = y / y.std()
    X_train, y_train, rows = split(X, y, dtype)
    params = {"hidden_layer_sizes": (5,), "random_state": 0, **params}
    pipe = make_pipeline(StandardScaler(), BackpropRegressor(**params)).fit(X_train, y_train)
    onx = to_onnx(pipe, X_train)
    for name, X_rows in rows.items():
        (prediction,) = run(onx, X_rows)
        expected = pipe.predict(X_rows).reshape(len(X_rows), n_targets)
        assert prediction.dtype == dtype and prediction.shape == expected.shape
        # Predictions far outside grow with the inputs (identity and ReLU units): relative.
        scale = np.abs(expected).max() if name == "far" else 1.0
        assert_allclose(prediction, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


def fitted_classifier(target="integers", n_classes=3, dtype=np.float32, **params):
    X, y = classification(target, n_classes)
    params = {"hidden_layer_sizes": (5,), "random_state": 0, **params}
    return BackpropClassifier(**params).fit(X.astype(dtype), y), X.astype(dtype)


def test_zipmap_gives_one_dict_per_row():
    clf, X = fitted_classifier(target="strings")
    label, proba = run(skl2onnx.to_onnx(clf, X[:1]), X[:5])
    assert_array_equal(label, clf.predict(X[:5]))
    assert [sorted(row) for row in proba] == [["cat", "dog", "emu"]] * 5
    table = np.array([[row[label] for label in clf.classes_] for row in proba])
    assert_allclose(table, clf.predict_proba(X[:5]), rtol=0, atol=1e-5)


def test_zipmap_columns_gives_one_output_per_class():
    clf, X = fitted_classifier()
    outputs = run(skl2onnx.to_onnx(clf, X[:1], options={"zipmap": "columns"}), X[:5])
    assert_array_equal(outputs[0], clf.predict(X[:5]))
    assert_allclose(np.column_stack(outputs[1:]), clf.predict_proba(X[:5]), rtol=0, atol=1e-5)


def test_nocl_gives_class_indices():
    clf, X = fitted_classifier(target="strings")
    onx = skl2onnx.to_onnx(clf, X[:1], options={"zipmap": False, "nocl": True})
    label, _ = run(onx, X)
    assert_array_equal(label, np.searchsorted(clf.classes_, clf.predict(X)))


def test_integral_float_classes_become_integer_labels():
    X, y = classification("integers")
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y + 1.0)
    label, _ = run(to_onnx(clf, X), X)
    assert label.dtype == np.int64
    assert_array_equal(label, clf.predict(X))


def test_float64_with_zipmap_is_refused_with_the_way_out():
    clf, X = fitted_classifier(dtype=np.float64)
    with pytest.raises(ValueError, match="ZipMap takes float32 probabilities only"):
        skl2onnx.to_onnx(clf, X[:1])


def test_multilabel_labels_are_an_indicator_matrix():
    clf, X = fitted_classifier(target="multilabel", activation="relu")
    label, _ = run(to_onnx(clf, X), X)
    assert label.shape == (len(X), 3) and label.dtype == np.int64
    assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalized_sigmoids_stay_finite_where_every_sigmoid_underflows(dtype):
    # z(L) below −104 (float32) or −745 (float64) for every class: each σ(z) is 0, but the
    # normalized sigmoids are the softmax of z, which the estimator returns and the graph must.
    clf, X = fitted_classifier(dtype=dtype)
    clf.intercepts_[-1] = clf.intercepts_[-1] - (150 if dtype == np.float32 else 1000)
    assert (clf.decision_function(X).max(axis=1) < np.log(np.finfo(dtype).smallest_subnormal)).all()
    label, proba = run(to_onnx(clf, X), X)
    expected = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert (np.abs(proba - expected) <= row_tolerance(clf, X, dtype)).all()
    assert_array_equal(label, clf.predict(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "identity", "tanh"])
def test_graph_matches_up_to_the_overflow_limit(activation, dtype):
    clf, X = fitted_classifier(
        dtype=dtype, activation=activation, out_activation="softmax", n_classes=4
    )
    limit = overflow_limit(clf, dtype)
    assert np.isfinite(limit)
    rows = X / np.abs(X).max(axis=1, keepdims=True) * (limit * 0.99)
    rows = rows.astype(dtype)
    label, proba = run(to_onnx(clf, rows), rows)
    assert np.isfinite(proba).all()
    assert_allclose(proba, clf.predict_proba(rows), rtol=0, atol=TOLERANCE[dtype])
    assert_array_equal(label, clf.predict(rows))


def test_beyond_the_overflow_limit_the_graph_may_give_nan():
    # What the docs say is not exported: the estimator's scaled pass for rows whose forward
    # pass overflows. Softmax of a row holding +inf twice is NaN in onnxruntime.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]] * 5, dtype=np.float32)
    y = np.arange(len(X)) % 4
    clf = BackpropClassifier(hidden_layer_sizes=(), out_activation="softmax", random_state=0).fit(
        X, y
    )
    clf.coefs_[0] = np.array([[10.0, 10.0, -10.0, -10.0], [0.0, 0.0, 0.0, 0.0]])
    clf.intercepts_[0] = np.array([0.0, -1.0, 0.0, 0.0])
    row = np.array([[3e38, 0.0]], dtype=np.float32)
    assert overflow_limit(clf, np.float32) < 3e38
    _, proba = run(to_onnx(clf, row), row)
    expected = clf.predict_proba(row)
    assert np.isfinite(expected).all() and expected.sum() == pytest.approx(1)
    assert np.isnan(proba).any()


def test_overflow_limit_is_the_bound_of_the_forward_pass():
    clf, _ = fitted_classifier(activation="relu", hidden_layer_sizes=(4, 3))
    largest = float(np.finfo(np.float32).max)
    gain, offset, limit = 1.0, 0.0, np.inf
    for W, b in zip(clf.coefs_, clf.intercepts_):
        gain *= np.abs(W).sum(axis=0).max()
        offset = offset * np.abs(W).sum(axis=0).max() + np.abs(b).max()
        limit = min(limit, (largest - offset) / gain)
    assert overflow_limit(clf, np.float32) == pytest.approx(limit, rel=1e-12)
    bounded, _ = fitted_classifier(activation="tanh")
    W, b = bounded.coefs_[0], bounded.intercepts_[0]
    expected = (largest - np.abs(b).max()) / np.abs(W).sum(axis=0).max()
    assert overflow_limit(bounded, np.float32) == pytest.approx(expected, rel=1e-12)


def test_to_onnx_names_the_input_x_and_returns_arrays():
    clf, X = fitted_classifier()
    sess = session(to_onnx(clf, X[:1]))
    assert [i.name for i in sess.get_inputs()] == ["X"]
    assert sess.get_inputs()[0].shape[1] == X.shape[1]
    _, proba = sess.run(None, {"X": X})
    assert isinstance(proba, np.ndarray) and proba.shape == (len(X), 3)


def test_unfitted_device_arrays_are_refused():
    clf, X = fitted_classifier()
    clf.coefs_ = [list(W) for W in clf.coefs_]
    with pytest.raises(ValueError, match="fit it on NumPy arrays to export it"):
        to_onnx(clf, X)


def test_import_without_skl2onnx_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    monkeypatch.delitem(sys.modules, "sklearn_bp.onnx")
    with pytest.raises(ImportError, match=r"needs skl2onnx, which is not installed: pip install"):
        importlib.import_module("sklearn_bp.onnx")


def test_importing_sklearn_bp_does_not_import_skl2onnx():
    code = "import sys, sklearn_bp, sklearn_bp._cli; print('skl2onnx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_log_link_regressor_exports_the_inverse_link(loss, dtype):
    # The graph ends in exp(z(L)), z(L) capped as predict caps it: the predictions, positive.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 4))
    mean = np.exp(X @ [0.3, -0.2, 0.1, 0.0] + 0.5)
    y = rng.poisson(mean) + 0.0 if loss == "poisson" else rng.gamma(2.0, mean / 2.0)
    X_train, y_train, rows = split(X, y, dtype)
    regressor = BackpropRegressor((5,), loss=loss, random_state=0).fit(X_train, y_train)
    onx = to_onnx(regressor, X_train)
    for X_rows in rows.values():
        (prediction,) = run(onx, X_rows)
        expected = regressor.predict(X_rows).reshape(-1, 1)
        assert prediction.dtype == dtype and prediction.shape == expected.shape
        assert np.isfinite(prediction).all() and (prediction > 0).all()
        assert_allclose(prediction, expected, rtol=10 * TOLERANCE[dtype], atol=0)
