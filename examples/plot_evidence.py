"""
======================================================
Bayesian regularization: the evidence chooses alpha
======================================================

With ``alpha="evidence"``, :class:`~sklearn_bp.BackpropRegressor` chooses the L2 penalty during
the fit by MacKay's evidence framework (MATLAB's ``trainbr``): rounds of the optimizer alternate
with re-estimates of the penalty and of the noise from the Gauss-Newton Hessian. The same
Hessian gives every prediction an error bar (the Laplace approximation), returned by
``predict(X, return_std=True)``.

This example fits a noisy 1-D function, draws the fit with its 95% band, and compares the
penalty the evidence chose with the cross-validated score of a grid of fixed penalties.
"""

# %%
# A noisy function, and one fit
# -----------------------------
#
# 60 points of sin(2x) with noise of standard deviation 0.25 on [−2, 2] only: the band should
# be about ±0.5 where the data are, and widen beyond them, where the weights the data do not
# determine are free.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import KFold, cross_val_score

from sklearn_bp import BackpropRegressor

rng = np.random.RandomState(0)
X = rng.uniform(-2, 2, size=(60, 1))
y = np.sin(2 * X[:, 0]) + 0.25 * rng.normal(size=60)

regressor = BackpropRegressor(hidden_layer_sizes=(10,), alpha="evidence", random_state=0)
regressor.fit(X, y)
print(f"alpha chosen per layer: {np.array2string(regressor.alpha_, precision=3)}")
print(f"effective number of parameters: {regressor.effective_n_parameters_:.1f} of 31")
print(f"estimated noise standard deviation: {np.sqrt(regressor.noise_variance_):.3f} (true 0.25)")
print(f"log evidence: {regressor.log_evidence_:.1f}")

grid = np.linspace(-2.5, 2.5, 300).reshape(-1, 1)
mean, std = regressor.predict(grid, return_std=True)

fig, left = plt.subplots(figsize=(7, 4))
left.fill_between(grid[:, 0], mean - 1.96 * std, mean + 1.96 * std, alpha=0.3,
                  label="95% predictive band")  # fmt: skip
left.plot(grid[:, 0], mean, label="network (alpha='evidence')")
left.plot(grid[:, 0], np.sin(2 * grid[:, 0]), "k--", linewidth=1, label="sin(2x)")
left.scatter(X[:, 0], y, s=12, color="black", label="training points")
left.set_xlabel("x")
left.set_ylim(-3, 3)
left.set_title("The fit and its 95% band: wider where there are no data")
left.legend(loc="lower left", fontsize=8)
plt.show()

# %%
# The evidence's choice beside cross-validation
# ---------------------------------------------
#
# A grid search would fit the network for every alpha of a grid and score each by 5-fold
# cross-validation. The evidence chose its alphas (one per layer of weights, equal when one
# alpha for all layers had the higher log evidence, as here) from one fit on all the rows, with
# no held-out rows; they fall where the cross-validated score is highest.

alphas = np.logspace(-3, 3, 13)
cv = KFold(5, shuffle=True, random_state=0)
scores = [
    cross_val_score(
        BackpropRegressor(hidden_layer_sizes=(10,), alpha=alpha, random_state=0), X, y, cv=cv
    ).mean()
    for alpha in alphas
]
evidence_score = cross_val_score(regressor, X, y, cv=cv).mean()

fig, right = plt.subplots(figsize=(7, 4))
right.semilogx(alphas, scores, "o-", label="fixed alpha, 5-fold CV")
for layer, alpha in enumerate(regressor.alpha_):
    right.axvline(alpha, linestyle=":", color=f"C{layer + 1}",
                  label=f"evidence's alpha, layer {layer + 1}")  # fmt: skip
right.axhline(evidence_score, color="C3", linewidth=1,
              label=f"alpha='evidence', 5-fold CV: {evidence_score:.3f}")  # fmt: skip
right.set_ylim(max(min(scores), -0.2), 1)
right.set_xlabel("alpha")
right.set_ylabel("R²")
right.set_title("Cross-validated R² against alpha")
right.legend(fontsize=8, loc="lower left")
fig.tight_layout()
plt.show()

# %%
# The band covers the held-out points as a 95% band should when the noise is Gaussian and the
# network's form fits the function: here, on fresh points of [−2, 2],

X_new = rng.uniform(-2, 2, size=(2000, 1))
y_new = np.sin(2 * X_new[:, 0]) + 0.25 * rng.normal(size=2000)
mean_new, std_new = regressor.predict(X_new, return_std=True)
print(f"coverage of the 95% band: {np.mean(np.abs(y_new - mean_new) <= 1.96 * std_new):.1%}")
