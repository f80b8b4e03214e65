"""
=======================================
Early stopping and the two loss curves
=======================================

A network with many more weights than training examples can learn the noise in its training
data: the cost J on the training rows keeps going down, while the predictions on new rows get
worse. Early stopping watches the second thing directly. With ``early_stopping=True``,
:class:`~sklearn_bp.BackpropClassifier` holds out ``validation_fraction`` of the training rows,
scores every iterate of the optimizer on them, ends the fit once the score has stopped improving
for ``n_iter_no_change`` iterations, and returns the iterate that scored best.

This example fits a large network with almost no weight penalty to a small, noisy
two-class problem, plots the cost on the training rows next to the cost on the held-out rows,
marks the iteration that early stopping chose and the one where it stopped, and compares the
accuracy on a large test set with that of the same network trained to convergence.
"""

# %%
# A small, noisy problem
# ----------------------
#
# ``make_moons`` draws two interleaving half circles; with ``noise=0.4`` the classes overlap
# so much that no boundary separates them, and the best possible accuracy is well below 100%.
# The network is trained on 200 points and tested on 1000 others. One hidden layer of 100
# units has 401 weights, twice as many as there are training points, and ``alpha=1e-5``
# leaves them all but unpenalized: enough freedom to draw a boundary around every single
# training point. ``tol=1e-7`` lets L-BFGS-B run until the cost really stops moving.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from sklearn_bp import BackpropClassifier

X, y = make_moons(n_samples=1200, noise=0.4, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, train_size=200, stratify=y, random_state=0
)

params = dict(hidden_layer_sizes=(100,), alpha=1e-5, tol=1e-7, max_iter=3000, random_state=0)

# %%
# Fitting with early stopping
# ---------------------------
#
# ``validation_fraction=0.25`` holds out 50 of the 200 training rows (stratified by class),
# so the network is trained on the other 150. After every iteration the fit records the
# accuracy on the held-out rows in ``validation_scores_`` and their mean cross-entropy in
# ``validation_loss_curve_``. ``n_iter_no_change=50`` is the patience: the fit ends after 50
# iterations in a row that do not beat the best accuracy so far.

early = BackpropClassifier(
    early_stopping=True, validation_fraction=0.25, n_iter_no_change=50, **params
)
early.fit(X_train, y_train)

# validation_scores_[k] scores the iterate after iteration k + 1; argmax gives the first best.
chosen = int(np.argmax(early.validation_scores_)) + 1
print(f"iterations run: {early.n_iter_} ({early.optimize_result_['stopped_by']})")
print(f"iteration chosen: {chosen}, validation accuracy {early.best_validation_score_:.3f}")

# %%
# The two loss curves
# -------------------
#
# ``loss_curve_`` is J on the 150 training rows, penalty included, after every iteration;
# ``validation_loss_curve_`` is the mean cross-entropy on the 50 held-out rows, without the
# penalty. With ``alpha=1e-5`` the penalty is negligible, so both measure the same thing, on
# different rows. The left panel shows them together; the right panel shows the validation
# accuracy, the number early stopping actually watches.

iterations = np.arange(1, early.n_iter_ + 1)
fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")

ax_loss.plot(iterations, early.loss_curve_, label="training rows: loss_curve_")
ax_loss.plot(
    iterations, early.validation_loss_curve_, label="held-out rows: validation_loss_curve_"
)
ax_loss.set_ylim(0, 1.1 * max(early.loss_curve_[0], max(early.validation_loss_curve_)))
ax_loss.set_xlabel("iteration")
ax_loss.set_ylabel("cross-entropy per row")
ax_loss.set_title("Cost on the training and the held-out rows")

ax_score.step(iterations, early.validation_scores_, where="mid", color="C2")
ax_score.plot(chosen, early.best_validation_score_, "o", color="k")
ax_score.set_xlabel("iteration")
ax_score.set_ylabel("accuracy on the held-out rows")
ax_score.set_title("validation_scores_")

for ax in (ax_loss, ax_score):
    ax.axvline(chosen, color="k", linestyle="--", linewidth=1, label=f"chosen: {chosen}")
    ax.axvline(early.n_iter_, color="k", linestyle=":", linewidth=1, label="stopped")
    ax.set_xlim(0, early.n_iter_ + 2)
ax_loss.legend(loc="upper right")
ax_score.legend(loc="lower right")
plt.show()

# %%
# For the first few iterations both costs fall together: the network learns the shape of the
# two moons, which holds for all rows. Then they part. The training cost keeps falling, as
# L-BFGS-B guarantees, but the held-out cost turns and climbs: from here on, what the network
# learns about the 150 training rows is the noise in them, and it makes its predictions more
# confident on rows where it is wrong. The validation accuracy (right) tells a coarser story:
# it reaches 90% within a few iterations and then wanders up and down by a few points. It
# moves in steps of 1/50, since it counts right answers among 50 rows, so it is a noisy
# signal; that is why the fit waits 50 iterations (dotted line) before believing that the best
# score (dashed line) will not be beaten, and returns the parameters of that best iterate, not
# those of the last one. Here the chosen iterate sits close to the minimum of the held-out
# cost, although the fit never looked at that cost to choose it.

# %%
# What if the fit had gone on?
# ----------------------------
#
# ``n_iter_no_change=numpy.inf`` keeps the validation but never stops early: the fit runs
# until L-BFGS-B converges, on the same 150 rows, and records both curves all the way. (It
# still returns the best-scoring iterate; it is the curves that interest us here.) A
# logarithmic iteration axis shows the whole run.

patient = BackpropClassifier(
    early_stopping=True, validation_fraction=0.25, n_iter_no_change=np.inf, **params
)
patient.fit(X_train, y_train)

iterations_all = np.arange(1, patient.n_iter_ + 1)
fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
ax.plot(iterations_all, patient.loss_curve_, label="training rows")
ax.plot(iterations_all, patient.validation_loss_curve_, label="held-out rows")
ax.axvline(chosen, color="k", linestyle="--", linewidth=1, label="chosen by early stopping")
ax.axvline(early.n_iter_, color="k", linestyle=":", linewidth=1, label="early stopping ended")
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("cross-entropy per row")
ax.set_title(f"The same fit run to convergence ({patient.n_iter_} iterations)")
ax.legend(loc="lower left")
plt.show()

# %%
# Run to the end, the network drives the training cost towards zero: it classifies all 150
# training rows correctly, with near certainty. The held-out cost climbs to more than ten times
# its minimum. Nothing in the later iterations was worth waiting for.

# %%
# Test accuracy with and without early stopping
# ---------------------------------------------
#
# Now the comparison that matters: the same network fitted on all 200 training rows without
# early stopping, until L-BFGS-B converges, against the early-stopped network, which was
# trained on only 150 of them, both scored on the 1000 test rows. The maps show the
# probability of the second class that each network assigns across the plane, with the
# training points on top.

full = BackpropClassifier(**params).fit(X_train, y_train)
print(f"without early stopping: {full.n_iter_} iterations")

models = {
    f"early stopping (iteration {chosen})": early,
    f"no early stopping ({full.n_iter_} iterations)": full,
}
grid_x, grid_y = np.meshgrid(np.linspace(-2.5, 3.5, 200), np.linspace(-2, 2.5, 200))
grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])

fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained", sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    proba = model.predict_proba(grid)[:, 1].reshape(grid_x.shape)
    image = ax.contourf(
        grid_x, grid_y, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5
    )
    ax.contour(grid_x, grid_y, proba, levels=[0.5], colors="k", linewidths=1)
    ax.scatter(*X_train.T, c=y_train, cmap="RdBu_r", edgecolors="w", linewidths=0.5, s=22)
    accuracy = model.score(X_test, y_test)
    ax.set_title(f"{name}\ntest accuracy {accuracy:.3f}")
    ax.set_xlabel("$x_1$")
    print(
        f"{name}: training accuracy {model.score(X_train, y_train):.3f}, "
        f"test accuracy {accuracy:.3f}"
    )
axes[0].set_ylabel("$x_2$")
fig.colorbar(image, ax=axes, label="predicted probability of class 1")
plt.show()

# %%
# The early-stopped network draws a smooth boundary that follows the two moons, and its
# probabilities fade gently across it, as they should where the classes overlap. The network
# trained to convergence has carved out islands and peninsulas around individual training
# points and is certain almost everywhere; it gets all training points right and several
# percent fewer test points, although it saw 50 more training rows.

# %%
# Is it luck?
# -----------
#
# With 50 validation rows, the choice of the iterate is itself noisy, so one split proves
# little. Repeating the comparison on five other draws of the data shows whether the gain is
# systematic.

print("data seed   early stopping   no early stopping")
for seed in range(1, 6):
    X, y = make_moons(n_samples=1200, noise=0.4, random_state=seed)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=200, stratify=y, random_state=0
    )
    early_score = early.fit(X_train, y_train).score(X_test, y_test)
    full_score = full.fit(X_train, y_train).score(X_test, y_test)
    print(f"{seed:<11} {early_score:<16.3f} {full_score:.3f}")

# %%
# Early stopping wins on every draw here. It is a form of regularization, like ``alpha``:
# stopping the optimizer early keeps the weights near their small random start, and small
# weights give a smooth function. The two can be combined, or ``alpha`` can be tuned by
# cross-validation instead (see the grid search example). Early stopping has the advantage of
# costing a single fit, and a short one: here about a tenth of the iterations of the fit run
# to convergence. Its price is the held-out rows, which the network does not learn from, and a
# choice that is only as reliable as a score on those few rows.
