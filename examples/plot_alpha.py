"""
=====================================================
Choosing the L2 penalty alpha with a validation curve
=====================================================

``alpha`` is the course's λ: the cost J that :class:`~sklearn_bp.BackpropClassifier` minimizes
adds (α / 2m) times the sum of the squared weights (the biases excluded) to the
cross-entropy. A small α lets the network fit the training rows as closely as it can, noise
and accidents included; a large one pulls every weight towards zero, until the network can no
longer tell the classes apart.

This example fits the same network on scikit-learn's handwritten digits for α from 0.001 to
about 300, scores every fit by cross-validation on the rows it was trained on and on rows it
never saw, and draws both against α: a validation curve. It shows where the network overfits,
where it underfits, which α is best, and what the penalty does to the weights.
"""

# %%
# The data and the model
# ----------------------
#
# The digits are 1797 images of 8×8 pixels, 64 features with values 0 to 16, in 10 classes.
# The network has one hidden layer of 25 logistic units behind a
# :class:`~sklearn.preprocessing.StandardScaler`, both in a pipeline so that the scaler is
# fitted on the training part of each split only. ``max_iter=500`` leaves every fit room to
# converge, so that the differences below come from α and not from stopping early.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

X, y = load_digits(return_X_y=True)
pipeline = make_pipeline(
    StandardScaler(),
    BackpropClassifier(hidden_layer_sizes=(25,), max_iter=500, random_state=0),
)

# %%
# Cross-validation over a range of alpha
# --------------------------------------
#
# α matters on a log scale, so it runs over twelve values half a decade apart. For each, the
# pipeline is fitted on four stratified folds, each time on three quarters of the rows and
# scored on the remaining quarter, the *validation* rows, and on the rows it was trained on.
# :func:`~sklearn.model_selection.validation_curve` computes exactly these scores for one
# metric; ``cross_validate`` here gives two metrics at once, and hands back the fitted
# pipelines, whose weights we look at in the end:
#
# * the **accuracy**, the fraction of rows classified correctly;
# * the **log loss**, the mean over the rows of −log p, where p is the probability that
#   ``predict_proba`` gives the true class. Unlike the accuracy, it sees how confident the
#   predictions are, not only whether they are right.

alphas = 10.0 ** np.arange(-3, 3, 0.5)
folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
scoring = {"accuracy": "accuracy", "log_loss": "neg_log_loss"}

scores = {f"{part}_{metric}": [] for part in ("train", "test") for metric in scoring}
weight_norms = []
for alpha in alphas:
    pipeline.set_params(backpropclassifier__alpha=alpha)
    result = cross_validate(
        pipeline,
        X,
        y,
        cv=folds,
        scoring=scoring,
        return_train_score=True,
        return_estimator=True,
        n_jobs=2,
    )
    for key in scores:
        scores[key].append(result[key])
    # ‖W‖: the Euclidean norm of all non-bias weights, the quantity the penalty acts on.
    weight_norms.append(
        [np.sqrt(sum(np.sum(W**2) for W in fitted[-1].coefs_)) for fitted in result["estimator"]]
    )

# Rows: values of alpha; columns: folds. scikit-learn scores the log loss negated.
train_accuracy = np.array(scores["train_accuracy"])
validation_accuracy = np.array(scores["test_accuracy"])
train_log_loss = -np.array(scores["train_log_loss"])
validation_log_loss = -np.array(scores["test_log_loss"])
weight_norms = np.array(weight_norms)

best = np.argmax(validation_accuracy.mean(axis=1))
best_log_loss = np.argmin(validation_log_loss.mean(axis=1))
print("alpha     train acc.  validation acc.    train log loss  validation log loss")
for i, alpha in enumerate(alphas):
    print(
        f"{alpha:<9.3g} {train_accuracy[i].mean():.4f}      "
        f"{validation_accuracy[i].mean():.4f} ± {validation_accuracy[i].std():.4f}    "
        f"{train_log_loss[i].mean():.4f}          "
        f"{validation_log_loss[i].mean():.4f} ± {validation_log_loss[i].std():.4f}"
    )
print(f"\nbest alpha by validation accuracy: {alphas[best]:.3g}")
print(f"best alpha by validation log loss: {alphas[best_log_loss]:.3g}")

# %%
# The validation curve
# --------------------
#
# Each line is the mean over the four folds, each band its spread: the mean ± one standard
# deviation. The dashed vertical line marks the α with the best mean validation accuracy.


def plot_curve(ax, train, validation):
    """Mean and mean ± standard deviation over the folds, for training and validation."""
    for values, label, color in [(train, "training", "C0"), (validation, "validation", "C1")]:
        mean, std = values.mean(axis=1), values.std(axis=1)
        ax.plot(alphas, mean, marker="o", markersize=4, color=color, label=f"{label} rows")
        ax.fill_between(alphas, mean - std, mean + std, color=color, alpha=0.25)
    ax.axvline(alphas[best], color="0.3", linestyle="--", linewidth=1)
    ax.set(xscale="log", xlabel="alpha")
    ax.grid(True, which="major", alpha=0.3)


fig, (ax_accuracy, ax_loss) = plt.subplots(1, 2, figsize=(12, 5))

plot_curve(ax_accuracy, train_accuracy, validation_accuracy)
ax_accuracy.set(ylim=(0.9, 1.005), ylabel="accuracy", title="Accuracy (zoomed in)")
ax_accuracy.text(
    alphas[best] * 1.15,
    0.905,
    f"best alpha = {alphas[best]:g}\nvalidation accuracy {validation_accuracy[best].mean():.3f}",
    va="bottom",
)
ax_accuracy.annotate(
    f"{validation_accuracy[-2].mean():.2f} at alpha = 100,\n"
    f"{validation_accuracy[-1].mean():.2f} (chance) at 316",
    xy=(alphas[-3], 0.9),
    xytext=(alphas[-6], 0.93),
    arrowprops={"arrowstyle": "->", "color": "0.3"},
    ha="center",
)
ax_accuracy.legend(loc="upper right")

plot_curve(ax_loss, train_log_loss, validation_log_loss)
ax_loss.set(yscale="log", ylabel="log loss (cross-entropy)", title="Log loss")
box = {"facecolor": "white", "edgecolor": "none", "alpha": 0.85}
ax_loss.text(1.3e-3, 1e-2, "overfitting:\nvalidation loss\nfar above training", bbox=box)
ax_loss.annotate(
    "underfitting:\nboth losses high\nand close together",
    xy=(alphas[-2], 1.3),
    xytext=(alphas[-3], 2e-2),
    arrowprops={"arrowstyle": "->", "color": "0.3"},
    ha="center",
    bbox=box,
)
ax_loss.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# Read the curves from right to left.
#
# **Large α: underfitting.** Above α ≈ 10 the penalty dominates J. Training and validation
# scores get worse together and stay close to each other: the network is not too flexible
# but too constrained, and more data would hardly help. At α = 100 more than a fifth of the
# digits are misclassified, and at α ≈ 300 the accuracy falls to chance, 0.10: the penalty
# has pushed every weight to about zero, every hidden unit outputs the same value for every
# image, and the network can only predict the class frequencies.
#
# **Small α: overfitting.** Below α ≈ 1 the network classifies every training row
# correctly. As α decreases further its training log loss heads towards zero, while the
# validation log loss, after a shallow minimum near α = 0.03, climbs back up. The gap between
# the two curves is what the network has learned about its particular training rows rather
# than about digits. The accuracy suffers less than the log loss: the network still picks the
# right class most of the time, but with a confidence it has not earned, which the
# cross-entropy punishes and the accuracy does not see.
#
# **In between** lies a broad range, from about 0.003 to 3, where the validation accuracy
# stays within one standard deviation of its best; the bands overlap over most of it, so the
# best α is not sharply determined by four folds. The validation log loss is lowest at a
# neighbouring value. Any α in this range is a sensible choice; a grid search (see the
# example on tuning the digits) picks one the same way, by the mean validation score.
#
# What the penalty does to the weights
# ------------------------------------
#
# The penalty (α / 2m) ‖W‖² acts on the size of the weights. The norm ‖W‖ of the fitted
# networks shrinks steadily as α grows, until it collapses between α = 100 and 300, where the
# fits settle in the solution with all weights near zero.

fig, ax = plt.subplots(figsize=(7, 4.5))
mean, std = weight_norms.mean(axis=1), weight_norms.std(axis=1)
ax.errorbar(alphas, mean, yerr=std, marker="o", markersize=4, capsize=3)
ax.axvline(alphas[best], color="0.3", linestyle="--", linewidth=1, label="best alpha")
ax.set(
    xscale="log",
    yscale="log",
    xlabel="alpha",
    ylabel="‖W‖, norm of the non-bias weights",
    title="The penalty shrinks the weights",
)
ax.grid(True, which="major", alpha=0.3)
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()

# %%
# Small weights make a smooth network: with logistic units, a unit whose weights are small
# works in the nearly linear middle of its sigmoid, and the output changes little when an
# input pixel changes a little. That is what keeps a well-regularized network from following
# the accidents of its training rows, and what, taken too far, keeps it from following the
# digits themselves.
