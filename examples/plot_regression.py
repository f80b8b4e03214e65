"""
=====================================
Regression with a backpropagation net
=====================================

:class:`~sklearn_bp.BackpropRegressor` is the network of
:class:`~sklearn_bp.BackpropClassifier` with identity output units: it predicts numbers
instead of class probabilities. Its cost J is the squared error, (1/2m) Σ (h(x) − y)² over the
m training rows, plus the same weight penalty (α/2m) Σ θ² on the non-bias weights, and it is
minimized by the same backpropagation and L-BFGS-B.

This example first fits a noisy curve in one dimension, where the effect of the penalty ``alpha``
can be seen directly, and then a real data set, scikit-learn's diabetes data, in a pipeline that
scales both the features and the target. There the network is also compared with
scikit-learn's :class:`~sklearn.neural_network.MLPRegressor`, which minimizes the same cost.
"""

# %%
# A noisy curve
# -------------
#
# Forty points are drawn from sin(1.5 x) with Gaussian noise of standard deviation 0.3. A
# network with one input, one hidden layer of 50 tanh units and one output has 151 weights,
# almost four times as many as there are points, so without a penalty it can follow the noise.
# The features need no scaling here: x already lies between −3 and 3.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropRegressor

rng = np.random.RandomState(0)
x = np.sort(rng.uniform(-3, 3, size=40))
y = np.sin(1.5 * x) + 0.3 * rng.normal(size=40)
x_plot = np.linspace(-3, 3, 500)
y_true = np.sin(1.5 * x_plot)

# %%
# Four values of ``alpha``
# ------------------------
#
# The same network is fitted with four penalties, from almost none to a strong one. ``tol=1e-8``
# lets L-BFGS-B run until J really stops decreasing, so that each curve is the minimum of its
# own cost, not an artefact of stopping early. Since the true curve is known here, each fit is
# scored by its R² against the noiseless sine on a fine grid: 1 would be the truth itself, 0
# no better than a constant.

alphas = [1e-3, 0.1, 1.0, 3.0]
fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True, layout="constrained")
for ax, alpha in zip(axes.ravel(), alphas):
    regressor = BackpropRegressor(
        hidden_layer_sizes=(50,),
        activation="tanh",
        alpha=alpha,
        tol=1e-8,
        max_iter=5000,
        random_state=0,
    )
    regressor.fit(x.reshape(-1, 1), y)
    y_fit = regressor.predict(x_plot.reshape(-1, 1))
    ax.plot(x_plot, y_true, "k--", linewidth=1, label="true curve sin(1.5 x)")
    ax.scatter(x, y, s=15, color="C0", label="training points")
    ax.plot(x_plot, y_fit, color="C3", linewidth=2, label="network")
    ax.set_title(
        f"alpha = {alpha:g}: R² against the truth {r2_score(y_true, y_fit):.2f}\n"
        f"{regressor.n_iter_} iterations, J = {regressor.loss_:.3f}"
    )
for ax in axes[1]:
    ax.set_xlabel("x")
for ax in axes[:, 0]:
    ax.set_ylabel("y")
axes[0, 0].legend(loc="lower right", fontsize=9)
plt.show()

# %%
# With ``alpha=0.001`` (top left) the network bends to pass near every point, noise
# included: between the points its curve wanders away from the sine, with a sharp spike where
# two neighbouring points disagree. With ``alpha=0.1`` the penalty keeps the weights small
# enough that the curve is smooth, and it follows the truth closely. With ``alpha=1`` the curve
# is smoother still and its peaks are flattened: the penalty on the weights that higher peaks
# would need now outweighs the misfit they would remove. At ``alpha=3`` the penalty wins
# outright: the weights are kept so small that every tanh unit works on the straight part of
# its curve, the network is all but linear, and a straight line explains none of the sine (R²
# about zero). J rises from panel to panel, since it includes the penalty; only the R² against
# the truth, which the fit never sees, tells the good fit from the others. In practice the
# truth is not known, and ``alpha`` is chosen by cross-validation.

# %%
# A real data set, with scaled features and target
# ------------------------------------------------
#
# The diabetes data has 442 patients, 10 features (age, sex, body mass index, blood pressure
# and six blood serum measurements) and as target a measure of disease progression one year
# later, a number between 25 and 346. A quarter of the patients is kept for testing.
#
# Two scalings matter. The features go through a :class:`~sklearn.preprocessing.StandardScaler`,
# as for every network with sigmoid units. The target is scaled too:
# :class:`~sklearn.compose.TransformedTargetRegressor` standardizes ``y`` before ``fit``, and
# converts the predictions back to the original units in ``predict``. Without it, outputs in
# the hundreds would make the squared error thousands of times larger than on a unit scale,
# and the same ``alpha`` would mean a penalty thousands of times weaker.

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)


def scaled(regressor):
    """Standardize the features, and the target through TransformedTargetRegressor."""
    return make_pipeline(
        StandardScaler(),
        TransformedTargetRegressor(regressor=regressor, transformer=StandardScaler()),
    )


network = dict(hidden_layer_sizes=(10,), activation="logistic", alpha=10.0, random_state=0)
backprop = scaled(BackpropRegressor(max_iter=1000, **network))
backprop.fit(X_train, y_train)
fitted = backprop[-1].regressor_
print(f"BackpropRegressor: J = {fitted.loss_:.4f} after {fitted.n_iter_} iterations")
print(f"test R²: {backprop.score(X_test, y_test):.3f}")

# %%
# The same network and ``alpha`` on the raw target, to see what the target scaler is worth:

raw = make_pipeline(StandardScaler(), BackpropRegressor(max_iter=1000, **network))
print(f"test R² without scaling the target: {raw.fit(X_train, y_train).score(X_test, y_test):.3f}")

# %%
# Comparison with MLPRegressor
# ----------------------------
#
# :class:`~sklearn.neural_network.MLPRegressor` with ``solver="lbfgs"`` trains a network of the
# same shape by full-batch L-BFGS-B on the same cost: its loss is half the mean squared error,
# and its ``alpha`` has the same (α/2m) scaling. The two start from different random weights
# and use different stopping rules, so they need not end at the same point, but with a
# penalty this strong they should land on (nearly) the same minimum. A cross-validated ridge
# regression adds a linear baseline.

mlp = scaled(MLPRegressor(solver="lbfgs", max_iter=1000, **network))
mlp.fit(X_train, y_train)
fitted_mlp = mlp[-1].regressor_
print(f"MLPRegressor:      J = {fitted_mlp.loss_:.4f} after {fitted_mlp.n_iter_} iterations")
print(f"test R²: {mlp.score(X_test, y_test):.3f}")

ridge = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
print(f"ridge regression test R²: {ridge.fit(X_train, y_train).score(X_test, y_test):.3f}")

# %%
# Predicted against measured
# --------------------------
#
# Each point is a test patient: the measured progression on the horizontal axis, the
# prediction on the vertical one. A perfect model would put every point on the diagonal.

models = {"BackpropRegressor": backprop, 'MLPRegressor(solver="lbfgs")': mlp}
fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharex=True, sharey=True, layout="constrained")
limits = [0, 360]
for ax, (name, model) in zip(axes, models.items()):
    prediction = model.predict(X_test)
    ax.scatter(y_test, prediction, s=18, alpha=0.7)
    ax.plot(limits, limits, "k--", linewidth=1)
    ax.set_xlim(limits)
    ax.set_ylim(limits)
    ax.set_aspect("equal")
    ax.set_title(f"{name}\ntest R² = {r2_score(y_test, prediction):.3f}")
    ax.set_xlabel("measured disease progression")
axes[0].set_ylabel("predicted disease progression")
plt.show()

# %%
# The two networks reach the same cost J to three decimals and make practically the same
# predictions: the minimum is a property of the cost, not of the implementation. The plot
# also shows the limits of the data. Predictions spread much less than the measurements: the
# network pulls them towards the mean, too low for the patients who progressed most and too
# high for those who progressed least, and an R² below 0.4 says that most of the variation
# between patients is not explained by these ten features. The linear ridge regression does
# about as well as the network, which suggests that the little signal there is is mostly
# linear; on this data a network has no nonlinearity to exploit.
