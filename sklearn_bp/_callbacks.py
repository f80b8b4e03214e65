"""scikit-learn's callbacks (``sklearn.callback``, scikit-learn 1.9 and later): one task per
iteration of the method.

``est.set_callbacks(ProgressBar())`` draws a bar for a fit, nested under a ``GridSearchCV`` or a
``Pipeline`` that propagates it; ``ScoringMonitor`` scores each iterate. The fit is a task whose
subtasks are the iterations, as in scikit-learn's ``LogisticRegression``: a subtask begins when
the previous iteration ends (the first when the fit starts), and ends with the iterate that the
method hands its callback, where a callback may ask the fit to stop. The subtask begun after the
last iteration never runs; it is ended empty when the method returns.

On an older scikit-learn there is nothing to support: :class:`CallbackSupportMixin` adds no
method, and :func:`fit_task` returns None.
"""

from ._fixes import CallbackSupportMixin
from ._optimize import Stop

__all__ = ["CallbackSupportMixin", "IterationTasks", "fit_task"]


def fit_task(estimator, max_iterations, X, y, metadata):
    """Begin the fit's task for scikit-learn's callbacks; None before scikit-learn 1.9.

    Parameters
    ----------
    estimator : BaseBackprop
        The estimator being fitted.
    max_iterations : int
        Most iterations the method may take: the fit task gets one more subtask, the one begun
        after the last iteration.
    X, y, metadata
        What the callbacks' hooks receive: the validated training data, the targets as given,
        and ``{"sample_weight": ...}`` or None.

    Returns
    -------
    task : FitTask or None
    """
    if not hasattr(estimator, "_init_callback_context"):
        return None
    return FitTask(estimator, max_iterations + 1, X, y, metadata)


class FitTask:
    """The fit as a task of scikit-learn's callbacks, with the data its hooks receive."""

    def __init__(self, estimator, max_subtasks, X, y, metadata):
        self.estimator = estimator
        self.hook_data = {"X": X, "y": y, "metadata": metadata}
        self.context = estimator._init_callback_context(max_subtasks=max_subtasks)
        self.context.call_on_fit_task_begin(estimator=estimator, **self.hook_data)

    def iterations(self, fitted_attributes, theta0):
        """The listener that makes every iteration a subtask (see :class:`IterationTasks`)."""
        return IterationTasks(self, fitted_attributes, theta0)

    def end(self):
        """End the fit's task, once the estimator holds its fitted attributes."""
        self.context.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes={}, **self.hook_data
        )


class IterationTasks:
    """A listener of the monitor: each iteration a subtask of the fit's task.

    Parameters
    ----------
    task : FitTask
        The fit's task.
    fitted_attributes : callable
        ``fitted_attributes(theta) -> dict``: the attributes that make a copy of the estimator
        predict as if the fit had ended at θ. Called only for callbacks that ask for the fitted
        estimator.
    theta0 : ndarray
        The starting parameters, those of the first iteration's beginning.
    """

    def __init__(self, task, fitted_attributes, theta0):
        self.task = task
        self.fitted_attributes = fitted_attributes
        self.begun = 0
        self.current = self._begin(theta0)

    def _begin(self, theta):
        if self.begun >= self.task.context.max_subtasks:
            return None  # a custom method iterating beyond max_iter: no task left to report
        self.begun += 1
        subtask = self.task.context.subcontext(task_name="iteration")
        subtask.call_on_fit_task_begin(
            estimator=self.task.estimator,
            reconstruction_attributes=lambda: self.fitted_attributes(theta),
            **self.task.hook_data,
        )
        return subtask

    def __call__(self, record):
        if self.current is None:
            return None
        stop = self.current.call_on_fit_task_end(
            estimator=self.task.estimator,
            reconstruction_attributes=lambda: self.fitted_attributes(record.theta),
            **self.task.hook_data,
        )
        self.current = self._begin(record.theta)
        return Stop("callback", "Stopped by a scikit-learn callback") if stop else None

    def close(self):
        """End the subtask begun after the last iteration, which never ran, as an empty task."""
        if self.current is not None:
            self.current.call_on_fit_task_end(estimator=self.task.estimator)
            self.current = None
