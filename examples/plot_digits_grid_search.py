"""
====================
Digits in a pipeline
====================

A network trained by backpropagation has two knobs that matter most on a small data set: the
regularization strength ``alpha`` (the course's λ) and the size of the hidden layer. Too little
regularization and the network memorizes the training rows; too much and it cannot fit them.

This example puts :class:`~sklearn_bp.BackpropClassifier` behind a
:class:`~sklearn.preprocessing.StandardScaler` in a :class:`~sklearn.pipeline.Pipeline`, lets
:class:`~sklearn.model_selection.GridSearchCV` pick ``alpha`` and ``hidden_layer_sizes`` on
scikit-learn's bundled 8×8 handwritten digits, and measures the chosen pipeline on rows that
the search never saw. It then looks at where the network still goes wrong, with a confusion
matrix, and at what its hidden units have learned to look for, by drawing each unit's weights
as an 8×8 image.
"""

# %%
# Load the data and keep a test split aside
# ------------------------------------------
#
# The digits are 1797 images of 8×8 pixels, 64 features with values 0 to 16, in 10 classes. A
# quarter of the rows is put aside before any tuning, so that the final score is measured on
# data that played no part in choosing the hyperparameters.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
print(f"training rows: {X_train.shape[0]}, test rows: {X_test.shape[0]}, features: {X.shape[1]}")

# %%
# The pipeline
# ------------
#
# Sigmoid units saturate when their input is large, and a saturated unit passes back almost no
# gradient, so the features are standardized first. Putting the scaler inside the pipeline
# means it is refitted on the training part of every cross-validation split, and no statistic
# of a validation fold leaks into the training. ``random_state`` fixes the draw of the initial
# weights, so that the whole search gives the same numbers on every run. ``max_iter=500`` leaves
# L-BFGS-B room to converge: on this problem it stops on its own after 100 to 200 iterations.

pipeline = make_pipeline(
    StandardScaler(),
    BackpropClassifier(max_iter=500, random_state=0),
)

# %%
# The grid search
# ---------------
#
# Three values of ``alpha`` a decade apart and two hidden layer sizes give six candidates, each
# fitted on five folds. Parameters of a pipeline step are addressed as ``step__parameter``;
# ``make_pipeline`` names a step after its class in lower case. Each fit takes well under a
# second, so the 30 fits run one after the other: on a machine with two cores, starting worker
# processes with ``n_jobs=2`` costs more than it saves.

alphas = [0.1, 1.0, 10.0]
hidden_sizes = [(16,), (25,)]
param_grid = {
    "backpropclassifier__alpha": alphas,
    "backpropclassifier__hidden_layer_sizes": hidden_sizes,
}
search = GridSearchCV(pipeline, param_grid, cv=5)
search.fit(X_train, y_train)

results = search.cv_results_
print("alpha   hidden   mean accuracy   std     rank")
for params, mean, std, rank in zip(
    results["params"],
    results["mean_test_score"],
    results["std_test_score"],
    results["rank_test_score"],
):
    alpha = params["backpropclassifier__alpha"]
    hidden = params["backpropclassifier__hidden_layer_sizes"]
    print(f"{alpha:<7g} {hidden!s:<8} {mean:.4f}          {std:.4f}  {rank}")

best = search.best_params_
print(
    f"\nbest: alpha={best['backpropclassifier__alpha']:g}, "
    f"hidden_layer_sizes={best['backpropclassifier__hidden_layer_sizes']}, "
    f"mean cross-validated accuracy {search.best_score_:.4f}"
)

# %%
# The same numbers as a picture: one line per hidden layer size, the mean accuracy over the
# five folds against ``alpha``, and error bars of one standard deviation across the folds.

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for hidden in hidden_sizes:
    rows = [
        i
        for i, params in enumerate(results["params"])
        if params["backpropclassifier__hidden_layer_sizes"] == hidden
    ]
    ax.errorbar(
        [results["params"][i]["backpropclassifier__alpha"] for i in rows],
        results["mean_test_score"][rows],
        yerr=results["std_test_score"][rows],
        marker="o",
        capsize=4,
        label=f"{hidden[0]} hidden units",
    )
ax.set_xscale("log")
ax.set_xlabel("alpha (λ)")
ax.set_ylabel("cross-validated accuracy")
ax.set_title("Grid search on the training rows")
ax.legend()
plt.show()

# %%
# The error bars overlap: differences between the candidates are of the same order as the
# spread of one candidate's score from one fold to the next. What the picture does show is the
# trend. Up to ``alpha`` = 1 the penalty costs nothing, or helps a little; at 10 it holds the
# weights back enough to cost one to two points of accuracy, with either size of hidden layer.
# The larger hidden layer is slightly ahead at every ``alpha``, by less than the spread.
#
# ``GridSearchCV`` refits the best candidate on all training rows. Its network is the last step
# of the pipeline, with the fitted attributes of the course's model: the matrices Θ(l) (bias in
# column 0), the cost J at the solution and the number of L-BFGS-B iterations it took.

best_pipeline = search.best_estimator_
network = best_pipeline[-1]
print(f"shapes of thetas_: {[theta.shape for theta in network.thetas_]}")
print(f"J = {network.loss_:.4f} after {network.n_iter_} iterations ({network.method})")

# %%
# How good is the chosen pipeline?
# --------------------------------
#
# The cross-validated score of the winner is a little optimistic: the same rows that measured
# it also chose it, among six candidates. The held-out rows give the final, unbiased estimate:
# the pipeline refitted by the search on all training rows is scored once on the test split.

print(f"best cross-validated accuracy: {search.best_score_:.4f}")
print(f"held-out test accuracy:        {best_pipeline.score(X_test, y_test):.4f}")

# %%
# Where does it go wrong?
# -----------------------
#
# A single accuracy hides which digits are mistaken for which. The confusion matrix counts, for
# every true class (row), how the test rows of that class were predicted (column): correct
# predictions sit on the diagonal, and every count off it is a mistake.

fig, ax = plt.subplots(figsize=(6, 5.5), layout="constrained")
ConfusionMatrixDisplay.from_estimator(best_pipeline, X_test, y_test, ax=ax, colorbar=False)
ax.set_title("Confusion matrix on the held-out rows")
plt.show()

# %%
# Almost all of the 450 test rows are on the diagonal. The mistakes are few and spread out,
# one or two per pair of classes; the most frequent are listed below. Most of them involve
# digits whose strokes overlap on a coarse 8×8 grid: 1 and 8, and 9 taken for a 3 or a 5.

predicted = best_pipeline.predict(X_test)
pairs, counts = np.unique(
    np.column_stack([y_test, predicted])[y_test != predicted], axis=0, return_counts=True
)
print("true  predicted  count")
for (true, guess), count in sorted(zip(pairs, counts), key=lambda pair: -pair[1])[:5]:
    print(f"{true:<5} {guess:<10} {count}")

# %%
# What the hidden units look for
# ------------------------------
#
# Every hidden unit computes g(z) with z = b + Σ w_j x_j, one weight w_j per pixel: column j of
# ``coefs_[0]`` holds the 64 weights of hidden unit j. Reshaped to 8×8, they form an image of
# the pattern that unit responds to. The inputs are standardized pixels, so a red weight
# raises the unit's z when its pixel has more ink than average, and a blue one lowers it. All
# panels share one symmetric colour scale, so that white means a weight of zero in every panel
# and the strength of the units can be compared.

weights = network.coefs_[0]
n_units = weights.shape[1]
n_cols = int(np.ceil(np.sqrt(n_units)))
n_rows = int(np.ceil(n_units / n_cols))
limit = np.abs(weights).max()

fig, axes = plt.subplots(
    n_rows, n_cols, figsize=(1.4 * n_cols + 1, 1.4 * n_rows + 0.5), layout="constrained"
)
for unit, ax in enumerate(axes.flat):
    ax.set_axis_off()
    if unit < n_units:
        image = ax.imshow(weights[:, unit].reshape(8, 8), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"unit {unit}", fontsize=9)
fig.colorbar(image, ax=axes, shrink=0.6, label="weight on a standardized pixel")
fig.suptitle(f"First-layer weights of the {n_units} hidden units")
plt.show()

# %%
# Few if any of the units look like a whole digit. Each is a patchwork of red and blue: it
# weighs ink in some places against ink in others, which tells a few classes from a few others,
# and the output layer combines 25 such votes into ten class scores.
#
# The pixels of the leftmost column are white, or nearly so, in every panel. They have ink in
# at most 6 of the 1347 training images, and three of them in none. A pixel that is always
# blank is a constant 0 once standardized and adds nothing to any z, so the only force on its
# weights is the penalty (α/2m) Σ w², which takes them to zero; a pixel with ink in a handful
# of images earns only small weights. The penalty pulls on every other weight too, against the
# data term that wants them large enough to fit the training rows: the larger ``alpha``, the
# smaller all the weights end up. That is the trade-off the grid search above settled, and at
# ``alpha`` = 10 the pull is strong enough to cost accuracy.
