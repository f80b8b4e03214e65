"""The bad-input table: what fit, predict*, score and gradient_check refuse, and with which message.

One table per entry point; every row names the input, the exception and a fragment of its
message. ``docs/bad_input.rst`` is this table for readers, and
``test_docs_page_lists_every_message`` keeps the two in sync.
"""

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier

from sklearn_bp import BackpropClassifier, BackpropRegressor, gradient_check

from .support import numpy_must_not_warn

RNG = np.random.RandomState(0)
X = RNG.normal(size=(20, 3))
y = np.arange(20) % 2
NAMES = ["a", "b", "c"]
ParameterSet = type(pytest.param())
DOCS_PAGE = Path(__file__).parent.parent / "docs" / "bad_input.rst"


def frame(data, columns=None):
    """A pandas DataFrame, built when the test runs so that a missing pandas only skips it."""
    pd = pytest.importorskip("pandas")
    return pd.DataFrame(data, columns=columns)


def materialize(value):
    return value() if callable(value) else value


# fit(X, y): id, X, y, exception, message. X and y may be callables that build them.
FIT_DATA = [
    pytest.param(np.where(X > 1, np.nan, X), y, ValueError, "Input X contains NaN", id="NaN in X"),
    pytest.param(
        np.where(X > 1, np.inf, X), y, ValueError, "Input X contains infinity", id="inf in X"
    ),
    pytest.param(
        sparse.csr_matrix(np.where(X > 1, np.nan, X)),
        y,
        ValueError,
        "Input X contains NaN",
        id="NaN in sparse X",
    ),
    pytest.param(
        sparse.csr_matrix(np.where(X > 1, -np.inf, X)),
        y,
        ValueError,
        "Input X contains infinity",
        id="inf in sparse X",
    ),
    pytest.param(
        np.full((20, 3), "a"), y, ValueError, "could not convert string to float", id="string X"
    ),
    pytest.param(
        lambda: frame({"a": ["x"] * 20, "b": X[:, 0]}),
        y,
        ValueError,
        "could not convert string to float",
        id="string column in a DataFrame",
    ),
    pytest.param(
        np.array([[1.0, None, 2.0]] * 20, dtype=object),
        y,
        ValueError,
        "Input X contains NaN",
        id="None in object X",
    ),
    pytest.param(X + 1j, y, ValueError, "Complex data not supported", id="complex X"),
    pytest.param(
        [[10**400] * 3] * 20,
        y,
        ValueError,
        "X holds a number too large for float64",
        id="integer beyond float64 in X",
    ),
    pytest.param(None, y, ValueError, "Expected 2D array, got scalar array", id="X is None"),
    pytest.param(
        [[1.0, 2.0], [3.0]],
        [0, 1],
        ValueError,
        "setting an array element with a sequence",
        id="ragged X",
    ),
    pytest.param(
        np.empty((0, 3)), np.empty(0), ValueError, "Found array with 0 sample", id="empty X"
    ),
    pytest.param(np.empty((20, 0)), y, ValueError, "Found array with 0 feature", id="no features"),
    pytest.param(X[:, :, np.newaxis], y, ValueError, "Found array with dim 3", id="3-D X"),
    pytest.param(X[:, 0], y, ValueError, "Expected 2D array, got 1D array", id="1-D X"),
    pytest.param(
        lambda: frame(X, columns=["a", 1, "c"]),
        y,
        TypeError,
        "Feature names are only supported if all input features have string names",
        id="column names of mixed types",
    ),
    pytest.param(
        X, y[:-1], ValueError, "inconsistent numbers of samples: [20, 19]", id="length mismatch"
    ),
    pytest.param(X, None, ValueError, "requires y to be passed", id="y is None"),
    pytest.param(X, np.zeros(20), ValueError, "contains only one class", id="one class"),
    pytest.param(
        X, np.linspace(0, 1, 20), ValueError, "Unknown label type: continuous", id="continuous y"
    ),
    pytest.param(X, np.where(y > 0, np.nan, 0), ValueError, "Input y contains NaN", id="NaN in y"),
    pytest.param(
        X, np.where(y > 0, np.inf, 0), ValueError, "Input y contains infinity", id="inf in y"
    ),
    pytest.param(X, np.zeros((20, 2, 2)), ValueError, "Found array with dim 3", id="3-D y"),
    pytest.param(
        X,
        np.c_[np.arange(20) % 3, y],
        ValueError,
        "got 'multiclass-multioutput'",
        id="multiclass-multioutput y",
    ),
    pytest.param(
        X,
        np.where(np.c_[y, 1 - y, y] > 0, 1, -1),
        ValueError,
        "indicator matrix of 0 and 1, got the values [-1, 1]",
        id="multilabel y of -1 and 1",
    ),
    pytest.param(
        X,
        np.c_[y, 0.5 * y],
        ValueError,
        "Unknown label type: continuous-multioutput",
        id="multilabel y with fractions",
    ),
]


@pytest.mark.parametrize("X_bad, y_bad, error, message", FIT_DATA)
def test_fit_refuses_bad_data(X_bad, y_bad, error, message):
    clf = BackpropClassifier(hidden_layer_sizes=(3,))
    with pytest.raises(error, match=re.escape(message)):
        clf.fit(materialize(X_bad), materialize(y_bad))
    assert not hasattr(clf, "n_features_in_")


# fit(X, y, sample_weight): id, sample_weight, exception, message.
SAMPLE_WEIGHTS = [
    pytest.param(
        np.full(20, -1.0),
        ValueError,
        "Negative values in data passed to `sample_weight`",
        id="negative",
    ),
    pytest.param(
        np.r_[-1.0, np.ones(19)],
        ValueError,
        "Negative values in data passed to `sample_weight`",
        id="one negative",
    ),
    # scikit-learn words the all-zero refusal differently across versions.
    pytest.param(np.zeros(20), ValueError, "zero", id="all zero"),
    pytest.param(0.0, ValueError, "zero", id="scalar zero"),
    pytest.param(np.full(20, np.nan), ValueError, "Input sample_weight contains NaN", id="NaN"),
    pytest.param(
        np.r_[np.inf, np.ones(19)],
        ValueError,
        "Input sample_weight contains infinity",
        id="inf",
    ),
    pytest.param(
        np.ones(5),
        ValueError,
        "sample_weight.shape == (5,), expected (20,)",
        id="wrong length",
    ),
    pytest.param(
        np.ones((20, 1)), ValueError, "Sample weights must be 1D array or scalar", id="2-D"
    ),
    pytest.param(
        np.array(["a"] * 20), ValueError, "could not convert string to float", id="strings"
    ),
    pytest.param(np.ones(20) + 1j, ValueError, "Complex data not supported", id="complex"),
    pytest.param(
        np.full(20, 1e307),
        ValueError,
        "sample weight",
        id="sum overflows",
    ),
    pytest.param(
        np.full(20, 1e-320),
        ValueError,
        "sample weight",
        id="subnormal",
    ),
    pytest.param(
        [10**400] * 20,
        ValueError,
        "sample_weight holds a number too large for float64",
        id="integer beyond float64",
    ),
]


@pytest.mark.parametrize("sample_weight, error, message", SAMPLE_WEIGHTS)
def test_fit_refuses_bad_sample_weights(sample_weight, error, message):
    with pytest.raises(error, match=re.escape(message)), numpy_must_not_warn():
        BackpropClassifier(hidden_layer_sizes=(3,)).fit(X, y, sample_weight=sample_weight)


# BackpropClassifier(**params).fit(X, y): params, exception, message. __init__ only stores its
# arguments; fit validates them.
PARAMS = [
    ({"hidden_layer_sizes": (0,)}, ValueError, "hidden_layer_sizes must contain positive"),
    ({"hidden_layer_sizes": (5, -3)}, ValueError, "got -3 in (5, -3)"),
    ({"hidden_layer_sizes": 0}, ValueError, "'hidden_layer_sizes' parameter"),
    ({"hidden_layer_sizes": (2.5,)}, TypeError, "hidden_layer_sizes must contain integers"),
    ({"hidden_layer_sizes": (3.0,)}, TypeError, "hidden_layer_sizes must contain integers"),
    ({"hidden_layer_sizes": [[3]]}, TypeError, "hidden_layer_sizes must contain integers"),
    ({"hidden_layer_sizes": (True,)}, TypeError, "got True"),
    ({"hidden_layer_sizes": 2.5}, ValueError, "'hidden_layer_sizes' parameter"),
    ({"hidden_layer_sizes": "ab"}, ValueError, "'hidden_layer_sizes' parameter"),
    pytest.param(
        {"hidden_layer_sizes": np.array(2.5)},
        TypeError,
        "hidden_layer_sizes must contain integers, got 2.5",
        id="hidden_layer_sizes 0-d float array",
    ),
    ({"hidden_layer_sizes": None}, ValueError, "'hidden_layer_sizes' parameter"),
    ({"activation": "softplus"}, ValueError, "'activation' parameter"),
    ({"activation": "Logistic"}, ValueError, "'activation' parameter"),
    ({"activation": None}, ValueError, "'activation' parameter"),
    ({"out_activation": "tanh"}, ValueError, "'out_activation' parameter"),
    ({"out_activation": None}, ValueError, "'out_activation' parameter"),
    ({"alpha": -1.0}, ValueError, "'alpha' parameter"),
    ({"alpha": np.nan}, ValueError, "'alpha' parameter"),
    ({"alpha": np.inf}, ValueError, "'alpha' parameter"),
    ({"alpha": "1"}, ValueError, "'alpha' parameter"),
    ({"alpha": None}, ValueError, "'alpha' parameter"),
    pytest.param(
        {"alpha": 10**400},
        ValueError,
        "The 'alpha' parameter of BackpropClassifier must be a finite number",
        id="alpha integer beyond float64",
    ),
    ({"method": "adam"}, ValueError, "'method' parameter"),
    ({"method": "l-bfgs-b"}, ValueError, "'method' parameter"),
    ({"method": "Nelder-Mead"}, ValueError, "'method' parameter"),
    ({"method": 1}, ValueError, "'method' parameter"),
    ({"method": None}, ValueError, "'method' parameter"),
    ({"method": "BFGS", "hidden_layer_sizes": (100_000,)}, ValueError, "dense n-by-n"),
    pytest.param(
        {"method": lambda fun, x0, **kwargs: None},
        TypeError,
        "method",
        id="method returns None",
    ),
    ({"hessian": "bfgs"}, ValueError, "'hessian' parameter"),
    ({"hessian": None}, ValueError, "'hessian' parameter"),
    ({"max_iter": 0}, ValueError, "'max_iter' parameter"),
    ({"max_iter": -1}, ValueError, "'max_iter' parameter"),
    ({"max_iter": 2.0}, ValueError, "'max_iter' parameter"),
    ({"max_iter": np.inf}, ValueError, "'max_iter' parameter"),
    ({"max_iter": "10"}, ValueError, "'max_iter' parameter"),
    ({"max_iter": None}, ValueError, "'max_iter' parameter"),
    pytest.param(
        {"method": "TNC", "max_iter": 2**31},
        ValueError,
        "'max_iter' parameter of BackpropClassifier must be an int in the range [1, 2147483647]",
        id="max_iter beyond a C int",
    ),
    ({"tol": -1e-3}, ValueError, "'tol' parameter"),
    ({"tol": np.nan}, ValueError, "'tol' parameter"),
    ({"tol": np.inf}, ValueError, "'tol' parameter"),
    ({"tol": "0.1"}, ValueError, "'tol' parameter"),
    ({"tol": None}, ValueError, "'tol' parameter"),
    pytest.param(
        {"tol": 10**400},
        ValueError,
        "The 'tol' parameter of BackpropClassifier must be a finite number",
        id="tol integer beyond float64",
    ),
    ({"class_weight": "auto"}, ValueError, "'class_weight' parameter"),
    ({"class_weight": [1, 2]}, ValueError, "'class_weight' parameter"),
    ({"class_weight": {5: 1.0}}, ValueError, "class_weight has keys that are not classes: [5]"),
    ({"class_weight": {"0": 1.0}}, ValueError, "keys that are not classes: ['0']"),
    pytest.param(
        {"class_weight": {0: 1.0, 1: 1.0, 7: 2.0}},
        ValueError,
        "class_weight",
        id="class_weight with a key that is no class",
    ),
    pytest.param(
        {"class_weight": {0: 1.0, 1: -1.0}},
        ValueError,
        "class_weight",
        id="negative class_weight",
    ),
    pytest.param(
        {"class_weight": {0: np.nan, 1: 1.0}},
        ValueError,
        "class_weight",
        id="NaN class_weight",
    ),
    pytest.param(
        {"class_weight": {0: np.inf, 1: 1.0}},
        ValueError,
        "class_weight",
        id="infinite class_weight",
    ),
    pytest.param(
        {"class_weight": {0: 10**400, 1: 1.0}},
        ValueError,
        "class_weight[0] must be a finite non-negative number, got 1000",
        id="class_weight integer beyond float64",
    ),
    pytest.param(
        {"class_weight": {0: "a", 1: 1.0}},
        TypeError,
        "class_weight[0] must be a real number, got 'a'",
        id="string class_weight",
    ),
    ({"warm_start": "yes"}, ValueError, "'warm_start' parameter"),
    ({"warm_start": 1}, ValueError, "'warm_start' parameter"),
    ({"warm_start": None}, ValueError, "'warm_start' parameter"),
    ({"random_state": "a"}, ValueError, "'random_state' parameter"),
    ({"random_state": -1}, ValueError, "'random_state' parameter"),
    ({"random_state": 2**33}, ValueError, "'random_state' parameter"),
    ({"random_state": 1.5}, ValueError, "'random_state' parameter"),
    ({"verbose": -1}, ValueError, "'verbose' parameter"),
    ({"verbose": 1.5}, ValueError, "'verbose' parameter"),
    ({"verbose": "a"}, ValueError, "'verbose' parameter"),
    ({"verbose": None}, ValueError, "'verbose' parameter"),
    ({"options": [1]}, ValueError, "'options' parameter"),
    ({"options": "maxiter=5"}, ValueError, "'options' parameter"),
    ({"options": {"bogus": 1}}, ValueError, "'L-BFGS-B' does not take the option(s) ['bogus']"),
    ({"options": {1: 2}}, ValueError, "'L-BFGS-B' does not take the option(s) [1]"),
    (
        {"method": "CG", "options": {"maxcor": 3}},
        ValueError,
        "'CG' does not take the option(s) ['maxcor']",
    ),
    (
        {"method": "TNC", "options": {"maxiter": 3}},
        ValueError,
        "'TNC' does not take the option(s) ['maxiter']",
    ),
    pytest.param(
        {"options": {"maxiter": 0}},
        ValueError,
        "maxiter",
        id="options maxiter 0",
    ),
    pytest.param(
        {"options": {"maxiter": -1}},
        ValueError,
        "maxiter",
        id="options maxiter -1",
    ),
    pytest.param(
        {"options": {"maxiter": "a"}},
        ValueError,
        "maxiter",
        id="options maxiter 'a'",
    ),
    pytest.param(
        {"method": "TNC", "options": {"maxfun": 2**40}},
        ValueError,
        "options['maxfun'] must be an integer from 1 to 2147483647",
        id="options maxfun beyond a C int",
    ),
    ({"callback": 1}, ValueError, "'callback' parameter"),
    ({"callback": "print"}, ValueError, "'callback' parameter"),
    pytest.param(
        {"callback": lambda *args: 1},
        TypeError,
        "callback must return True (to stop), False or None, got 1",
        id="callback returns 1",
    ),
    pytest.param(
        {"callback": lambda: None},
        TypeError,
        "positional arguments but 5 were given",
        id="callback takes no arguments",
    ),
    ({"early_stopping": "yes"}, ValueError, "'early_stopping' parameter"),
    ({"early_stopping": 1}, ValueError, "'early_stopping' parameter"),
    ({"validation_fraction": 0.0}, ValueError, "'validation_fraction' parameter"),
    ({"validation_fraction": 1.0}, ValueError, "'validation_fraction' parameter"),
    ({"validation_fraction": np.nan}, ValueError, "'validation_fraction' parameter"),
    ({"validation_fraction": "a"}, ValueError, "'validation_fraction' parameter"),
    ({"n_iter_no_change": 0}, ValueError, "'n_iter_no_change' parameter"),
    ({"n_iter_no_change": 1.5}, ValueError, "'n_iter_no_change' parameter"),
    ({"n_iter_no_change": None}, ValueError, "'n_iter_no_change' parameter"),
]


def _param_id(row):
    return row.id if isinstance(row, ParameterSet) else repr(row[0])


@pytest.mark.parametrize("params, error, message", PARAMS, ids=[_param_id(row) for row in PARAMS])
def test_fit_refuses_bad_parameters(params, error, message):
    clf = BackpropClassifier(**{"hidden_layer_sizes": (3,), **params})
    with pytest.raises(error, match=re.escape(message)):
        clf.fit(X, y)
    assert not hasattr(clf, "n_features_in_")


def _values(row):
    return row.values if isinstance(row, ParameterSet) else row


def test_every_parameter_has_rows_in_the_table():
    tested = {name for row in PARAMS for name in _values(row)[0]}
    assert set(BackpropClassifier().get_params()) <= tested


# fit with parameters and data that do not go together: params, X, y, sample_weight, exception,
# message.
FIT_COMBINATIONS = [
    pytest.param(
        {"class_weight": "balanced"},
        X,
        np.c_[y, 1 - y, y],
        None,
        ValueError,
        "class_weight is not supported for multilabel",
        id="class_weight with multilabel y",
    ),
    pytest.param(
        {"early_stopping": True},
        X,
        np.r_[np.zeros(19), 1],
        None,
        ValueError,
        "only 1 member",
        id="early_stopping with a class of one row",
    ),
    pytest.param(
        {"early_stopping": True, "validation_fraction": 0.01},
        X,
        y,
        None,
        ValueError,
        "validation_fraction",
        id="early_stopping with fewer validation rows than classes",
    ),
    pytest.param(
        {"early_stopping": True, "validation_fraction": 0.99},
        X,
        y,
        None,
        ValueError,
        "validation_fraction",
        id="early_stopping with no training rows",
    ),
    pytest.param(
        {"early_stopping": True},
        X,
        y,
        np.r_[1.0, np.zeros(19)],
        ValueError,
        "sum to zero",
        id="early_stopping with one positive weight",
    ),
]


# Weights whose product or cast overflows: refused before numpy can warn. params, X dtype,
# sample_weight, message.
OVERFLOWING_WEIGHTS = [
    pytest.param(
        {"class_weight": {0: 1e308, 1: 1.0}},
        np.float64,
        np.full(20, 10.0),
        "The sample weights times class_weight overflow float64",
        id="class_weight times sample_weight beyond float64",
    ),
    pytest.param(
        {"class_weight": {0: 1e39, 1: 1.0}},
        np.float32,
        None,
        "beyond the largest float32",
        id="class_weight beyond float32 data",
    ),
    pytest.param(
        {},
        np.float32,
        np.full(20, 1e39),
        "beyond the largest float32",
        id="sample_weight beyond float32 data",
    ),
]


@pytest.mark.parametrize("params, dtype, sample_weight, message", OVERFLOWING_WEIGHTS)
def test_overflowing_weights_are_refused_without_numpy_warnings(
    params, dtype, sample_weight, message
):
    clf = BackpropClassifier(hidden_layer_sizes=(3,), **params)
    with pytest.raises(ValueError, match=re.escape(message)), numpy_must_not_warn():
        clf.fit(X.astype(dtype), y, sample_weight=sample_weight)


@pytest.mark.parametrize("params, X_bad, y_bad, sample_weight, error, message", FIT_COMBINATIONS)
def test_fit_refuses_parameters_that_do_not_fit_the_data(
    params, X_bad, y_bad, sample_weight, error, message
):
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0, **params)
    with pytest.raises(error, match=re.escape(message)):
        clf.fit(X_bad, y_bad, sample_weight=sample_weight)


@pytest.mark.parametrize(
    "X_next, y_next, message",
    [
        pytest.param(X, np.arange(20) % 3, "with the same classes", id="other classes"),
        pytest.param(X[:, :2], y, "with the same layer sizes", id="other features"),
    ],
)
def test_warm_start_refuses_a_different_problem(X_next, y_next, message):
    clf = BackpropClassifier(hidden_layer_sizes=(3,), warm_start=True, random_state=0).fit(X, y)
    with pytest.raises(
        ValueError, match=re.escape(f"warm_start can only continue a fit {message}")
    ):
        clf.fit(X_next, y_next)


def test_warm_start_refuses_another_kind_of_target_with_the_same_classes():
    # Three classes and three labels: the same classes_ [0, 1, 2] and the same layer sizes.
    clf = BackpropClassifier(hidden_layer_sizes=(3,), warm_start=True, random_state=0)
    clf.fit(X, np.arange(20) % 3)
    labels = np.c_[np.arange(20) % 2, np.arange(20) % 3 == 0, np.arange(20) % 5 == 0]
    with pytest.raises(ValueError, match="with the same kind of target: the previous fit had "):
        clf.fit(X, labels.astype(int))


def test_softmax_on_multilabel_targets_uses_logistic_units():
    Y = np.c_[y, 1 - y, np.arange(20) % 3 == 0]
    clf = BackpropClassifier(hidden_layer_sizes=(3,), out_activation="softmax", random_state=0)
    clf.fit(X, Y)  # random_state: an unlucky draw may end without converging, which warns
    assert clf.out_activation_ == "logistic"


@pytest.fixture(scope="module")
def fitted():
    return {
        "array": BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y),
        "frame": BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(
            frame(X, columns=NAMES), y
        ),
    }


PREDICT_METHODS = ["predict", "predict_proba", "predict_log_proba", "decision_function", "score"]

# predict, predict_proba, predict_log_proba and score: id, the model ("array": fitted on an
# array, "frame": on a DataFrame with columns a, b, c), X, exception, message.
PREDICT_DATA = [
    pytest.param("array", np.where(X > 1, np.nan, X), ValueError, "Input X contains NaN", id="NaN"),
    pytest.param(
        "array", np.where(X > 1, np.inf, X), ValueError, "Input X contains infinity", id="inf"
    ),
    pytest.param(
        "array",
        sparse.csr_matrix(np.where(X > 1, np.nan, X)),
        ValueError,
        "Input X contains NaN",
        id="NaN in sparse X",
    ),
    pytest.param(
        "array", np.full((20, 3), "a"), ValueError, "could not convert string to float", id="string"
    ),
    pytest.param("array", X + 1j, ValueError, "Complex data not supported", id="complex"),
    pytest.param(
        "array",
        [[10**400] * 3] * 2,
        ValueError,
        "X holds a number too large for float64",
        id="integer beyond float64",
    ),
    pytest.param("array", np.empty((0, 3)), ValueError, "Found array with 0 sample", id="empty"),
    pytest.param("array", X[0], ValueError, "Expected 2D array, got 1D array", id="1-D"),
    pytest.param("array", X[:, :, np.newaxis], ValueError, "Found array with dim 3", id="3-D"),
    pytest.param("array", None, ValueError, "Expected 2D array, got scalar array", id="None"),
    pytest.param(
        "array",
        X[:, :2],
        ValueError,
        "X has 2 features, but BackpropClassifier is expecting 3 features as input",
        id="too few features",
    ),
    pytest.param(
        "array",
        sparse.csr_matrix(np.c_[X, X]),
        ValueError,
        "X has 6 features, but BackpropClassifier is expecting 3 features as input",
        id="too many features, sparse",
    ),
    pytest.param(
        "frame",
        lambda: frame(X, columns=["a", "b", "z"]),
        ValueError,
        "The feature names should match those that were passed during fit",
        id="unseen feature name",
    ),
    pytest.param(
        "frame",
        lambda: frame(X[:, ::-1], columns=NAMES[::-1]),
        ValueError,
        "Feature names must be in the same order as they were in fit",
        id="features reordered",
    ),
]


@pytest.mark.parametrize("model, X_bad, error, message", PREDICT_DATA)
@pytest.mark.parametrize("method", PREDICT_METHODS)
def test_prediction_refuses_bad_data(fitted, method, model, X_bad, error, message):
    X_bad = materialize(X_bad)
    args = (X_bad, y) if method == "score" else (X_bad,)
    with pytest.raises(error, match=re.escape(message)):
        getattr(fitted[model], method)(*args)


def test_score_refuses_targets_of_another_length(fitted):
    with pytest.raises(ValueError, match=re.escape("inconsistent numbers of samples: [19, 20]")):
        fitted["array"].score(X, y[:-1])


@pytest.mark.parametrize(
    "model, X_other, message",
    [
        pytest.param(
            "array",
            lambda: frame(X, columns=NAMES),
            "X has feature names, but BackpropClassifier was fitted without feature names",
            id="names after a fit without",
        ),
        pytest.param(
            "frame",
            X,
            "X does not have valid feature names, but BackpropClassifier was fitted with feature "
            "names",
            id="no names after a fit with",
        ),
    ],
)
@pytest.mark.parametrize("method", PREDICT_METHODS)
def test_prediction_warns_when_feature_names_come_and_go(fitted, method, model, X_other, message):
    X_other = materialize(X_other)
    args = (X_other, y) if method == "score" else (X_other,)
    with pytest.warns(UserWarning, match=re.escape(message)):
        getattr(fitted[model], method)(*args)


@pytest.mark.parametrize("method", PREDICT_METHODS)
def test_predicting_before_fit_is_refused(method):
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(BackpropClassifier(), method)(*args)
    with pytest.raises(NotFittedError):
        BackpropClassifier().thetas_  # noqa: B018


def small_network(**params):
    return BackpropClassifier(hidden_layer_sizes=(2,), random_state=0, **params)


# BackpropRegressor().fit(X, y): what a regressor refuses of its targets; X, sample weights and
# hyperparameters go through the same code as the classifier's, tested above. id, X, y,
# exception, message.
REGRESSOR_FIT = [
    pytest.param(X, np.array(["a"] * 20), ValueError, "needs numeric targets", id="string y"),
    pytest.param(
        X,
        np.array([1.0] * 19 + ["x"], dtype=object),
        ValueError,
        "could not convert string to float",
        id="object y with a string",
    ),
    pytest.param(X, np.r_[np.nan, np.ones(19)], ValueError, "Input y contains NaN", id="NaN in y"),
    pytest.param(
        X, np.r_[np.inf, np.ones(19)], ValueError, "Input y contains infinity", id="inf in y"
    ),
    pytest.param(
        X, np.ones(19), ValueError, "inconsistent numbers of samples: [20, 19]", id="short y"
    ),
    pytest.param(X, None, ValueError, "requires y to be passed", id="y is None"),
    pytest.param(X, np.ones((20, 1, 1)), ValueError, "Found array with dim 3", id="3-D y"),
    pytest.param(
        X, np.empty((20, 0)), ValueError, "Found array with 0 feature(s)", id="y of no column"
    ),
    pytest.param(X, np.ones(20) + 1j, ValueError, "Complex data not supported", id="complex y"),
    pytest.param(
        X,
        sparse.csr_matrix(np.ones((20, 2))),
        ValueError,
        "needs dense targets, got y as a sparse csr matrix of shape (20, 2): pass y.toarray()",
        id="sparse y",
    ),
    pytest.param(
        X.astype(np.float32),
        np.full(20, 1e39),
        ValueError,
        "beyond the largest float32",
        id="y beyond float32 data",
    ),
    pytest.param(
        X.astype(np.float32),
        np.full(20, 1e20),
        ValueError,
        "whose square overflows float32",
        id="y whose square overflows float32",
    ),
]


@pytest.mark.parametrize("X_bad, y_bad, error, message", REGRESSOR_FIT)
def test_regressor_refuses_bad_targets(X_bad, y_bad, error, message):
    regressor = BackpropRegressor(hidden_layer_sizes=(3,))
    with pytest.raises(error, match=re.escape(message)), numpy_must_not_warn():
        regressor.fit(X_bad, y_bad)
    assert not hasattr(regressor, "n_features_in_")


def test_regressor_early_stopping_needs_two_validation_rows():
    # One held-out row has no R² (scikit-learn's r2_score gives NaN and warns).
    regressor = BackpropRegressor(hidden_layer_sizes=(3,), early_stopping=True)
    with pytest.raises(ValueError, match="holds out fewer than 2"), numpy_must_not_warn():
        regressor.fit(X[:10], np.arange(10.0))


@pytest.mark.parametrize("method", ["predict", "score"])
def test_regressor_prediction_refuses_bad_data(method):
    regressor = BackpropRegressor(hidden_layer_sizes=(3,)).fit(X, np.arange(20.0))
    args = (X[:, :2], np.arange(20.0)) if method == "score" else (X[:, :2],)
    with pytest.raises(ValueError, match="X has 2 features, but BackpropRegressor is expecting 3"):
        getattr(regressor, method)(*args)
    with pytest.raises(NotFittedError):
        getattr(BackpropRegressor(), method)(*args)


# gradient_check(estimator, X, y, sample_weight, epsilon): id, a function that makes the
# estimator, X, y, keyword arguments, exception, message. It validates the estimator's parameters
# and the data as fit does.
GRADIENT_CHECK = [
    pytest.param(
        small_network,
        np.where(X > 1, np.nan, X),
        y,
        {},
        ValueError,
        "Input X contains NaN",
        id="NaN in X",
    ),
    pytest.param(
        small_network, X[:, 0], y, {}, ValueError, "Expected 2D array, got 1D array", id="1-D X"
    ),
    pytest.param(
        small_network,
        X,
        np.zeros(20),
        {},
        ValueError,
        "contains only one class",
        id="one class",
    ),
    pytest.param(
        small_network,
        X,
        y[:-1],
        {},
        ValueError,
        "inconsistent numbers of samples",
        id="length mismatch",
    ),
    pytest.param(
        small_network,
        X,
        y,
        {"sample_weight": -np.ones(20)},
        ValueError,
        "Negative values in data passed to `sample_weight`",
        id="negative sample weights",
    ),
    pytest.param(
        small_network,
        X,
        y,
        {"sample_weight": np.zeros(20)},
        ValueError,
        "zero",
        id="all-zero sample weights",
    ),
    pytest.param(
        lambda: small_network(alpha=-1.0),
        X,
        y,
        {},
        ValueError,
        "'alpha' parameter",
        id="negative alpha",
    ),
    pytest.param(
        lambda: BackpropClassifier(hidden_layer_sizes=(0,)),
        X,
        y,
        {},
        ValueError,
        "hidden_layer_sizes must contain positive",
        id="hidden layer of 0 units",
    ),
    pytest.param(
        lambda: small_network(class_weight={5: 1.0}),
        X,
        y,
        {},
        ValueError,
        "class_weight has keys that are not classes",
        id="class_weight of unknown classes",
    ),
    pytest.param(
        lambda: small_network(warm_start=True).fit(X, y),
        X,
        np.arange(20) % 3,
        {},
        ValueError,
        "warm_start can only continue a fit with the same classes",
        id="warm_start with other classes",
    ),
    *[
        pytest.param(
            small_network,
            X,
            y,
            {"epsilon": epsilon},
            ValueError,
            "epsilon must be a positive finite number",
            id=f"epsilon={epsilon!r}",
        )
        for epsilon in [0, -1.0, np.nan, np.inf, "a", None, np.array([1e-4])]
    ],
    pytest.param(
        small_network,
        X,
        y,
        {"epsilon": True},
        ValueError,
        "epsilon",
        id="epsilon=True",
    ),
    pytest.param(
        small_network,
        X,
        y,
        {"epsilon": 1e-300},
        ValueError,
        "epsilon",
        id="epsilon=1e-300",
    ),
    pytest.param(
        small_network,
        X,
        y,
        {"epsilon": 1e300},
        ValueError,
        "epsilon",
        id="epsilon=1e300",
    ),
    *[
        pytest.param(
            estimator,
            X,
            y,
            {},
            TypeError,
            "estimator must be a BackpropClassifier",
            id=f"estimator {name}",
        )
        for name, estimator in [
            ("a string", lambda: "clf"),
            ("MLPClassifier()", MLPClassifier),
            ("the class itself", lambda: BackpropClassifier),
        ]
    ],
]


@pytest.mark.parametrize("make_estimator, X_bad, y_bad, kwargs, error, message", GRADIENT_CHECK)
def test_gradient_check_refuses_bad_input(make_estimator, X_bad, y_bad, kwargs, error, message):
    estimator = make_estimator()
    with pytest.raises(error, match=re.escape(message)):
        gradient_check(estimator, X_bad, y_bad, **kwargs)


@pytest.mark.parametrize(
    "epsilon",
    [
        1e-4,
        np.float32(1e-3),
        1,
        pytest.param(
            np.int64(1),
        ),
    ],
)
def test_gradient_check_takes_any_positive_real_epsilon(epsilon):
    assert np.isfinite(gradient_check(small_network(), X, y, epsilon=epsilon))


def test_gradient_check_ignores_options_it_does_not_use():
    # It never calls the method, so options the method would refuse are not checked.
    assert gradient_check(small_network(options={"bogus": 1}), X, y) < 1e-8


def test_failed_first_fit_leaves_estimator_unfitted():
    clf = BackpropClassifier()
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.zeros(20))
    assert not hasattr(clf, "n_features_in_")
    assert not any(key.endswith("_") and not key.startswith("__") for key in vars(clf))
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_failed_refit_leaves_previous_model_intact():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    before = {key: value for key, value in vars(clf).items()}
    coefs = [W.copy() for W in clf.coefs_]
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(np.ones((10, 7)), np.zeros(10))
    assert vars(clf).keys() == before.keys()
    assert clf.n_features_in_ == 3
    for W_now, W_before in zip(clf.coefs_, coefs):
        assert_array_equal(W_now, W_before)
    assert clf.predict(X).shape == (20,)


def test_failed_fit_during_optimization_restores_state():
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    coefs = [W.copy() for W in clf.coefs_]
    clf.set_params(options={"bogus": 1})
    with pytest.raises(ValueError, match="does not take the option"):
        clf.fit(X * 2, y)
    for W_now, W_before in zip(clf.coefs_, coefs):
        assert_array_equal(W_now, W_before)


@pytest.mark.parametrize(
    "params, y_bad",
    [
        pytest.param({"early_stopping": True}, np.r_[np.zeros(19), 1], id="early_stopping split"),
        pytest.param({"options": {"bogus": 1}}, y, id="unknown option"),
        pytest.param({"method": lambda fun, x0, **kwargs: None}, y, id="custom method fails"),
    ],
)
def test_refused_fit_leaves_a_random_state_as_it_was(params, y_bad):
    random_state = np.random.RandomState(0)
    before = random_state.get_state()[1].copy()
    clf = BackpropClassifier(hidden_layer_sizes=(3,), random_state=random_state, **params)
    with pytest.raises((ValueError, TypeError)):
        clf.fit(X, y_bad)
    assert_array_equal(random_state.get_state()[1], before)
    assert random_state.uniform() == np.random.RandomState(0).uniform()


def test_dense_method_is_refused_before_anything_of_the_network_size_is_allocated():
    # 600,000 parameters: a dense matrix of 2.9 TB, refused; θ alone would be 4.8 MB and the
    # buffers of one block 48 MB.
    clf = BackpropClassifier(hidden_layer_sizes=(200_000,), method="BFGS")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="dense n-by-n"):
            clf.fit(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def _documented_messages():
    """The message fragment of every row of the tables."""
    tables = [
        FIT_DATA,
        SAMPLE_WEIGHTS,
        PARAMS,
        FIT_COMBINATIONS,
        OVERFLOWING_WEIGHTS,
        PREDICT_DATA,
        REGRESSOR_FIT,
        GRADIENT_CHECK,
    ]
    for table in tables:
        for row in table:
            yield _values(row)[-1]


def test_docs_page_lists_every_message():
    page = " ".join(DOCS_PAGE.read_text(encoding="utf-8").split())
    missing = sorted({message for message in _documented_messages() if message not in page})
    assert not missing, f"docs/bad_input.rst lacks the messages {missing}"
