"""Reliability: extreme numbers, interrupts, determinism, threads, and no code run from data."""

import ast
import copy
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FunctionType

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import config_context
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_bp import BackpropClassifier, gradient_check
from sklearn_bp._gradient_check import check_objective
from sklearn_bp._network import Network, Workspace
from sklearn_bp._placement import block_rows

from .support import numpy_must_not_warn

PACKAGE = Path(__file__).parent.parent / "sklearn_bp"
RNG = np.random.RandomState(0)
X_UNIT = RNG.normal(size=(30, 3))
TARGETS = {
    "binary": ("logistic", np.arange(30) % 2),
    "multiclass": ("logistic", np.arange(30) % 3),
    "multiclass, softmax": ("softmax", np.arange(30) % 3),
}


def assert_valid_predictions(clf, X):
    proba = clf.predict_proba(X)
    log_proba = clf.predict_log_proba(X)
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert not np.isnan(log_proba).any() and (log_proba <= 0).all()
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


# Scales at which J may overflow during the fit: there a clear ValueError is an acceptable end.
EXTREME = [
    pytest.param(1e6, np.float64, False, id="float64 ±1e6"),
    pytest.param(1e300, np.float64, True, id="float64 ±1e300"),
    pytest.param(1e30, np.float32, True, id="float32 ±1e30"),
]


# Every activation, bounded or not: unbounded ones let the numbers grow with X, and the fit
# must then end in the clear ValueError, never in a numpy warning.
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
@pytest.mark.parametrize("scale, dtype, may_overflow", EXTREME)
def test_no_runtime_warning_on_extreme_inputs(scale, dtype, may_overflow, activation):
    unit_model = {}
    for target, (out_activation, y) in TARGETS.items():
        params = dict(
            hidden_layer_sizes=(4,),
            activation=activation,
            out_activation=out_activation,
            max_iter=50,
            random_state=0,
        )
        with numpy_must_not_warn():
            unit_model[target] = BackpropClassifier(**params).fit(X_UNIT.astype(dtype), y)
        for sign in (1, -1):
            X = (sign * scale * X_UNIT).astype(dtype)
            for container in (np.asarray, sparse.csr_matrix):
                X_in = container(np.where(np.abs(X_UNIT) > 0.5, X, 0).astype(dtype))
                clf = BackpropClassifier(**params)
                with numpy_must_not_warn():
                    try:
                        clf.fit(X_in, y)
                    except ValueError as error:
                        assert may_overflow, f"{target}, {sign:+}, {container.__name__}: {error}"
                        assert "became non-finite" in str(error)
                        assert not hasattr(clf, "coefs_")
                    else:
                        assert all(np.isfinite(W).all() for W in clf.coefs_ + clf.intercepts_)
                        assert_valid_predictions(clf, X_in)
                    # A model fitted on unit-scale data predicts on extreme data.
                    assert_valid_predictions(unit_model[target], X_in)


def test_no_runtime_warning_predicting_near_the_float32_limit():
    clf = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
    clf.fit(X_UNIT.astype(np.float32), np.arange(30) % 2)
    X = (1e38 * X_UNIT).astype(np.float32)  # |X| up to 2.6e38; float32 ends at 3.4e38
    with numpy_must_not_warn():
        assert_valid_predictions(clf, X)


def test_gradient_check_of_a_vanishing_gradient_is_finite():
    # Saturated outputs and no penalty: both gradients are (nearly) zero, so their relative
    # difference measures rounding noise (it differs between numpy versions), but 0/0 must not
    # turn the check into nan or warn.
    clf = BackpropClassifier(hidden_layer_sizes=(), activation="identity", alpha=0.0)
    X, Y = np.full((2, 1), -1e4), np.zeros((2, 2), dtype=int)
    with numpy_must_not_warn():
        assert np.isfinite(gradient_check(clf, X, Y))


def test_gradient_check_of_two_zero_gradients_is_zero():
    with numpy_must_not_warn():
        assert check_objective(_ZeroObjective(), np.ones(4)) == 0.0


class _ZeroObjective:
    def loss_gradient(self, theta):
        return 0.0, np.zeros_like(theta)

    def loss(self, theta):
        return 0.0


@pytest.mark.parametrize(
    "params, dtype, container",
    [
        pytest.param({}, np.float64, np.asarray, id="default"),
        pytest.param(
            {"hidden_layer_sizes": (5, 4), "activation": "tanh", "out_activation": "softmax"},
            np.float64,
            np.asarray,
            id="two layers, softmax",
        ),
        pytest.param({}, np.float32, np.asarray, id="float32"),
        pytest.param({}, np.float64, sparse.csr_matrix, id="sparse"),
        pytest.param({"early_stopping": True}, np.float64, np.asarray, id="early stopping"),
        pytest.param({"method": "CG"}, np.float64, np.asarray, id="CG"),
    ],
)
def test_same_random_state_gives_bit_identical_models(params, dtype, container):
    X, y = make_classification(
        n_samples=120, n_features=6, n_classes=3, n_informative=4, random_state=0
    )
    X = container(X.astype(dtype))
    models = []
    for _ in range(3):
        clf = BackpropClassifier(
            **{"hidden_layer_sizes": (6,), "max_iter": 40, "random_state": 7, **params}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            models.append(clf.fit(X, y))
    first = models[0]
    for other in models[1:]:
        for W_first, W_other in zip(
            first.coefs_ + first.intercepts_, other.coefs_ + other.intercepts_
        ):
            assert_array_equal(W_other, W_first)
        assert other.loss_ == first.loss_ and other.n_iter_ == first.n_iter_
        assert_array_equal(other.predict_proba(X), first.predict_proba(X))


def test_random_state_instance_draws_like_its_seed():
    X, y = X_UNIT, np.arange(30) % 3
    by_seed = BackpropClassifier(hidden_layer_sizes=(4,), random_state=3).fit(X, y)
    by_instance = BackpropClassifier(
        hidden_layer_sizes=(4,), random_state=np.random.RandomState(3)
    ).fit(X, y)
    for W_seed, W_instance in zip(by_seed.coefs_, by_instance.coefs_):
        assert_array_equal(W_instance, W_seed)


@pytest.mark.parametrize("random_state", [0, 1, 2])
@pytest.mark.parametrize("working_memory", [0.002, 0.005])
def test_row_blocks_change_the_fit_only_at_rounding_level(working_memory, random_state):
    # alpha = 10 makes the problem well conditioned, and the default tol stops both fits after
    # the same iterations: only the order of the sums over rows differs. (With tol=0, L-BFGS-B
    # runs on until J stops decreasing, where its last steps follow rounding noise, and the
    # fits differ by about 1e-7.)
    X, y = make_classification(
        n_samples=200, n_features=5, n_informative=3, n_redundant=0, n_classes=3, random_state=0
    )
    params = dict(hidden_layer_sizes=(4,), alpha=10.0, random_state=random_state)
    whole = BackpropClassifier(**params).fit(X, y)
    with config_context(working_memory=working_memory):
        blocked = BackpropClassifier(**params).fit(X, y)
    network = Network((5, 4, 3))
    assert block_rows(network, X) == 200
    with config_context(working_memory=working_memory):
        assert 1 < block_rows(network, X) < 50
    assert blocked.optimize_result_["success"] and blocked.n_iter_ == whole.n_iter_
    for W_whole, W_blocked in zip(
        whole.coefs_ + whole.intercepts_, blocked.coefs_ + blocked.intercepts_
    ):
        assert_allclose(W_blocked, W_whole, rtol=1e-10, atol=1e-10 * np.abs(W_whole).max())
    assert_allclose(blocked.loss_, whole.loss_, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_blocks_that_go_to_threads_are_even_in_number(dtype):
    """20000 × 400 with (25,) units: blocks of about 8 MiB are 10 in float64, and would be 5 of
    4152 rows in float32, which leave one of two threads idle for the fifth: 6 then."""
    X = np.zeros((20000, 400), dtype=dtype)
    network = Network((400, 25, 10))
    rows = block_rows(network, X)
    assert (rows, -(-X.shape[0] // rows)) == ((2076, 10) if dtype == np.float64 else (3334, 6))


def test_the_even_count_only_where_the_blocks_go_to_threads():
    """10380 rows of 20000 × 400's network make 5 blocks of 2076: 6 of 1730. A network whose
    products stay below the threads' threshold keeps its 3 blocks (working_memory for 100
    rows), which run in order on one thread."""
    rows = block_rows(Network((400, 25, 10)), np.zeros((10380, 400)))
    assert (rows, -(-10380 // rows)) == (1730, 6)
    small = Network((5, 4, 3))
    per_row = Workspace.bytes_per_row(small, np.dtype(np.float64))
    with config_context(working_memory=100 * per_row / 2**20):
        assert block_rows(small, np.zeros((300, 5))) == 100


def assert_same_state(now, before, path="estimator"):
    """Recursively compare an object's state with a deep copy taken earlier."""
    if isinstance(before, np.ndarray):
        assert isinstance(now, np.ndarray) and now.dtype == before.dtype, path
        assert_array_equal(now, before, err_msg=path)
    elif isinstance(before, dict):
        assert now.keys() == before.keys(), path
        for key in before:
            assert_same_state(now[key], before[key], f"{path}[{key!r}]")
    elif isinstance(before, list | tuple):
        assert type(now) is type(before) and len(now) == len(before), path
        for index, (item_now, item_before) in enumerate(zip(now, before)):
            assert_same_state(item_now, item_before, f"{path}[{index}]")
    elif hasattr(before, "__dict__") and not isinstance(before, FunctionType | type):
        assert type(now) is type(before), path
        assert_same_state(vars(now), vars(before), path)
    elif isinstance(before, float) and np.isnan(before):
        assert np.isnan(now), path
    else:
        assert now == before, path


@pytest.fixture(scope="module")
def large_model():
    X, y = make_classification(
        n_samples=4000, n_features=20, n_informative=10, n_classes=4, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = BackpropClassifier(hidden_layer_sizes=(16, 8), max_iter=30, random_state=0)
        return clf.fit(X, y), X


def test_predict_proba_from_8_threads_equals_serial(large_model):
    clf, X = large_model
    before = copy.deepcopy(vars(clf))
    # Thread i predicts its own rows, in float32 for odd i, then all rows in float64.
    subsets = [X[i::8].astype(np.float32 if i % 2 else np.float64) for i in range(8)]
    serial_subsets = [clf.predict_proba(rows) for rows in subsets]
    serial_all = clf.predict_proba(X)
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        results = []
        for _ in range(3):
            results.append((clf.predict_proba(subsets[i]), clf.predict_proba(X)))
        return results

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(work, range(8)))
    for i, results in enumerate(outcomes):
        for subset_proba, all_proba in results:
            assert subset_proba.dtype == serial_subsets[i].dtype
            assert_array_equal(subset_proba, serial_subsets[i])
            assert_array_equal(all_proba, serial_all)
    assert_same_state(vars(clf), before)


def test_predicting_does_not_change_the_estimator(large_model):
    clf, X = large_model
    before = copy.deepcopy(vars(clf))
    X32 = X[:100].astype(np.float32)
    for rows in [X[:100], X32, sparse.csr_matrix(X[:100]), X[:1]]:
        clf.predict(rows)
        clf.predict_proba(rows)
        clf.predict_log_proba(rows)
    clf.score(X[:100], clf.predict(X[:100]))
    with config_context(working_memory=0.002):
        clf.predict_proba(X[:100])
    assert_same_state(vars(clf), before)


def raise_at_iteration(n, exception):
    """A callback that raises ``exception`` at the n-th iteration, and the iterations it saw."""
    calls = []

    def callback(iteration, *args):
        calls.append(iteration)
        if len(calls) == n:
            raise exception

    return callback, calls


@pytest.mark.parametrize("exception", [RuntimeError("boom"), MemoryError(), SystemExit(3)])
@pytest.mark.parametrize("warm_start", [False, True])
def test_an_exception_during_optimization_leaves_the_estimator_as_before(exception, warm_start):
    X, y = X_UNIT, np.arange(30) % 3
    callback, calls = raise_at_iteration(3, exception)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), warm_start=warm_start, random_state=0)
    clf.fit(X, y)
    clf.set_params(callback=callback)
    before = copy.deepcopy(vars(clf))
    with pytest.raises(type(exception)):
        clf.fit(2 * X, y)
    assert len(calls) == 3  # the optimization had started
    assert_same_state(vars(clf), before)

    fresh = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0, callback=callback)
    calls.clear()
    with pytest.raises(type(exception)):
        fresh.fit(X, y)
    assert not any(key.endswith("_") and not key.startswith("__") for key in vars(fresh))


def test_keyboard_interrupt_in_a_warm_started_fit_keeps_the_best_parameters():
    X, y = X_UNIT, np.arange(30) % 3
    clf = BackpropClassifier(hidden_layer_sizes=(4,), warm_start=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    previous_loss = clf.loss_
    callback, _ = raise_at_iteration(2, KeyboardInterrupt())
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\)"):
        clf.set_params(callback=callback).fit(X, y)
    # The new fit started from the previous parameters: its best J is no worse.
    assert clf.loss_ <= previous_loss
    assert_valid_predictions(clf, X)


# Calls that evaluate a string as code or rebuild objects from bytes (which may run code).
CODE_FROM_STRINGS = {"eval", "exec", "compile", "__import__"}
UNSAFE_MODULE_CALLS = {
    "pickle": {"load", "loads", "Unpickler"},
    "_pickle": {"load", "loads", "Unpickler"},
    "cPickle": {"load", "loads", "Unpickler"},
    "dill": {"load", "loads"},
    "cloudpickle": {"load", "loads"},
    "joblib": {"load"},
    "shelve": {"open"},
    "marshal": None,  # every call
    "importlib": {"import_module", "__import__", "reload", "spec_from_file_location"},
    "builtins": CODE_FROM_STRINGS,
    "pandas": {"read_pickle"},
}


def _dotted(node):
    """``a.b.c`` for a Name or an Attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def unsafe_calls(source):
    """Line and description of each call in ``source`` that runs code from data."""
    tree = ast.parse(source)
    aliases = {}  # local name -> the module or module.attribute it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if any(k.arg == "allow_pickle" and getattr(k.value, "value", False) for k in node.keywords):
            found.append((node.lineno, f"{name}(allow_pickle=True)"))
        if name is None:
            continue
        head, _, rest = name.partition(".")
        full = aliases.get(head, head) + (f".{rest}" if rest else "")
        module, _, attribute = full.rpartition(".")
        root = module.split(".")[0]
        if not module and full in CODE_FROM_STRINGS and head not in aliases:
            found.append((node.lineno, full))
        elif root in UNSAFE_MODULE_CALLS and attribute:
            forbidden = UNSAFE_MODULE_CALLS[root]
            if forbidden is None or attribute in forbidden:
                found.append((node.lineno, full))
    return found


# The one place that may load a pickle: load_model, behind trust_pickle=True (the test of
# load_model proves that it refuses a pickle without it).
TRUSTED_PICKLE_LOADS = {"sklearn_bp/_persistence.py": ["joblib.load"]}


def test_package_runs_no_code_from_strings_or_data():
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    found = {
        str(path.relative_to(PACKAGE.parent)): [name for _, name in calls]
        for path in files
        if (calls := unsafe_calls(path.read_text(encoding="utf-8")))
    }
    assert found == TRUSTED_PICKLE_LOADS


@pytest.mark.parametrize(
    "source",
    [
        "eval('1 + 1')",
        "exec(code)",
        "compile(source, 'f', 'exec')",
        "__import__('os')",
        "import builtins\nbuiltins.eval('1')",
        "import pickle\npickle.loads(data)",
        "import pickle as p\nwith open(f, 'rb') as h:\n    p.load(h)",
        "from pickle import loads as unpickle\nunpickle(data)",
        "import marshal\nmarshal.loads(data)",
        "import importlib\nimportlib.import_module(name)",
        "from importlib import import_module\nimport_module(name)",
        "import joblib\njoblib.load(path)",
        "import numpy as np\nnp.load(path, allow_pickle=True)",
        "import pandas as pd\npd.read_pickle(path)",
    ],
)
def test_the_scan_finds_code_run_from_data(source):
    assert unsafe_calls(source)


@pytest.mark.parametrize(
    "source",
    [
        "import re\nre.compile('a+')",
        "import numpy as np\nnp.load(path)",
        "import json\njson.loads(text)",
        "model.eval()",
        "import pickle\npickle.dumps(obj)",
        "getattr(module, name)",
    ],
)
def test_the_scan_leaves_safe_calls_alone(source):
    assert not unsafe_calls(source)


def longdouble_proba(clf, X):
    """predict_proba computed in long double, whose range (x86: to 1e4932) holds what float64's
    does not: an independent reference for inputs whose z(L) overflows float64."""
    A = np.asarray(X, dtype=np.longdouble)
    g = {"relu": lambda Z: np.maximum(Z, 0), "identity": lambda Z: Z, "tanh": np.tanh}
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        A = g[clf.activation](A @ W.astype(np.longdouble) + b)
    Z = A @ clf.coefs_[-1].astype(np.longdouble) + clf.intercepts_[-1]
    if clf.out_activation_ == "softmax":
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)
    # Normalized sigmoids: σ(z_k) / Σ σ(z_j), with log σ(z) = −log(1 + e^−z) taken stably.
    log_h = -np.logaddexp(0, -Z)
    H = np.exp(log_h - log_h.max(axis=1, keepdims=True))
    return H / H.sum(axis=1, keepdims=True)


def fitted_on_unit_data(activation, out_activation, max_iter):
    """A (6, 4) network fitted on unit-scale data with three classes."""
    clf = BackpropClassifier(
        hidden_layer_sizes=(6, 4),
        activation=activation,
        out_activation=out_activation,
        max_iter=max_iter,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X_UNIT, np.arange(30) % 3)


LONG_DOUBLE_RANGE = np.finfo(np.longdouble).maxexp > np.finfo(np.float64).maxexp


@pytest.mark.skipif(not LONG_DOUBLE_RANGE, reason="long double is no wider than float64 here")
@pytest.mark.parametrize("activation", ["relu", "identity", "tanh"])
@pytest.mark.parametrize("out_activation", ["softmax", "logistic"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_probabilities_of_inputs_whose_outputs_overflow(activation, out_activation, dtype):
    clf = fitted_on_unit_data(activation, out_activation, max_iter=30)
    # Features up to 0.9 times the largest float of their dtype.
    X = (X_UNIT * (0.9 * np.finfo(dtype).max / np.abs(X_UNIT).max())).astype(dtype)
    with numpy_must_not_warn():
        proba = clf.predict_proba(X)
        assert_valid_predictions(clf, X)
    assert proba.dtype == dtype
    expected = longdouble_proba(clf, X.astype(np.float64)).astype(np.float64)
    assert_allclose(proba, expected, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_scaled_forward_pass_is_the_ordinary_one_where_nothing_overflows():
    from sklearn_bp._classifier import scaled_log_proba
    from sklearn_bp._losses import LOSSES
    from sklearn_bp._network import scaled_decision_output

    for activation, out_activation in [("relu", "softmax"), ("tanh", "logistic")]:
        clf = fitted_on_unit_data(activation, out_activation, max_iter=5)
        X = 1e3 * X_UNIT
        layer_sizes = [X.shape[1], *(W.shape[1] for W in clf.coefs_)]
        network = Network(layer_sizes, clf.activation_)
        M, exponents = scaled_decision_output(network, list(zip(clf.coefs_, clf.intercepts_)), X)
        assert_allclose(np.ldexp(M, exponents[:, np.newaxis]), clf.decision_function(X), rtol=1e-13)
        log_proba = scaled_log_proba(LOSSES[clf.out_activation_], M, exponents, "multiclass")
        assert_allclose(np.exp(log_proba), clf.predict_proba(X), rtol=1e-12, atol=1e-300)
