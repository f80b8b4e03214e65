"""
==============================================
Watching a fit with scikit-learn's callbacks
==============================================

The cost J is what backpropagation minimizes, and ``loss_curve_`` records it after every
iteration. But J is not what we care about in the end: a classifier is judged by its
predictions. Since version 1.9, scikit-learn has callbacks (:mod:`sklearn.callback`) that an
estimator calls while it fits, and both estimators of sklearn-bp support them. The callback
``ScoringMonitor`` scores the model after every iteration with any scikit-learn metric, on
the data passed to ``fit``.

This example sets a ``ScoringMonitor`` on a :class:`~sklearn_bp.BackpropClassifier` at the
end of a pipeline, fits it to the handwritten digits, and plots the accuracy of every iterate,
on the training rows and on test rows, next to the cost J. On scikit-learn versions before 1.9
there are no such callbacks; the example then says so and plots the cost alone.
"""

# %%
# Does this scikit-learn have callbacks?
# --------------------------------------
#
# Estimators that support scikit-learn's callbacks have a ``set_callbacks`` method. With
# scikit-learn 1.6 to 1.8, :class:`~sklearn_bp.BackpropClassifier` works just the same but
# has no such method, and ``sklearn.callback`` cannot be imported.

import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

has_callbacks = hasattr(BackpropClassifier, "set_callbacks")
if has_callbacks:
    print(f"scikit-learn {sklearn.__version__} has callbacks: ScoringMonitor will be used.")
else:
    print(
        f"scikit-learn {sklearn.__version__} has no callbacks (they need version 1.9 or "
        "later): this example will only plot loss_curve_, which every version records."
    )

# %%
# A network at the end of a pipeline
# ----------------------------------
#
# The digits are 1797 images of 8×8 pixels in 10 classes; a quarter of them is kept for
# testing. The network has the course's default shape, one hidden layer of 25 sigmoid units,
# behind a scaler.

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

network = BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, max_iter=500, random_state=0)
model = make_pipeline(StandardScaler(), network)

# %%
# Setting the monitor
# -------------------
#
# Callbacks are set with ``set_callbacks`` on the estimator whose iterations they should see,
# here the network inside the pipeline. ``ScoringMonitor`` calls its scorers with the fitted
# estimator of the moment (which predicts with the parameters after the current iteration)
# and the data that estimator is being fitted to: inside the pipeline, the scaled training
# rows. ``scoring="accuracy"`` would log the training accuracy alone; a dict of scorers logs
# several scores under the names given.
#
# The second scorer below ignores the rows it is given and scores the test rows instead,
# scaled by the pipeline's scaler, which is fitted before the network. That is fine for
# watching a fit, as here, but the test rows must not be used to decide anything, such as when
# to stop: that is the job of the validation rows of ``early_stopping``.

if has_callbacks:
    from sklearn.callback import ScoringMonitor
    from sklearn.metrics import get_scorer

    def test_accuracy(estimator, X, y):
        """Accuracy of the network's current iterate on the (scaled) test rows."""
        return estimator.score(model[0].transform(X_test), y_test)

    monitor = ScoringMonitor(
        scoring={"training accuracy": get_scorer("accuracy"), "test accuracy": test_accuracy}
    )
    network.set_callbacks(monitor)

model.fit(X_train, y_train)
print(f"{network.n_iter_} iterations, J = {network.loss_:.4f}")
print(f"training accuracy {model.score(X_train, y_train):.4f}")
print(f"test accuracy     {model.score(X_test, y_test):.4f}")

# %%
# Reading the monitor's log
# -------------------------
#
# ``monitor.get_logs()`` returns the log of the most recent fit. Its ``data`` is a list of
# rows, one per task that ended: one for every iteration (``task_name == "iteration"``,
# numbered by ``task_id`` from 0) and one for the whole fit (``task_name == "fit"``), each with
# a column per score. (``data_as_pandas`` gives the same rows as a DataFrame, if pandas is
# installed.) Sorted by ``task_id``, the iteration rows are in the order of ``loss_curve_``.

iterations = np.arange(1, network.n_iter_ + 1)
if has_callbacks:
    rows = [row for row in monitor.get_logs().data if row["task_name"] == "iteration"]
    rows.sort(key=lambda row: row["task_id"])
    training = np.array([row["training accuracy"] for row in rows])
    test = np.array([row["test accuracy"] for row in rows])
    print(f"{len(rows)} iteration rows for {network.n_iter_} iterations")
    print("training accuracy after iterations 1 to 5:", training[:5].round(3))

# %%
# The cost and the accuracy, iteration by iteration
# -------------------------------------------------
#
# The upper panel is ``loss_curve_``, J on a logarithmic scale; the lower one the two
# accuracies that the monitor logged. The iteration axis is logarithmic too, to give the first
# few iterations, where most happens, their share of the picture. A dashed line marks the
# first iteration at which the network classifies every training row correctly.

if has_callbacks:
    fig, (ax_loss, ax_accuracy) = plt.subplots(
        2, 1, figsize=(8, 6.5), sharex=True, layout="constrained"
    )
else:
    fig, ax_loss = plt.subplots(figsize=(8, 3.5), layout="constrained")

ax_loss.plot(iterations, network.loss_curve_)
ax_loss.set_xscale("log")
ax_loss.set_yscale("log")
ax_loss.set_yticks([0.3, 0.5, 1, 2, 4], ["0.3", "0.5", "1", "2", "4"])
ax_loss.set_yticks([], minor=True)
ax_loss.set_ylabel("J on the training rows")
ax_loss.set_title("loss_curve_: the cost J after every iteration")

if has_callbacks:
    perfect = int(np.argmax(training)) + 1  # the first iterate with the best training accuracy
    ax_accuracy.plot(iterations, training, color="C1", label="training rows")
    ax_accuracy.plot(iterations, test, color="C2", label="test rows")
    ax_accuracy.set_ylabel("accuracy")
    ax_accuracy.set_title("ScoringMonitor: the accuracy after every iteration")
    ax_accuracy.set_xlabel("iteration")
    ax_accuracy.legend(loc="lower right")
    for ax in (ax_loss, ax_accuracy):
        ax.axvline(perfect, color="k", linestyle="--", linewidth=1)
    ax_loss.annotate(
        f"iteration {perfect}: training accuracy {training[perfect - 1]:.0%}",
        xy=(perfect, network.loss_curve_[perfect - 1]),
        xytext=(1.1, 0.33),
        arrowprops=dict(arrowstyle="->"),
    )
    print(
        f"iteration {perfect}: J = {network.loss_curve_[perfect - 1]:.4f}, "
        f"training accuracy {training[perfect - 1]:.4f}, test accuracy {test[perfect - 1]:.4f}"
    )
else:
    ax_loss.set_xlabel("iteration")
plt.show()

# %%
# The curves tell different stories. Both accuracies climb steeply, from chance (about 10% for
# ten classes) to above 95% in fifteen iterations, while J falls by an order of magnitude. By
# iteration 30 every training row is classified correctly, and from there on the accuracies
# hardly move: the test accuracy stays within a row or two of 98% to the end. J keeps falling
# for another 150 iterations, but slowly, by little more than a tenth in all. Those iterations
# change almost no prediction; they make the network a little more sure of the ones it has,
# pushing the output of the right unit towards 1 and the others towards 0, against the penalty
# on the weights. On this problem a looser ``tol`` gives as good a classifier in a fraction of
# the iterations: with ``tol=1e-3`` the fit ends after 34 iterations, at 98% test accuracy.
#
# A ``ScoringMonitor`` takes any scorer or several; each is computed after every iteration, at
# the cost of a prediction on all the rows it scores. On versions of scikit-learn before 1.9,
# or to act on what you see during the fit, use the estimator's own ``callback`` parameter,
# which receives the parameters after every iteration and can end the fit by returning
# ``True``.
