"""
======================================
Decision boundaries of each activation
======================================

The hidden units' activation function g is what lets a network draw curved boundaries
between classes. :class:`~sklearn_bp.BackpropClassifier` offers four: the course's sigmoid
(``"logistic"``), ``"tanh"``, the rectified linear unit (``"relu"``) and ``"identity"``, which
does nothing at all.

This example trains the same small network with each of them on two interleaving half
circles, scikit-learn's "two moons", and draws the boundary each one learns with
:class:`~sklearn.inspection.DecisionBoundaryDisplay`. Three of them bend around the moons;
the identity draws a straight line, and the last section shows why it cannot do anything else.
"""

# %%
# Two moons
# ---------
#
# :func:`~sklearn.datasets.make_moons` draws points on two interleaving half circles, one per
# class, and ``noise`` adds Gaussian noise of that standard deviation to each coordinate, so
# that the classes overlap a little near their tips. No straight line separates them. A
# third of the 300 points is kept aside to measure each network on points it was not
# trained on.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_moons
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

X, y = make_moons(n_samples=300, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=1 / 3, stratify=y, random_state=0
)

# %%
# One network per activation
# --------------------------
#
# Every network has one hidden layer of 10 units and ``alpha=0.1``, a little regularization
# that keeps the boundaries from chasing single noisy points; the features are standardized
# in a pipeline, as usual. With two classes the output layer is one sigmoid unit, the
# probability of class 1. L-BFGS-B converges on this small problem in well under the 1000
# iterations allowed.
#
# Each panel shades that probability over the plane, from blue (class 0) to red (class 1),
# draws the boundary where it is 0.5 as a black line, and puts the training points on top.

activations = ["logistic", "tanh", "relu", "identity"]
models = {}

fig, axes = plt.subplots(2, 2, figsize=(9, 8), sharex=True, sharey=True, layout="constrained")
for activation, ax in zip(activations, axes.flat):
    model = make_pipeline(
        StandardScaler(),
        BackpropClassifier(
            hidden_layer_sizes=(10,),
            activation=activation,
            alpha=0.1,
            max_iter=1000,
            random_state=0,
        ),
    )
    model.fit(X_train, y_train)
    models[activation] = model

    display = DecisionBoundaryDisplay.from_estimator(
        model,
        X,
        response_method="predict_proba",
        grid_resolution=200,
        levels=np.linspace(0, 1, 11),
        cmap="RdBu_r",
        alpha=0.5,
        ax=ax,
    )
    ax.contour(display.xx0, display.xx1, display.response, levels=[0.5], colors="black")
    ax.scatter(*X_train.T, c=y_train, cmap="RdBu_r", edgecolors="black", linewidths=0.6, s=25)
    train_accuracy = model.score(X_train, y_train)
    test_accuracy = model.score(X_test, y_test)
    ax.set_title(f"{activation}: train {train_accuracy:.2f}, test {test_accuracy:.2f}")
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    ax.label_outer()

fig.colorbar(display.surface_, ax=axes, shrink=0.6, label="probability of class 1")
fig.suptitle("Two moons, one hidden layer of 10 units, alpha = 0.1")
plt.show()

# %%
# The three nonlinear activations reach about the same accuracy, on the training points and
# on the held-out ones: their boundaries differ mostly where there are no points to decide
# between them. The sigmoid and tanh give smooth curves (tanh is a sigmoid stretched to
# (−1, 1), ``tanh(z) = 2 sigmoid(2z) − 1``, so the two can represent the same functions). The
# ReLU's boundary is made of straight pieces: each unit max(0, z) is linear on either side of
# its own line z = 0, so the network's output is piecewise linear, with a kink wherever a unit
# switches on or off.
#
# Why the identity draws a straight line
# --------------------------------------
#
# With g(z) = z the hidden layer computes a(2) = X W(1) + b(1), and the output unit's input
# is then::
#
#     z(3) = a(2) W(2) + b(2) = X (W(1) W(2)) + (b(1) W(2) + b(2))
#
# This is an affine function of X again, with weight vector w = W(1) W(2). However many units
# and layers, a network of identity units collapses into a single linear layer, and its output
# is a sigmoid of a linear function of the inputs, which is logistic regression. Its boundary,
# where that function is 0, is a straight line. The hidden units add parameters, but not a
# single function that logistic regression could not represent.
#
# The fitted weights confirm it: multiplying out ``coefs_`` and ``intercepts_`` gives one
# weight vector and bias which reproduce the network's ``decision_function`` (the output
# unit's z) on every test point, and the network makes the same predictions as scikit-learn's
# :class:`~sklearn.linear_model.LogisticRegression`. ``C = 1/alpha`` gives the latter the
# penalty that the network would have without its hidden layer: it minimizes
# ½‖w‖² + C Σ loss, which divided by C m is the mean loss plus (α/2m)‖w‖², the form of J.

identity_model = models["identity"]
scaler, network = identity_model[0], identity_model[-1]
(W1, W2), (b1, b2) = network.coefs_, network.intercepts_
w = W1 @ W2
b = b1 @ W2 + b2
print(f"hidden layer of {W1.shape[1]} identity units collapses to w = {w.ravel()}, b = {b}")

X_test_scaled = scaler.transform(X_test)
linear = (X_test_scaled @ w + b).ravel()
print("same output as the network:", np.allclose(linear, identity_model.decision_function(X_test)))

logistic_regression = make_pipeline(StandardScaler(), LogisticRegression(C=1 / 0.1))
logistic_regression.fit(X_train, y_train)
agreement = np.mean(logistic_regression.predict(X_test) == identity_model.predict(X_test))
print(f"test accuracy, identity network:   {identity_model.score(X_test, y_test):.3f}")
print(f"test accuracy, logistic regression: {logistic_regression.score(X_test, y_test):.3f}")
print(f"same prediction on {agreement:.0%} of the test points")

# %%
# The penalties of the two models are not the same (the network penalizes W(1) and W(2), not
# their product w), so their lines may differ slightly, but no choice of ``alpha``
# or ``hidden_layer_sizes`` can bend the identity network's line. ``"identity"`` is there for
# completeness and for experiments such as this one; to separate classes that a line cannot,
# the hidden units need a nonlinear g.
