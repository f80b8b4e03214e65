"""Fits and predictions on arrays of other array-API namespaces: array-api-strict always,
PyTorch (CPU, and CUDA where present) when installed.

Every number is compared with the NumPy path: the data term's sums with NumPy's
``DataTerm`` on the same rows and θ, fits with NumPy fits of the same data, predictions with
those of the same parameters on the host.
"""

import copy
import os
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor, gradient_check
from sklearn_bp._losses import LOSSES
from sklearn_bp._network import Network
from sklearn_bp._objective import DataTerm

from .support import array_api_unavailable, numpy_must_not_warn

pytestmark = pytest.mark.skipif(
    array_api_unavailable() is not None, reason=str(array_api_unavailable())
)


def _namespaces():
    """(name, device, dtype) of every namespace to test; PyTorch's skipped when absent."""
    torch_missing = pytest.mark.skip(reason="PyTorch is not installed (pip install torch)")
    try:
        import torch
    except ImportError:
        torch = None
    cases = [
        pytest.param(("array_api_strict", "CPU_DEVICE", "float64"), id="strict-float64"),
        # A second device: nothing may fall back to the default device.
        pytest.param(("array_api_strict", "device1", "float32"), id="strict-device1-float32"),
    ]
    for dtype in ("float64", "float32"):
        marks = [torch_missing] if torch is None else []
        cases.append(pytest.param(("torch", "cpu", dtype), id=f"torch-cpu-{dtype}", marks=marks))
        if torch is not None and torch.cuda.is_available():  # pragma: no cover - no GPU here
            cases.append(pytest.param(("torch", "cuda", dtype), id=f"torch-cuda-{dtype}"))
    return cases


NAMESPACES = _namespaces()


class Space:
    """One namespace, device and dtype: moves NumPy arrays there and back."""

    def __init__(self, name, device, dtype):
        if name == "array_api_strict":
            import array_api_strict as xp

            self.device = xp.Device(device)
        else:
            import torch as xp

            self.device = xp.device(device)
        self.xp, self.name, self.dtype = xp, name, np.dtype(dtype)

    def put(self, array, dtype=None):
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype(dtype or self.dtype)
        return self.xp.asarray(array, device=self.device)

    def holds(self, array):
        """Whether ``array`` is of this namespace and on this device."""
        return type(array).__module__.split(".")[0] == self.name and array.device == self.device

    def get(self, array):
        if self.name == "torch":
            return array.cpu().numpy()
        return np.asarray(self.xp.asarray(array, device=self.xp.Device("CPU_DEVICE")))

    def rtol(self, float64, float32):
        return float64 if self.dtype == np.float64 else float32


@pytest.fixture(params=NAMESPACES)
def space(request):
    return Space(*request.param)


@pytest.fixture(autouse=True)
def dispatch():
    with config_context(array_api_dispatch=True):
        yield


def _scaled(X):
    return StandardScaler().fit_transform(X)


IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X = _scaled(IRIS_X)
DIABETES_X, DIABETES_Y = load_diabetes(return_X_y=True)
DIABETES_X, DIABETES_Y = _scaled(DIABETES_X), (DIABETES_Y - DIABETES_Y.mean()) / DIABETES_Y.std()


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def on_host(estimator, space):
    """A copy of a device-fitted estimator whose parameters are NumPy arrays on the host."""
    host = copy.copy(estimator)
    host.coefs_ = [space.get(W) for W in estimator.coefs_]
    host.intercepts_ = [space.get(b) for b in estimator.intercepts_]
    return host


# The data term ---------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
@pytest.mark.parametrize("loss_name", ["logistic", "softmax", "identity", "poisson", "gamma"])
def test_data_term_sums_equal_numpy_data_term(space, activation, loss_name):
    rng = np.random.RandomState(0)
    network = Network((5, 7, 6, 3), activation)
    X = rng.normal(size=(50, 5)).astype(space.dtype)
    if loss_name == "softmax":
        Y = np.eye(3)[rng.randint(3, size=50)]
    elif loss_name == "logistic":
        Y = (rng.uniform(size=(50, 3)) > 0.5).astype(float)
    elif loss_name == "poisson":
        Y = rng.poisson(2.0, size=(50, 3)).astype(float)
    elif loss_name == "gamma":
        Y = rng.gamma(2.0, size=(50, 3))
    else:
        Y = rng.normal(size=(50, 3))
    Y, weight = Y.astype(space.dtype), rng.uniform(size=50).astype(space.dtype)
    theta, v = rng.normal(size=network.n_params), rng.normal(size=network.n_params)
    # Blocks of 16 rows: four blocks, the last of 2 rows.
    numpy_term = DataTerm(network, LOSSES[loss_name], X, Y, weight, 16)
    term = DataTerm(network, LOSSES[loss_name], space.put(X), Y, weight, 16)
    rtol = space.rtol(1e-12, 2e-5)

    expected, gradient = np.empty(network.n_params), np.empty(network.n_params)
    loss = term.loss_gradient_sum(theta, gradient)
    assert_allclose(loss, numpy_term.loss_gradient_sum(theta, expected), rtol=rtol)
    assert_allclose(gradient, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    assert_allclose(term.loss_sum(theta), numpy_term.loss_sum(theta), rtol=rtol)
    for product in ("hessian_vector_product_sum", "gauss_newton_vector_product_sum"):
        out = np.empty(network.n_params)
        getattr(term, product)(theta, v, out)
        getattr(numpy_term, product)(theta, v, expected)
        assert_allclose(out, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    Z = term.output(theta)
    assert isinstance(Z, np.ndarray) and Z.dtype == space.dtype
    assert_allclose(Z, numpy_term.output(theta), rtol=rtol, atol=rtol)
    assert term.total_weight == numpy_term.total_weight
    assert term.saturated_fraction(theta * 20) == numpy_term.saturated_fraction(theta * 20)


# Fits --------------------------------------------------------------------------------------


FIT_CASES = [
    pytest.param(BackpropClassifier, IRIS_X, IRIS_Y, id="classifier"),
    pytest.param(BackpropRegressor, DIABETES_X, DIABETES_Y, id="regressor"),
]


@pytest.mark.parametrize("Estimator, X, y", FIT_CASES)
@pytest.mark.parametrize("method", ["L-BFGS-B", "L-BFGS", "Newton-CG"])
def test_fit_gives_the_loss_of_the_numpy_fit(space, Estimator, X, y, method):
    # A whole fit is equal only where it ends at a well-conditioned minimum: alpha=1.0 makes
    # the minimum so, and tol=0 runs each method until it can reduce J no further. With the
    # defaults, the two paths part by rounding and stop at different points (docs/gpu.rst).
    params = dict(hidden_layer_sizes=(5,), method=method, hessian="exact", alpha=1.0, tol=0)
    params.update(max_iter=3000, random_state=0)
    X = X.astype(space.dtype)
    with config_context(array_api_dispatch=False):
        expected = fit_quietly(Estimator(**params), X, y)
    estimator = fit_quietly(Estimator(**params), space.put(X), space.put(y, np.float64))
    assert_allclose(estimator.loss_, expected.loss_, rtol=space.rtol(1e-10, 1e-4))
    assert estimator.n_hessp_evals_ > 0 if method == "Newton-CG" else True
    for W, b, W_np in zip(estimator.coefs_, estimator.intercepts_, expected.coefs_):
        assert space.holds(W) and space.holds(b)
        assert space.get(W).dtype == space.dtype and space.get(W).shape == W_np.shape


def test_fit_with_gauss_newton_products_and_early_stopping(space):
    params = dict(hidden_layer_sizes=(4,), method="trust-ncg", hessian="gauss-newton")
    params.update(early_stopping=True, max_iter=15, random_state=0, tol=0)
    X = IRIS_X.astype(space.dtype)
    with config_context(array_api_dispatch=False):
        expected = fit_quietly(BackpropClassifier(**params), X, IRIS_Y)
    estimator = fit_quietly(BackpropClassifier(**params), space.put(X), space.put(IRIS_Y))
    assert_allclose(estimator.validation_scores_, expected.validation_scores_)
    rtol = space.rtol(1e-8, 1e-3)
    assert_allclose(estimator.validation_loss_curve_, expected.validation_loss_curve_, rtol=rtol)
    assert_allclose(estimator.loss_curve_, expected.loss_curve_, rtol=rtol)


def test_weights_of_any_namespace_and_class_weights(space):
    rng = np.random.RandomState(1)
    weight = rng.randint(0, 4, size=len(IRIS_Y)).astype(float)
    params = dict(hidden_layer_sizes=(3,), class_weight="balanced", max_iter=15, random_state=0)
    X = IRIS_X.astype(space.dtype)
    with config_context(array_api_dispatch=False):
        expected = fit_quietly(BackpropClassifier(**params), X, IRIS_Y, sample_weight=weight)
    # Labels and weights from NumPy, and from X's own namespace.
    for labels, weights in [(IRIS_Y, weight), (space.put(IRIS_Y), space.put(weight))]:
        estimator = fit_quietly(
            BackpropClassifier(**params), space.put(X), labels, sample_weight=weights
        )
        assert_allclose(estimator.loss_curve_, expected.loss_curve_, rtol=space.rtol(1e-9, 1e-4))


def test_warm_start_continues_the_fit_on_the_device(space):
    params = dict(hidden_layer_sizes=(3,), warm_start=True, max_iter=10, random_state=0)
    X, y = space.put(DIABETES_X), space.put(DIABETES_Y, np.float64)
    estimator = fit_quietly(BackpropRegressor(**params), X, y)
    first = [space.get(W).copy() for W in estimator.coefs_]
    fit_quietly(estimator, X, y)
    assert len(estimator.loss_curve_) == 20
    with config_context(array_api_dispatch=False):
        host = BackpropRegressor(**params)
        fit_quietly(host, DIABETES_X.astype(space.dtype), DIABETES_Y)
        assert_allclose(host.coefs_[0], first[0], rtol=space.rtol(1e-9, 1e-5), atol=1e-6)
        fit_quietly(host, DIABETES_X.astype(space.dtype), DIABETES_Y)
    assert_allclose(estimator.loss_curve_, host.loss_curve_, rtol=space.rtol(1e-9, 1e-4))
    theta = estimator.thetas_[0]
    assert isinstance(theta, np.ndarray)
    assert_allclose(theta[:, 1:], space.get(estimator.coefs_[0]).T)


def test_gradient_check_and_saturation_warning_on_the_device(space):
    X, y = IRIS_X[::5], IRIS_Y[::5]
    estimator = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0)
    assert gradient_check(estimator, space.put(X), space.put(y)) < 1e-7
    with pytest.warns(UserWarning, match="start saturated"):
        fit_quietly(BackpropClassifier(max_iter=2, random_state=0), space.put(1e4 * X), y)


# Predictions -------------------------------------------------------------------------------


PREDICTIONS = ["predict", "predict_proba", "predict_log_proba", "decision_function"]
CLASSIFICATION = {
    "binary": (IRIS_X[:100], IRIS_Y[:100], "logistic"),
    "multiclass": (IRIS_X, IRIS_Y, "logistic"),
    "softmax": (IRIS_X, IRIS_Y, "softmax"),
    "multilabel": (IRIS_X, np.eye(3, dtype=int)[IRIS_Y] | (IRIS_X[:, :1] > 0), "logistic"),
}


@pytest.mark.parametrize("target", list(CLASSIFICATION))
def test_classifier_predicts_in_the_namespace_of_x(space, target):
    X, y, out_activation = CLASSIFICATION[target]
    X = X.astype(space.dtype)
    params = dict(hidden_layer_sizes=(4,), out_activation=out_activation, max_iter=30)
    estimator = fit_quietly(BackpropClassifier(**params, random_state=0), space.put(X), y)
    host = on_host(estimator, space)
    X_device = space.put(X)
    rtol = space.rtol(1e-10, 1e-5)
    for method in ("decision_function", "predict_proba", "predict_log_proba", "predict"):
        result = getattr(estimator, method)(X_device)
        assert space.holds(result), method
        with config_context(array_api_dispatch=False):
            expected = getattr(host, method)(X)
        assert space.get(result).shape == expected.shape
        assert space.get(result).dtype == expected.dtype
        if method == "predict":
            assert_array_equal(space.get(result), expected)
        else:
            assert_allclose(space.get(result), expected, rtol=rtol, atol=rtol)
    score = estimator.score(X_device, space.put(y))
    assert isinstance(score, float)
    with config_context(array_api_dispatch=False):
        assert score == pytest.approx(host.score(X, y), abs=1e-6)


@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_predicts_in_the_namespace_of_x(space, n_outputs):
    X = DIABETES_X.astype(space.dtype)
    y = DIABETES_Y if n_outputs == 1 else np.column_stack([DIABETES_Y, -DIABETES_Y])
    estimator = fit_quietly(BackpropRegressor((4,), max_iter=30), space.put(X), y)
    prediction = estimator.predict(space.put(X))
    assert space.holds(prediction)
    with config_context(array_api_dispatch=False):
        expected = on_host(estimator, space).predict(X)
    assert space.get(prediction).shape == expected.shape
    assert_allclose(space.get(prediction), expected, rtol=space.rtol(1e-10, 1e-5), atol=1e-6)
    score = estimator.score(space.put(X), space.put(y, np.float64))
    assert isinstance(score, float) and score > 0.3


def test_string_labels_come_back_as_numpy(space):
    labels = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    estimator = fit_quietly(BackpropClassifier((3,), max_iter=20), space.put(IRIS_X), labels)
    assert_array_equal(estimator.classes_, np.unique(labels))
    predicted = estimator.predict(space.put(IRIS_X))
    assert isinstance(predicted, np.ndarray) and set(predicted) <= set(labels)
    assert space.holds(estimator.predict_proba(space.put(IRIS_X)))


def test_inputs_beyond_the_float_range_are_predicted_exactly(space):
    estimator = fit_quietly(
        BackpropRegressor((3,), activation="relu", max_iter=20), space.put(DIABETES_X), DIABETES_Y
    )
    largest = np.finfo(space.dtype).max
    X = DIABETES_X[:4].astype(space.dtype)
    X[1] = largest / 2 * np.sign(X[1])  # a row whose products overflow X's dtype
    with numpy_must_not_warn():
        prediction = space.get(estimator.predict(space.put(X)))
        with config_context(array_api_dispatch=False):
            expected = on_host(estimator, space).predict(X)
    assert_allclose(prediction, expected, rtol=space.rtol(1e-10, 1e-5))
    assert np.isfinite(prediction).all()
    classifier = fit_quietly(BackpropClassifier((3,), max_iter=20), space.put(IRIS_X), IRIS_Y)
    X = IRIS_X[:3].astype(space.dtype)
    X[0] = largest / 3
    with numpy_must_not_warn():
        proba = space.get(classifier.predict_proba(space.put(X)))
        with config_context(array_api_dispatch=False):
            expected = on_host(classifier, space).predict_proba(X)
    assert_allclose(proba, expected, rtol=space.rtol(1e-10, 1e-5), atol=1e-7)


def test_prediction_refuses_another_namespace_or_device():
    import array_api_strict as xp

    X = xp.asarray(IRIS_X, device=xp.Device("device1"))
    estimator = fit_quietly(BackpropClassifier((3,), max_iter=5), X, IRIS_Y)
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        with pytest.raises(
            ValueError, match=rf"BackpropClassifier\.{method}\(\) must use the same namespace"
        ):
            getattr(estimator, method)(IRIS_X)
        with pytest.raises(ValueError, match=r"X is a array_api_strict array on device"):
            getattr(estimator, method)(xp.asarray(IRIS_X))
    with config_context(array_api_dispatch=False):
        with pytest.raises(
            ValueError, match="fitted on array_api_strict arrays under array_api_dispatch"
        ):
            estimator.predict(IRIS_X)
    regressor = fit_quietly(BackpropRegressor((3,), max_iter=5), DIABETES_X, DIABETES_Y)
    with pytest.raises(
        ValueError, match=r"BackpropRegressor\.predict\(\) must use the same namespace"
    ):
        regressor.predict(xp.asarray(DIABETES_X))
    # NumPy arrays and array-likes go on taking the NumPy path under dispatch.
    assert isinstance(regressor.predict(DIABETES_X.tolist()), np.ndarray)


COMPLEX_CASES = [
    pytest.param(BackpropClassifier, IRIS_X, IRIS_Y, PREDICTIONS, id="classifier"),
    pytest.param(BackpropRegressor, DIABETES_X, DIABETES_Y, ["predict"], id="regressor"),
]


@pytest.mark.parametrize("Estimator, X, y, methods", COMPLEX_CASES)
def test_complex_data_is_refused_as_numpy_refuses_it(space, Estimator, X, y, methods):
    # PyTorch's dtypes have no NumPy ``kind``, by which scikit-learn knows complex data: the
    # cast to a real dtype used to drop the imaginary part, and fit the real part.
    complex_dtype = np.complex128 if space.dtype == np.float64 else np.complex64
    X, y = X[::4].astype(space.dtype), y[::4]
    weight = np.ones(len(y))

    def put_complex(array):
        return space.xp.asarray((array + 1j * array).astype(complex_dtype), device=space.device)

    estimator = Estimator(hidden_layer_sizes=(3,), max_iter=5)
    bad_fits = [
        (put_complex(X), y, None),
        (space.put(X), put_complex(y.astype(float)), None),
        (space.put(X), y, put_complex(weight)),
    ]
    for bad_X, bad_y, bad_weight in bad_fits:
        with pytest.raises(ValueError, match=r"^Complex data not supported\n"):
            estimator.fit(bad_X, bad_y, sample_weight=bad_weight)
        assert not hasattr(estimator, "coefs_")
    with pytest.raises(ValueError, match=r"^Complex data not supported\n"):
        gradient_check(estimator, put_complex(X), y)
    fit_quietly(estimator, space.put(X), y)
    for method in methods:
        with pytest.raises(ValueError, match=r"^Complex data not supported\n"):
            getattr(estimator, method)(put_complex(X))


def test_a_device_fit_saves_to_pickle_and_not_to_skops(space, tmp_path):
    from sklearn.pipeline import make_pipeline

    from sklearn_bp import load_model, save_model

    estimator = fit_quietly(BackpropClassifier((3,), max_iter=5), space.put(IRIS_X), IRIS_Y)
    for model in (estimator, make_pipeline(estimator)):
        with pytest.raises(TypeError, match=rf"holds \['{space.name}\.\w+'\].*move_estimator_to"):
            save_model(model, tmp_path / "model.skops")
    assert not (tmp_path / "model.skops").exists()
    loaded = load_model(save_model(estimator, tmp_path / "model.pkl"), trust_pickle=True)
    assert space.holds(loaded.coefs_[0])
    assert_array_equal(
        space.get(loaded.predict_proba(space.put(IRIS_X))),
        space.get(estimator.predict_proba(space.put(IRIS_X))),
    )


def test_numpy_blas_stays_on_one_thread_during_a_device_fit(space):
    # NumPy's BLAS threads would fight a CPU device's own pool for the cores: the host only
    # does the optimizer's vector work.
    from threadpoolctl import threadpool_info

    def numpy_blas_threads(*_):
        counts.extend(
            info["num_threads"]
            for info in threadpool_info()
            if info["user_api"] == "blas" and "numpy" in info["filepath"]
        )

    counts = []
    X, y = make_classification(n_samples=3000, n_features=300, random_state=0)
    fit_quietly(BackpropClassifier((64,), max_iter=3, callback=numpy_blas_threads), space.put(X), y)
    assert counts and set(counts) == {1}


def test_blocks_in_host_memory_are_of_host_block_size_within_working_memory(space):
    from sklearn_bp._array_api import HOST_BLOCK_BYTES, device_block_rows

    network = Network((5, 256, 256, 10))
    X = space.put(np.zeros((50_000, 5)))
    bytes_per_row = 3 * space.dtype.itemsize * (256 + 256 + 10)  # activations, deltas, scratch
    in_host_memory = space.device.type == "cpu" if space.name == "torch" else True
    by_working_memory = 2**30 // bytes_per_row  # scikit-learn's default: 1024 MiB
    expected = HOST_BLOCK_BYTES // bytes_per_row if in_host_memory else by_working_memory
    assert device_block_rows(network, X, space.dtype) == expected
    with config_context(working_memory=4):
        assert device_block_rows(network, X, space.dtype) == 4 * 2**20 // bytes_per_row


def test_numpy_x_with_labels_and_weights_of_another_namespace(space):
    # NumPy X takes the NumPy path under dispatch; its labels and weights may come from
    # anywhere.
    weight = np.random.RandomState(0).uniform(0.5, 2, size=len(IRIS_Y))
    params = dict(hidden_layer_sizes=(3,), early_stopping=True, max_iter=10, random_state=0)
    estimator = fit_quietly(
        BackpropClassifier(**params), IRIS_X, space.put(IRIS_Y), sample_weight=space.put(weight)
    )
    with config_context(array_api_dispatch=False):
        expected = fit_quietly(BackpropClassifier(**params), IRIS_X, IRIS_Y, sample_weight=weight)
    assert isinstance(estimator.coefs_[0], np.ndarray)
    assert_allclose(estimator.loss_curve_, expected.loss_curve_, rtol=space.rtol(1e-12, 1e-5))


def test_a_device_fit_loads_into_a_process_without_dispatch(space, tmp_path):
    # A pickle of a model fitted on a device, loaded where SciPy has no array API support:
    # thetas_, a warm start on NumPy arrays and the command line's info still work.
    import subprocess
    import sys

    from sklearn_bp import save_model

    params = dict(hidden_layer_sizes=(3,), max_iter=5, warm_start=True)
    estimator = fit_quietly(BackpropClassifier(**params), space.put(IRIS_X), IRIS_Y)
    save_model(estimator, tmp_path / "device.pkl")
    expected = [theta.tolist() for theta in estimator.thetas_]
    script = f"""
import warnings, numpy as np
from sklearn_bp import load_model
model = load_model("device.pkl", trust_pickle=True)
assert [theta.tolist() for theta in model.thetas_] == {expected!r}
warnings.simplefilter("ignore")
model.fit(np.asarray({IRIS_X.tolist()!r}), np.asarray({IRIS_Y.tolist()!r}))
assert isinstance(model.coefs_[0], np.ndarray) and len(model.loss_curve_) == 10
"""
    env = {**os.environ, "SCIPY_ARRAY_API": "0"}
    info = [sys.executable, "-m", "sklearn_bp", "info", "device.pkl", "--trust-pickle"]
    for command in ([sys.executable, "-c", script], info):
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert "parameters" in done.stdout and str(3 * 5 + 4 * 3) in done.stdout


def test_float32_sums_keep_their_digits_over_large_blocks(space):
    # A device's blocks may hold all rows: the sum over them is a reduction, and blocks are
    # added in float64, as the NumPy path adds them.
    if space.dtype != np.float32:
        pytest.skip("a float32 test")
    rng = np.random.default_rng(0)
    network = Network((8, 4, 1), "tanh")
    X = rng.normal(size=(100_000, 8)) + 3.0
    Y = (rng.random((100_000, 1)) < 0.5).astype(float)
    weight = np.ones(100_000)
    theta = network.initial_theta(np.random.RandomState(0))
    exact = DataTerm(network, LOSSES["logistic"], X, Y, weight, 4096).loss_sum(theta)
    for block_rows in (1024, 100_000):
        term = DataTerm(
            network, LOSSES["logistic"], space.put(X), Y.astype(np.float32),
            weight.astype(np.float32), block_rows,
        )  # fmt: skip
        gradient = np.empty(network.n_params)
        assert abs(term.loss_gradient_sum(theta, gradient) - exact) < 1e-6 * exact
