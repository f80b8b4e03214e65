"""Behaviour of BackpropClassifier as a scikit-learn estimator."""

import pickle
import warnings
from fractions import Fraction

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from scipy.special import expit, softmax
from sklearn import config_context
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    make_blobs,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, EfficiencyWarning
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

from .course_reference import cost
from .support import fit_objective


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def small():
    X, y = make_classification(
        n_samples=200, n_features=20, n_informative=8, n_classes=3, random_state=0
    )
    return X, y


def fit_quietly(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


def test_digits_pipeline_reaches_095_held_out_accuracy(digits):
    X_train, X_test, y_train, y_test = digits
    model = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, max_iter=400, random_state=0),
    )
    model.fit(X_train, y_train)
    assert model.score(X_test, y_test) >= 0.95


def test_cross_val_score_and_grid_search(small):
    X, y = small
    model = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(8,), alpha=1.0, max_iter=1000, random_state=0),
    )
    scores = cross_val_score(model, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6

    search = GridSearchCV(
        model,
        {
            "backpropclassifier__alpha": [0.1, 10.0],
            "backpropclassifier__hidden_layer_sizes": [(4,), (8,)],
        },
        cv=3,
        n_jobs=2,
    )
    search.fit(X, y)
    assert set(search.best_params_) == {
        "backpropclassifier__alpha",
        "backpropclassifier__hidden_layer_sizes",
    }
    assert search.best_score_ == search.cv_results_["mean_test_score"].max()
    assert search.predict(X).shape == y.shape


def test_loss_is_course_cost_at_returned_parameters(small):
    X, y = small
    sample_weight = np.random.RandomState(0).uniform(0.5, 2.0, size=y.size)
    for out_activation in ["logistic", "softmax"]:
        clf = BackpropClassifier(
            hidden_layer_sizes=(6,), out_activation=out_activation, alpha=2.0, random_state=0
        )
        fit_quietly(clf, X, y, sample_weight=sample_weight)
        expected = cost(
            clf.thetas_, X, np.eye(3)[y], 2.0, sample_weight, "logistic", out_activation
        )
        assert_allclose(clf.loss_, expected, rtol=1e-10)


def test_fitted_attributes_and_layouts(small):
    X, y = small
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(7, 5), random_state=0), X, y)
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 20
    assert [W.shape for W in clf.coefs_] == [(20, 7), (7, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (3,)]
    assert [T.shape for T in clf.thetas_] == [(7, 21), (5, 8), (3, 6)]
    for Theta, W, b in zip(clf.thetas_, clf.coefs_, clf.intercepts_):
        assert_array_equal(Theta[:, 0], b)
        assert_array_equal(Theta[:, 1:], W.T)
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_) == (4, 3, "logistic")
    assert 1 <= clf.n_iter_ <= clf.max_iter
    assert clf.optimize_result_["fun"] == clf.loss_


def test_binary_target_uses_one_output_unit():
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    labels = np.array(["no", "yes"])[y]
    clf = BackpropClassifier(hidden_layer_sizes=(4,), out_activation="softmax", random_state=0).fit(
        X, labels
    )
    assert clf.n_outputs_ == 1 and clf.coefs_[-1].shape == (4, 1)
    assert clf.out_activation_ == "logistic"  # one sigmoid is the two-class softmax
    proba = clf.predict_proba(X)
    assert proba.shape == (100, 2)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.predict(X), np.array(["no", "yes"])[(proba[:, 1] > 0.5).astype(int)])
    assert clf.score(X, labels) > 0.9


@pytest.mark.parametrize("out_activation", ["logistic", "softmax"])
def test_multiclass_probabilities_sum_to_one(small, out_activation):
    X, y = small
    clf = fit_quietly(
        BackpropClassifier(hidden_layer_sizes=(6,), out_activation=out_activation, random_state=0),
        X,
        y,
    )
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=150, n_features=10, n_classes=4, random_state=0)
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(10,), random_state=0), X, Y)
    assert clf.n_outputs_ == 4
    assert_array_equal(clf.classes_, np.arange(4))
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 4)
    assert np.all((proba >= 0) & (proba <= 1))
    prediction = clf.predict(X)
    assert prediction.dtype == Y.dtype
    assert_array_equal(prediction, (proba > 0.5).astype(Y.dtype))
    assert clf.score(X, Y) > 0.5  # subset accuracy
    sparse_fit = fit_quietly(
        BackpropClassifier(hidden_layer_sizes=(10,), random_state=0), X, sparse.csr_matrix(Y)
    )
    assert_allclose(sparse_fit.coefs_[0], clf.coefs_[0])


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_matrix, sparse.csr_array])
def test_sparse_input_gives_same_model_as_dense(small, container):
    X, y = small
    X = np.where(np.abs(X) < 0.8, 0.0, X)
    dense = BackpropClassifier(hidden_layer_sizes=(8,), alpha=1.0, random_state=0).fit(X, y)
    sparse_ = BackpropClassifier(hidden_layer_sizes=(8,), alpha=1.0, random_state=0).fit(
        container(X), y
    )
    for W_dense, W_sparse in zip(dense.coefs_, sparse_.coefs_):
        assert_allclose(W_sparse, W_dense, atol=1e-6)
    assert_allclose(sparse_.predict_proba(container(X)), dense.predict_proba(X), atol=1e-6)


def test_integer_sample_weights_equal_repeated_rows(small):
    X, y = small
    weight = np.random.RandomState(0).randint(0, 4, size=y.size)
    weighted = BackpropClassifier(hidden_layer_sizes=(8,), alpha=1.0, random_state=0)
    weighted.fit(X, y, sample_weight=weight)
    repeated = BackpropClassifier(hidden_layer_sizes=(8,), alpha=1.0, random_state=0)
    repeated.fit(np.repeat(X, weight, axis=0), np.repeat(y, weight))
    for W_weighted, W_repeated in zip(weighted.coefs_, repeated.coefs_):
        assert_allclose(W_weighted, W_repeated, atol=1e-6)
    assert_allclose(weighted.loss_, repeated.loss_, rtol=1e-8)


def test_balanced_class_weight_raises_minority_recall():
    X, y = make_classification(
        n_samples=600, n_features=10, weights=[0.95], class_sep=0.5, flip_y=0, random_state=0
    )
    params = dict(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    plain = fit_quietly(BackpropClassifier(**params), X, y)
    balanced = fit_quietly(BackpropClassifier(class_weight="balanced", **params), X, y)
    assert recall_score(y, balanced.predict(X)) > recall_score(y, plain.predict(X))


def test_class_weight_dict_equals_sample_weight(small):
    X, y = small
    class_weight = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class = BackpropClassifier(
        hidden_layer_sizes=(4,), class_weight=class_weight, random_state=0
    )
    by_sample = BackpropClassifier(hidden_layer_sizes=(4,), random_state=0)
    fit_quietly(by_class, X, y)
    fit_quietly(by_sample, X, y, sample_weight=np.array([1.0, 3.0, 0.5])[y])
    assert_allclose(by_class.coefs_[0], by_sample.coefs_[0])


def test_warm_start_continues_from_previous_parameters(small):
    X, y = small
    clf = BackpropClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0)
    fit_quietly(clf, X, y)
    first_loss = clf.loss_
    cold_one_step = fit_quietly(
        BackpropClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=0), X, y
    )
    clf.set_params(warm_start=True, max_iter=1)
    fit_quietly(clf, X, y)
    # One more iteration from the previous optimum: no worse than it, far better than one
    # iteration from a fresh start.
    assert clf.loss_ <= first_loss
    assert clf.loss_ < 0.5 * cold_one_step.loss_


def test_warm_start_refuses_other_classes(small):
    X, y = small
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), warm_start=True), X, y)
    with pytest.raises(
        ValueError, match="warm_start can only continue a fit with the same classes"
    ):
        clf.fit(X, np.where(y == 2, 1, y))


def test_same_random_state_gives_same_model(small):
    X, y = small
    models = [
        fit_quietly(BackpropClassifier(hidden_layer_sizes=(8,), random_state=seed), X, y)
        for seed in (3, 3, 4)
    ]
    for W_a, W_b in zip(models[0].coefs_, models[1].coefs_):
        assert_array_equal(W_a, W_b)
    assert not np.allclose(models[0].coefs_[0], models[2].coefs_[0])


def test_float32_is_kept_end_to_end(small):
    X, y = small
    params = dict(hidden_layer_sizes=(8,), alpha=1.0, random_state=0)
    clf64 = fit_quietly(BackpropClassifier(**params), X, y)
    clf32 = fit_quietly(BackpropClassifier(**params), X.astype(np.float32), y)
    proba32 = clf32.predict_proba(X.astype(np.float32))
    assert proba32.dtype == np.float32
    assert clf32.predict_log_proba(X.astype(np.float32)).dtype == np.float32
    assert clf64.predict_proba(X).dtype == np.float64
    assert abs(clf32.score(X, y) - clf64.score(X, y)) <= 0.02


def test_convergence_warning_on_iteration_limit_points_at_the_caller(small):
    X, y = small
    with pytest.warns(
        ConvergenceWarning, match=r"after 3 iteration.*LIMIT\. Increase max_iter"
    ) as record:
        clf = BackpropClassifier(max_iter=3, random_state=0).fit(X, y)
    assert clf.n_iter_ == 3
    assert record[0].filename == __file__


def test_warnings_of_a_grid_search_point_at_the_caller(small):
    # With n_jobs=1 joblib runs the fits itself: its frames are passed by, as scikit-learn's.
    X, y = small
    search = GridSearchCV(BackpropClassifier(max_iter=3), {"alpha": [1.0]}, cv=2, n_jobs=1)
    with pytest.warns(ConvergenceWarning, match="Increase max_iter") as record:
        search.fit(X, y)
    assert len(record) == 3  # two folds and the refit
    assert {warning.filename for warning in record} == {__file__}


def test_n_iter_counts_iterations_allowed_by_options(small):
    X, y = small
    with pytest.warns(ConvergenceWarning, match=r"after 12 iteration"):
        clf = BackpropClassifier(max_iter=5, tol=0, options={"maxiter": 12}).fit(X, y)
    assert clf.n_iter_ == 12


def test_tol_zero_runs_to_max_iter_and_options_override(small):
    X, y = small
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), tol=0, max_iter=25), X, y)
    assert clf.n_iter_ == 25
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), options={"maxiter": 7}), X, y)
    assert clf.optimize_result_["nit"] == 7


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "CG", "TNC", "SLSQP"])
def test_methods_fit(small, method):
    X, y = small
    X = StandardScaler().fit_transform(X)
    clf = fit_quietly(
        BackpropClassifier(hidden_layer_sizes=(6,), method=method, max_iter=100, random_state=0),
        X,
        y,
    )
    assert clf.score(X, y) > 0.8
    assert np.isfinite(clf.loss_)


def test_verbose_prints_one_line_per_iteration(small, capsys):
    X, y = small
    fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), max_iter=5, tol=0, verbose=1), X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("Iteration    1, loss = ")


def test_no_hidden_layer_is_logistic_regression(small):
    X, y = small
    clf = BackpropClassifier(hidden_layer_sizes=(), alpha=1.0, random_state=0).fit(X, y)
    assert [W.shape for W in clf.coefs_] == [(20, 3)]
    assert clf.n_layers_ == 2
    assert clf.score(X, y) > 0.6


def test_integer_hidden_layer_sizes(small):
    X, y = small
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=3, random_state=0), X, y)
    assert clf.coefs_[0].shape == (20, 3)


def test_dataframe_feature_names(small):
    pd = pytest.importorskip("pandas")
    X, y = small
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), random_state=0), frame, y)
    assert_array_equal(clf.feature_names_in_, frame.columns)
    assert_array_equal(clf.predict(frame), clf.predict_proba(frame).argmax(axis=1))


def test_pickle_round_trip(small):
    X, y = small
    clf = fit_quietly(BackpropClassifier(hidden_layer_sizes=(4,), random_state=0), X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_fit_and_prediction_over_row_blocks_equal_one_block(small):
    X, y = small
    params = dict(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
    clf = BackpropClassifier(**params).fit(X, y)
    whole = clf.predict_proba(X)
    with config_context(working_memory=0.002):  # about a dozen rows per block
        blocked_model = BackpropClassifier(**params).fit(X, y)
        blocked = clf.predict_proba(X)
    assert_allclose(blocked, whole, rtol=1e-12)
    assert blocked_model.n_iter_ < blocked_model.max_iter  # both converged to the same optimum
    assert_allclose(blocked_model.loss_, clf.loss_, rtol=1e-9)
    assert_allclose(blocked_model.predict_proba(X), whole, atol=1e-5)


def test_predict_agrees_with_predict_proba_on_saturated_outputs():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 2)), rng.randint(3, size=60)
    clf = BackpropClassifier(hidden_layer_sizes=(), random_state=0).fit(X, y)
    proba = clf.predict_proba(X * 1e6)  # outputs saturate: probabilities round to ties
    assert_array_equal(clf.predict(X * 1e6), clf.classes_[proba.argmax(axis=1)])


def theta_of(clf):
    """The flat θ of a fitted estimator: per layer, the bias row, then W (``_network``)."""
    return np.concatenate([np.vstack([b, W]).ravel() for W, b in zip(clf.coefs_, clf.intercepts_)])


def test_keyboard_interrupt_keeps_the_best_parameters_so_far(small):
    X, y = small
    losses = []

    def interrupt_at_the_fifth(iteration, loss, *args):
        # Ctrl-C during the fit: the callback is where the user's code runs inside it.
        losses.append(loss)
        if iteration == 5:
            raise KeyboardInterrupt

    clf = BackpropClassifier(
        hidden_layer_sizes=(4,), alpha=1.0, random_state=0, callback=interrupt_at_the_fifth
    )
    with pytest.warns(UserWarning, match=r"interrupted \(KeyboardInterrupt\)"):
        clf.fit(X, y)
    assert len(losses) == 5
    # The estimator is usable, and holds an evaluated point with J no higher than any iterate.
    assert clf.predict(X).shape == y.shape
    objective = fit_objective(BackpropClassifier(hidden_layer_sizes=(4,), alpha=1.0), X, y)
    assert_allclose(objective.loss(theta_of(clf)), clf.loss_, rtol=1e-12)
    assert clf.loss_ <= min(losses)
    assert clf.optimize_result_["status"] == -1


def interrupted_before_evaluating(fun, x0, **kwargs):
    """A method that is interrupted before it evaluates J at all."""
    raise KeyboardInterrupt


def test_keyboard_interrupt_before_any_evaluation_leaves_estimator_as_before(small):
    X, y = small
    clf = BackpropClassifier(hidden_layer_sizes=(4,), method=interrupted_before_evaluating)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "n_features_in_")


def test_non_finite_cost_stops_the_fit_with_a_clear_error():
    # Identity units on features near the largest float: z(2) overflows to inf at the start.
    X = np.full((20, 10), 1e308)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), activation="identity", random_state=0)
    with pytest.raises(ValueError, match="became non-finite"):
        clf.fit(X, np.arange(20) % 2)
    assert not hasattr(clf, "coefs_")


@pytest.mark.parametrize(
    "out_activation, target",
    [
        ("logistic", "binary"),
        ("logistic", "multiclass"),
        ("softmax", "multiclass"),
        ("logistic", "multilabel"),
    ],
)
def test_decision_function_is_the_output_layers_input(small, out_activation, target):
    X, y = small
    Y = {"binary": y % 2, "multiclass": y, "multilabel": np.c_[y == 0, y == 1, y % 2]}[target]
    clf = fit_quietly(
        BackpropClassifier(
            hidden_layer_sizes=(6,), out_activation=out_activation, max_iter=50, random_state=0
        ),
        X,
        Y,
    )
    Z = clf.decision_function(X)
    # The course's forward pass, written out from thetas_: z(L) = Θ(L−1) [1; a(L−1)].
    A = X
    for Theta in clf.thetas_[:-1]:
        A = expit(np.c_[np.ones(len(A)), A] @ Theta.T)
    expected = np.c_[np.ones(len(A)), A] @ clf.thetas_[-1].T
    proba = clf.predict_proba(X)
    if target == "binary":
        assert Z.shape == (200,)
        assert_allclose(Z, expected.ravel(), rtol=1e-10)
        assert_allclose(expit(Z), proba[:, 1], rtol=1e-12)
        assert_array_equal(clf.predict(X), clf.classes_[(Z > 0).astype(int)])
        return
    assert_allclose(Z, expected, rtol=1e-10)
    if target == "multilabel":
        assert_allclose(expit(Z), proba, rtol=1e-12)
    elif out_activation == "softmax":
        assert_allclose(softmax(Z, axis=1), proba, rtol=1e-12)
    else:
        assert_allclose(expit(Z) / expit(Z).sum(axis=1, keepdims=True), proba, rtol=1e-12)
    assert Z.dtype == np.float64
    assert clf.decision_function(X.astype(np.float32)).dtype == np.float32


def test_unscaled_features_warn_that_hidden_units_start_saturated():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(UserWarning, match=r"start saturated.*StandardScaler"):
        fit_quietly(BackpropClassifier(random_state=0, max_iter=5), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0, max_iter=5))
        fit_quietly(model, X, y)
        # ReLU units have no plateau to start on.
        fit_quietly(BackpropClassifier(activation="relu", random_state=0, max_iter=5), X, y)


def test_fitted_model_keeps_a_summary_of_the_result_not_the_solver_state(digits):
    X_train, _, y_train, _ = digits
    clf = make_pipeline(
        StandardScaler(), BackpropClassifier(alpha=1.0, max_iter=500, random_state=0)
    )
    clf.fit(X_train, y_train)
    result = clf[-1].optimize_result_
    assert set(result) == {
        "success",
        "status",
        "message",
        "fun",
        "gradient_norm",
        "nit",
        "nfev",
        "nhev",
    }
    assert all(type(value) in (bool, int, float, str) for value in result.values())
    assert result["fun"] == clf[-1].loss_ and result["nit"] == clf[-1].n_iter_
    # MLPClassifier's pickle of the same network takes 37 kB; L-BFGS-B's memory alone 332 kB.
    assert len(pickle.dumps(clf[-1])) < 40_000


def test_n_iter_no_change_may_be_infinite_as_in_mlpclassifier(small):
    X, y = small
    clf = BackpropClassifier(
        hidden_layer_sizes=(5,),
        early_stopping=True,
        n_iter_no_change=np.inf,
        tol=0,
        max_iter=25,
        random_state=0,
    )
    fit_quietly(clf, X, y)
    assert clf.n_iter_ == 25 and len(clf.validation_scores_) == 25


def test_zero_dimensional_hidden_layer_sizes_is_its_number(small):
    X, y = small
    zero_d = BackpropClassifier(hidden_layer_sizes=np.array(4), max_iter=5, random_state=0)
    plain = BackpropClassifier(hidden_layer_sizes=4, max_iter=5, random_state=0)
    assert_array_equal(fit_quietly(zero_d, X, y).coefs_[0], fit_quietly(plain, X, y).coefs_[0])


def test_fractions_are_real_numbers(small):
    X, y = small
    params = dict(hidden_layer_sizes=(4,), max_iter=10, early_stopping=True, random_state=0)
    exact = BackpropClassifier(
        class_weight={0: Fraction(1, 2), 1: 1, 2: 1},
        validation_fraction=Fraction(1, 5),
        alpha=Fraction(1, 4),
        tol=Fraction(1, 10**5),
        **params,
    )
    floats = BackpropClassifier(
        class_weight={0: 0.5, 1: 1.0, 2: 1.0},
        validation_fraction=0.2,
        alpha=0.25,
        tol=1e-5,
        **params,
    )
    assert_array_equal(fit_quietly(exact, X, y).coefs_[0], fit_quietly(floats, X, y).coefs_[0])


def validation_rows(clf, y):
    """The rows early stopping held out, drawn again from the seed the estimator keeps."""
    return train_test_split(
        np.arange(len(y)),
        test_size=clf.validation_fraction,
        stratify=y,
        random_state=clf._validation_split[0],
    )[1]


def test_early_stopping_attributes_describe_the_returned_parameters_under_warm_start(small):
    X, y = small
    y = np.where(np.random.RandomState(1).uniform(size=200) < 0.3, (y + 1) % 3, y)  # noisy
    clf = BackpropClassifier(
        hidden_layer_sizes=(20,),
        alpha=1e-4,
        early_stopping=True,
        n_iter_no_change=3,
        validation_fraction=0.3,
        warm_start=True,
        random_state=0,
    )
    for _ in range(3):
        fit_quietly(clf, X, y)
        rows = validation_rows(clf, y)
        assert clf.score(X[rows], y[rows]) == clf.best_validation_score_
    first_seed = clf._validation_split[0]
    fit_quietly(clf, X, y)
    assert clf._validation_split[0] == first_seed
    # The start of a warm-started fit was the previous fit's best: a fit that finds nothing
    # better returns it, and keeps its score.
    best = clf.best_validation_score_
    coefs = [W.copy() for W in clf.coefs_]
    fit_quietly(clf.set_params(max_iter=2), X, y)
    if max(clf.validation_scores_[-2:]) <= best:
        assert clf.best_validation_score_ == best
        assert_array_equal(clf.coefs_[0], coefs[0])


def test_early_stopping_when_the_method_stops_before_its_first_iteration():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = BackpropClassifier(early_stopping=True, tol=1.0, random_state=0).fit(X, y)
    plain = BackpropClassifier(tol=1.0, random_state=0).fit(X, y)
    assert clf.n_iter_ == plain.n_iter_ == 0
    assert clf.validation_scores_ == [] and clf.loss_curve_ == []
    rows = validation_rows(clf, y)
    assert clf.best_validation_score_ == clf.score(X[rows], y[rows])


@pytest.mark.parametrize("method", ["BFGS", "SLSQP"])
def test_dense_methods_warn_when_the_network_makes_them_slow(digits, method):
    X_train, _, y_train, _ = digits
    X = StandardScaler().fit_transform(X_train)
    with pytest.warns(EfficiencyWarning, match=rf"Method '{method}' updates a dense"):
        fit_quietly(BackpropClassifier(method=method, max_iter=1, random_state=0), X, y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EfficiencyWarning)
        small_network = BackpropClassifier(hidden_layer_sizes=(5,), method=method, max_iter=1)
        fit_quietly(small_network, X, y_train)


@pytest.mark.parametrize("method", ["SLSQP", "TNC", "L-BFGS-B"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_is_never_negative_on_separable_data(method, dtype):
    # Once written m + log S − y·z, the softmax cost cancelled to −7.6e-15 here (−4e-6 in
    # float32): m − y·z and log S are each at least 0 as computed.
    X, y = make_blobs(n_samples=60, centers=3, cluster_std=0.3, random_state=0)
    clf = BackpropClassifier(
        hidden_layer_sizes=(),
        out_activation="softmax",
        alpha=0,
        tol=0,
        max_iter=3000,
        method=method,
        random_state=0,
    )
    fit_quietly(clf, X.astype(dtype), y)
    assert clf.loss_ >= 0 and min(clf.loss_curve_) >= 0
    assert clf.loss_ < 1e-5
