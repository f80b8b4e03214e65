"""Bad input: each refused with a clear error naming the problem, and no half-fitted estimator."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from sklearn_bp import BackpropClassifier, gradient_check

RNG = np.random.RandomState(0)
X = RNG.normal(size=(20, 3))
y = np.arange(20) % 2

BAD_DATA = [
    ("NaN in X", np.where(X > 1, np.nan, X), y, ValueError, "Input X contains NaN"),
    ("inf in X", np.where(X > 1, np.inf, X), y, ValueError, "Input X contains infinity"),
    ("string X", np.full((20, 3), "a"), y, ValueError, "could not convert string to float"),
    ("empty X", np.empty((0, 3)), np.empty(0), ValueError, "Found array with 0 sample"),
    ("no features", np.empty((20, 0)), y, ValueError, "Found array with 0 feature"),
    ("3-D X", X[:, :, np.newaxis], y, ValueError, "Found array with dim 3"),
    ("1-D X", X[:, 0], y, ValueError, "Expected 2D array, got 1D array"),
    ("length mismatch", X, y[:-1], ValueError, "inconsistent numbers of samples: [20, 19]"),
    ("one class", X, np.zeros(20), ValueError, "contains only one class"),
    ("continuous y", X, np.linspace(0, 1, 20), ValueError, "Unknown label type: continuous"),
    ("NaN in y", X, np.where(y > 0, np.nan, 0), ValueError, "Input y contains NaN"),
    (
        "multiclass-multioutput y",
        X,
        np.c_[np.arange(20) % 3, y],
        ValueError,
        "got 'multiclass-multioutput'",
    ),
    ("complex X", X + 1j, y, ValueError, "Complex data not supported"),
]


@pytest.mark.parametrize(
    "X_bad, y_bad, error, message",
    [case[1:] for case in BAD_DATA],
    ids=[case[0] for case in BAD_DATA],
)
def test_bad_data_is_refused(X_bad, y_bad, error, message):
    with pytest.raises(error, match=re.escape(message)):
        BackpropClassifier().fit(X_bad, y_bad)


BAD_PARAMS = [
    ({"hidden_layer_sizes": (0,)}, ValueError, "hidden_layer_sizes must contain positive"),
    ({"hidden_layer_sizes": (5, -3)}, ValueError, "got -3 in (5, -3)"),
    ({"hidden_layer_sizes": (2.5,)}, TypeError, "hidden_layer_sizes must contain integers"),
    ({"hidden_layer_sizes": (True,)}, TypeError, "got True"),
    ({"hidden_layer_sizes": 0}, ValueError, "'hidden_layer_sizes' parameter"),
    ({"hidden_layer_sizes": "ab"}, ValueError, "'hidden_layer_sizes' parameter"),
    ({"alpha": -1.0}, ValueError, "'alpha' parameter"),
    ({"alpha": np.nan}, ValueError, "'alpha' parameter"),
    ({"tol": -1e-3}, ValueError, "'tol' parameter"),
    ({"max_iter": 0}, ValueError, "'max_iter' parameter"),
    ({"max_iter": 2.0}, ValueError, "'max_iter' parameter"),
    ({"method": "adam"}, ValueError, "'method' parameter"),
    ({"activation": "softplus"}, ValueError, "'activation' parameter"),
    ({"out_activation": "tanh"}, ValueError, "'out_activation' parameter"),
    ({"class_weight": "auto"}, ValueError, "'class_weight' parameter"),
    ({"class_weight": {5: 1.0}}, ValueError, "are not in class_weight"),
    ({"options": [1]}, ValueError, "'options' parameter"),
    ({"options": {"bogus": 1}}, ValueError, "'L-BFGS-B' does not take the option(s) ['bogus']"),
    ({"warm_start": "yes"}, ValueError, "'warm_start' parameter"),
]


@pytest.mark.parametrize("params, error, message", BAD_PARAMS, ids=[str(p) for p, *_ in BAD_PARAMS])
def test_bad_parameters_are_refused_in_fit(params, error, message):
    clf = BackpropClassifier(**params)  # __init__ stores; fit validates
    with pytest.raises(error, match=re.escape(message)):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "sample_weight, message",
    [
        (np.full(20, -1.0), "Negative values in data passed to `sample_weight`"),
        (np.zeros(20), "zero"),  # scikit-learn words it differently across versions
        (np.full(20, np.nan), "Input sample_weight contains NaN"),
        (np.ones(5), "sample_weight.shape == (5,), expected (20,)"),
    ],
)
def test_bad_sample_weights_are_refused(sample_weight, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BackpropClassifier().fit(X, y, sample_weight=sample_weight)


def test_multilabel_target_must_hold_zeros_and_ones():
    Y = np.where(np.c_[y, 1 - y, y] > 0, 1, -1)
    with pytest.raises(
        ValueError, match=re.escape("indicator matrix of 0 and 1, got the values [-1, 1]")
    ):
        BackpropClassifier().fit(X, Y)


def test_class_weight_refused_for_multilabel_targets():
    Y = np.c_[y, 1 - y, y]
    with pytest.raises(ValueError, match="class_weight is not supported for multilabel"):
        BackpropClassifier(class_weight="balanced").fit(X, Y)


def test_softmax_on_multilabel_targets_uses_logistic_units():
    Y = np.c_[y, 1 - y, np.arange(20) % 3 == 0]
    clf = BackpropClassifier(hidden_layer_sizes=(3,), out_activation="softmax").fit(X, Y)
    assert clf.out_activation_ == "logistic"


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba", "score"])
def test_predicting_before_fit_is_refused(method):
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        getattr(BackpropClassifier(), method)(*args)
    with pytest.raises(NotFittedError):
        BackpropClassifier().thetas_  # noqa: B018


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba"])
def test_predicting_with_wrong_number_of_features_is_refused(method):
    clf = BackpropClassifier(hidden_layer_sizes=(3,)).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but BackpropClassifier is expecting 3"):
        getattr(clf, method)(X[:, :2])


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


@pytest.mark.parametrize("epsilon", [0, -1.0, np.nan, np.inf, "a"])
def test_gradient_check_refuses_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon must be a positive finite number"):
        gradient_check(BackpropClassifier(), X, y, epsilon=epsilon)


def test_gradient_check_validates_like_fit():
    with pytest.raises(ValueError, match="'alpha' parameter"):
        gradient_check(BackpropClassifier(alpha=-1.0), X, y)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        gradient_check(BackpropClassifier(), np.where(X > 1, np.nan, X), y)
