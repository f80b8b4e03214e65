"""
=================================================
Tuning a network on the digits with a grid search
=================================================

A network trained by backpropagation has two knobs that matter most on a small data set: the
regularization strength ``alpha`` (the course's λ) and the size of the hidden layer. Too little
regularization and the network memorizes the training rows; too much and it cannot fit them.

This example puts :class:`~sklearn_bp.BackpropClassifier` behind a
:class:`~sklearn.preprocessing.StandardScaler` in a pipeline, lets
:class:`~sklearn.model_selection.GridSearchCV` pick ``alpha`` and ``hidden_layer_sizes`` on
scikit-learn's bundled 8×8 handwritten digits, and then measures the chosen pipeline twice: by
cross-validation on the training rows and once on rows that the search never saw.
"""

# %%
# Load the data and keep a test split aside
# ------------------------------------------
#
# The digits are 1797 images of 8×8 pixels, 64 features with values 0 to 16, in 10 classes. A
# quarter of the rows is put aside before any tuning, so that the final score is measured on
# data that played no part in choosing the hyperparameters.

from sklearn.datasets import load_digits
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    cross_val_score,
    train_test_split,
)
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
# weights, so that the whole search gives the same numbers on every run.

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
# ``make_pipeline`` names a step after its class in lower case. Two jobs run the fits in
# parallel.

param_grid = {
    "backpropclassifier__alpha": [0.1, 1.0, 10.0],
    "backpropclassifier__hidden_layer_sizes": [(15,), (25,)],
}
search = GridSearchCV(pipeline, param_grid, cv=5, n_jobs=2)
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
# ``GridSearchCV`` refits the best candidate on all training rows. Its network is the last step
# of the pipeline, with the fitted attributes of the course's model: the matrices Θ(l) (bias in
# column 0), the cost J at the solution and the number of L-BFGS-B iterations it took.

network = search.best_estimator_[-1]
print(f"shapes of thetas_: {[theta.shape for theta in network.thetas_]}")
print(f"J = {network.loss_:.4f} after {network.n_iter_} iterations ({network.method})")

# %%
# How good is the chosen pipeline?
# --------------------------------
#
# Differences between the candidates above are of the same order as the spread of the scores
# across folds, so it is worth looking at that spread for the chosen one. Cross-validating it
# on the training rows with freshly shuffled folds shows how much its accuracy moves from one
# split to the next. This number is still a little optimistic: the same rows chose the
# hyperparameters.

best_pipeline = search.best_estimator_
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
scores = cross_val_score(best_pipeline, X_train, y_train, cv=folds, n_jobs=2)
print("accuracy per fold:", " ".join(f"{score:.4f}" for score in scores))
print(f"cross-validated accuracy: {scores.mean():.4f} +/- {scores.std():.4f}")

# %%
# The held-out rows give the final, unbiased estimate: the pipeline refitted by the search on
# all training rows is scored once on the test split.

print(f"held-out test accuracy: {best_pipeline.score(X_test, y_test):.4f}")
