"""scikit-learn's callbacks (``sklearn.callback``, 1.9 and later): one task per iteration,
nested under GridSearchCV and Pipeline, scores per iteration, stops on request."""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor

HAS_CALLBACKS = hasattr(BackpropClassifier, "set_callbacks")
needs_callbacks = pytest.mark.skipif(
    not HAS_CALLBACKS, reason=f"scikit-learn {sklearn.__version__} has no sklearn.callback"
)


def _data():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


class Recorder:
    """A FitCallback that records every hook call: (hook, estimator, task path, task name)."""

    def __init__(self, stop_at=None):
        self.calls = []
        self.stop_at = stop_at

    def setup(self, estimator, context):
        self.calls.append(("setup", type(estimator).__name__, None, context.task_name))

    def teardown(self, estimator, context):
        self.calls.append(("teardown", type(estimator).__name__, None, context.task_name))

    def _path(self, context):
        path = []
        while context is not None:
            path.append(context.task_id)
            context = context.parent
        return tuple(reversed(path))

    def on_fit_task_begin(self, estimator, context):
        self.calls.append(
            ("begin", type(estimator).__name__, self._path(context), context.task_name)
        )

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        self.calls.append(("end", type(estimator).__name__, self._path(context), context.task_name))
        if context.task_name == "iteration" and fitted_estimator is not None:
            self.calls.append(("coefs", fitted_estimator.coefs_))
        return self.stop_at is not None and context.task_id + 1 == self.stop_at


@needs_callbacks
@pytest.mark.parametrize("Estimator", [BackpropClassifier, BackpropRegressor])
def test_every_iteration_is_a_task(Estimator):
    X, y = _data()
    recorder = Recorder()
    seen = []
    model = Estimator(
        hidden_layer_sizes=(4,),
        max_iter=12,
        random_state=0,
        # Our own callback goes on working beside scikit-learn's: it sees the same iterates.
        callback=lambda it, loss, gnorm, coefs, intercepts: seen.append([c.copy() for c in coefs]),
    )
    with pytest.warns(ConvergenceWarning, match="after 12 iteration"):  # stopped at 12 tasks
        model.set_callbacks(recorder).fit(X, y)
    calls = [call for call in recorder.calls if call[0] != "coefs"]
    n = model.n_iter_
    assert calls[0] == ("setup", Estimator.__name__, None, "fit")
    assert calls[1] == ("begin", Estimator.__name__, (0,), "fit")
    # Each iteration begins and ends, then the next begins; the one begun after the last
    # iteration never runs and is ended empty; then the fit ends and the callback is torn down.
    expected = []
    for i in range(n + 1):
        expected += [("begin", Estimator.__name__, (0, i), "iteration")]
        expected += [("end", Estimator.__name__, (0, i), "iteration")]
    assert calls[2:-2] == expected
    assert calls[-2:] == [
        ("end", Estimator.__name__, (0,), "fit"),
        ("teardown", Estimator.__name__, None, "fit"),
    ]
    # The fitted estimator handed to an iteration's end has that iteration's parameters.
    coefs = [call[1] for call in recorder.calls if call[0] == "coefs"]
    assert len(coefs) == n == len(seen)
    for mine, theirs in zip(coefs, seen):
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(a, b)


@needs_callbacks
def test_callbacks_change_nothing_in_the_fit():
    X, y = _data()
    plain = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    watched = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0)
    watched.set_callbacks(Recorder()).fit(X, y)
    for a, b in zip(plain.coefs_, watched.coefs_):
        np.testing.assert_array_equal(a, b)
    assert plain.loss_curve_ == watched.loss_curve_
    assert not hasattr(watched, "_callback_fit_ctx")


@needs_callbacks
@pytest.mark.parametrize("method", ["L-BFGS-B", "L-BFGS", "Newton-CG", "trust-constr"])
def test_a_callback_can_stop_the_fit(method):
    X, y = _data()
    model = BackpropClassifier(hidden_layer_sizes=(4,), method=method, tol=0, random_state=0)
    model.set_callbacks(Recorder(stop_at=3)).fit(X, y)
    assert model.n_iter_ == 3
    assert len(model.loss_curve_) == 3
    assert model.optimize_result_["stopped_by"] == "callback"
    assert model.optimize_result_["message"] == "Stopped by a scikit-learn callback"


@needs_callbacks
def test_scoring_monitor_scores_every_iterate():
    from sklearn.callback import ScoringMonitor

    X, y = _data()
    monitor = ScoringMonitor(scoring="accuracy")
    iterates = []
    model = BackpropClassifier(
        hidden_layer_sizes=(3,),
        max_iter=10,
        random_state=0,
        callback=lambda it, loss, gnorm, coefs, intercepts: iterates.append(
            ([c.copy() for c in coefs], [b.copy() for b in intercepts])
        ),
    )
    with pytest.warns(sklearn.exceptions.ConvergenceWarning):
        model.set_callbacks(monitor).fit(X, y)
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "iteration"]
    assert len(rows) == model.n_iter_ == len(iterates)
    # An independent forward pass with each iterate's parameters gives the logged accuracy.
    for row, (coefs, intercepts) in zip(rows, iterates):
        A = X
        for W, b in zip(coefs[:-1], intercepts[:-1]):
            A = 1 / (1 + np.exp(-(A @ W + b)))
        predicted = (A @ coefs[-1] + intercepts[-1]).argmax(axis=1)
        assert row["accuracy"] == accuracy_score(y, predicted)
    assert rows[-1]["accuracy"] == model.score(X, y)


@needs_callbacks
def test_callbacks_under_grid_search_and_pipeline():
    from sklearn.callback import ScoringMonitor

    X, y = _data()
    recorder = Recorder()
    monitor = ScoringMonitor(scoring="accuracy")
    pipeline = make_pipeline(
        StandardScaler(), BackpropClassifier(hidden_layer_sizes=(3,), max_iter=400, random_state=0)
    )
    pipeline[-1].set_callbacks(recorder, monitor)
    search = GridSearchCV(pipeline, {"backpropclassifier__alpha": [0.1, 10.0]}, cv=2)
    search.fit(X, y)
    fits = [call for call in recorder.calls if call[0] == "begin" and call[3] == "fit"]
    assert len(fits) == 2 * 2 + 1  # every candidate and split, and the refit
    # One run, the search's, with the iterations of each of the 5 fits under their own task.
    log = monitor.get_logs()
    assert log.estimator_name == "GridSearchCV"
    fits = {}
    for row in log.data:
        if row["task_name"] == "iteration":
            fits.setdefault(row["parent_task_id_path"], []).append(row)
    assert len(fits) == 5
    # The refit (the search's second task) scores the best estimator's iterates, the last its own.
    (refit_rows,) = [rows for path, rows in fits.items() if path[:2] == (0, 1)]
    refit = search.best_estimator_[-1]
    assert len(refit_rows) == refit.n_iter_
    Xs = search.best_estimator_[0].transform(X)
    assert refit_rows[-1]["accuracy"] == refit.score(Xs, y)


@needs_callbacks
def test_progress_bar_is_drawn_for_a_fit_a_pipeline_and_a_search(capsys):
    pytest.importorskip("rich")
    from sklearn.callback import ProgressBar

    X, y = _data()
    model = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0)
    model.set_callbacks(ProgressBar()).fit(X, y)
    assert "BackpropClassifier - fit" in capsys.readouterr().out

    pipeline = make_pipeline(StandardScaler(), BackpropClassifier(hidden_layer_sizes=(3,)))
    pipeline.set_callbacks(ProgressBar()).fit(X, y)
    assert "fit-final-estimator | BackpropClassifier - fit" in capsys.readouterr().out

    search = GridSearchCV(BackpropClassifier(hidden_layer_sizes=(3,)), {"alpha": [1.0]}, cv=2)
    search.set_callbacks(ProgressBar()).fit(X, y)
    out = capsys.readouterr().out
    assert "candidate-split-evaluation | BackpropClassifier - fit" in out
    assert "refit-with-best-params | BackpropClassifier - fit" in out


@needs_callbacks
def test_failed_fit_tears_the_callbacks_down():
    X, y = _data()
    recorder = Recorder()
    model = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0)
    model.set_callbacks(recorder)

    def fail(*args):
        raise RuntimeError("stop here")

    model.set_params(callback=fail)
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(X, y)
    assert recorder.calls[-1][0] == "teardown"
    assert not hasattr(model, "coefs_")
    assert not hasattr(model, "_callback_fit_ctx")
    assert model._skl_callbacks == [recorder]


@pytest.mark.skipif(HAS_CALLBACKS, reason="scikit-learn >= 1.9 has sklearn.callback")
def test_without_sklearn_callbacks_the_estimators_fit_as_before():
    X, y = _data()
    model = BackpropClassifier(hidden_layer_sizes=(3,), random_state=0).fit(X, y)
    assert model.n_iter_ == len(model.loss_curve_)
    assert not hasattr(model, "set_callbacks")
