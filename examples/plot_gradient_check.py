"""
========================================================
Gradient checking, and a slip in the textbook's gradient
========================================================

Backpropagation computes the gradient D of the cost J with respect to every weight of the
network in one backward pass. A mistake in it does not make training fail loudly: the optimizer
still moves, just not downhill as fast as it could, or towards the minimum of some other
function. The course's remedy is gradient checking: approximate each partial derivative by the
central difference (J(θ + ε eᵢ) − J(θ − ε eᵢ)) / 2ε and compare it with D.

This example runs :func:`sklearn_bp.gradient_check` for every hidden activation and both kinds
of output layer, then uses the same comparison to show that the course's formula for D,
``D = (1/m) Δ + λ Θ``, is not the gradient of the course's own cost, while
``D = (1/m) (Δ + λ Θ)``, which sklearn-bp uses, is.
"""

# %%
# A small problem
# ---------------
#
# Central differences cost two evaluations of J per weight, so gradient checking is for small
# networks on a few rows. Two hidden layers make sure that the error terms δ are propagated
# back through a hidden layer, not only from the output layer. Three classes give three output
# units, so that both output layers apply: one sigmoid per class, or a softmax over them.

import numpy as np

from sklearn_bp import BackpropClassifier, gradient_check

# A private helper, used only in the section on the textbook's D below.
from sklearn_bp._gradient_check import numerical_gradient

rng = np.random.RandomState(0)
X = rng.normal(size=(40, 4))
y = rng.randint(3, size=40)

# %%
# Backpropagation against central differences
# --------------------------------------------
#
# :func:`~sklearn_bp.gradient_check` builds the network exactly as ``fit`` would, at the
# initial weights that ``random_state`` draws, and returns the relative difference
# ‖num − bp‖ / ‖num + bp‖ between the numerical gradient and backpropagation's. Values of
# about 1e-9 or smaller mean that the two agree to the precision central differences can
# give (their own error is of order ε²); a wrong derivative anywhere shows up as a difference
# many orders of magnitude larger.

print("activation  output    relative difference")
for activation in ["logistic", "tanh", "relu", "identity"]:
    for out_activation in ["logistic", "softmax"]:
        clf = BackpropClassifier(
            hidden_layer_sizes=(5, 4),
            activation=activation,
            out_activation=out_activation,
            alpha=1.0,
            random_state=0,
        )
        difference = gradient_check(clf, X, y)
        print(f"{activation:<11} {out_activation:<9} {difference:.2e}")

# %%
# A slip in the textbook's D
# --------------------------
#
# The course's cost has the regularization term (λ / 2m) Σ Θ², summed over the non-bias
# weights. Differentiating it gives (λ / m) Θ, so the gradient of J is::
#
#     D = (1/m) (Δ + λ Θ)        (non-bias weights; the bias column gets (1/m) Δ)
#
# where Δ is the accumulated sum of δ(l+1) a(l)ᵀ over the examples. The course writes
# ``D = (1/m) Δ + λ Θ`` instead: its regularization part is m times too large.
#
# To compare the two formulas we need backpropagation's Δ and the numerical gradient of the
# very same J, which the public API does not hand out separately. This teaching example
# therefore reaches into sklearn-bp's private objects (underscore names), which may change
# without notice; do not rely on them in your own code.

clf = BackpropClassifier(hidden_layer_sizes=(5, 4), alpha=1.0, random_state=0)
objective, theta = clf._objective_at_start(X, y, None, dtype=[np.float64])
m = objective.total_weight  # the sum of the sample weights: m = 40 when all are 1
alpha = objective.alpha  # the course's λ

J, D_ours = objective.loss_gradient(theta)

# ``unpack`` gives each layer's non-bias weights W and bias b as views into the flat vector.
# On W, D_ours = (Δ + λ W) / m, so the textbook's Δ / m + λ W is D_ours + (λ − λ / m) W;
# on b both formulas give Δ / m and nothing changes.
D_textbook = D_ours.copy()
for (W, _), (D_W, _) in zip(objective.network.unpack(theta), objective.network.unpack(D_textbook)):
    D_W += (alpha - alpha / m) * W

numerical = numerical_gradient(objective.loss, theta, 1e-4)


def relative_difference(a, b):
    """‖a − b‖ / ‖a + b‖, the measure that gradient_check reports."""
    return np.linalg.norm(a - b) / np.linalg.norm(a + b)


ours = relative_difference(D_ours, numerical)
textbook = relative_difference(D_textbook, numerical)
print(f"J(theta) = {J:.6f} on m = {m:g} rows, lambda = {alpha:g}")
print("relative difference to the central differences of J:")
print(f"  ours      D = (1/m)(Delta + lambda Theta): {ours:.2e}")
print(f"  textbook  D = (1/m) Delta + lambda Theta:  {textbook:.2e}")

# %%
# Which cost does the textbook's D belong to?
# -------------------------------------------
#
# ``(1/m) Δ + λ Θ`` is the exact gradient of a different cost: the same data term with the
# penalty (λ / 2) Σ Θ², not divided by m. Adding the missing (λ/2)(1 − 1/m) Σ Θ² to J and
# differentiating numerically confirms it.


def textbook_cost(theta):
    """The data term of J with the penalty (λ/2) Σ Θ² instead of (λ/2m) Σ Θ²."""
    squared_norm = objective.network.squared_norm(theta)
    return objective.loss(theta) + 0.5 * (alpha - alpha / m) * squared_norm


numerical_textbook = numerical_gradient(textbook_cost, theta, 1e-4)
difference = relative_difference(D_textbook, numerical_textbook)
print("relative difference to the central differences of the cost with a lambda/2 penalty:")
print(f"  textbook  D = (1/m) Delta + lambda Theta:  {difference:.2e}")

# %%
# Both formulas belong to a sensible regularized problem, but not to the same one. Under the
# textbook's D the penalty is m times heavier than under the course's J with the same λ, so
# a λ cannot be carried from one to the other, and an optimizer handed the course's J with
# the textbook's D is given a slope that does not belong to the function it evaluates.
# sklearn-bp keeps the course's cost J, whose λ/(2m) scaling is also that of ``alpha`` in
# scikit-learn's :class:`~sklearn.neural_network.MLPClassifier`, and therefore its gradient
# ``(1/m) (Δ + λ Θ)``, which the checks above confirm.
