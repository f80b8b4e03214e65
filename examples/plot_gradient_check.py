"""
=======================================================================
The gradient check step by step, and a slip in the textbook's gradient
=======================================================================

Backpropagation computes the gradient D of the cost J with respect to every weight of the
network in one backward pass. A mistake in it does not make training fail loudly: the optimizer
still moves, just not downhill as fast as it could, or towards the minimum of some other
function. The course's remedy is gradient checking: approximate each partial derivative by the
central difference (J(θ + ε eᵢ) − J(θ − ε eᵢ)) / 2ε and compare it with D.

This example takes the check apart. It puts the two gradients side by side, component by
component; condenses them into the one number that :func:`sklearn_bp.gradient_check` reports;
runs that check for every hidden activation and both kinds of output layer; and looks at how
the step ε decides what the check can see. It then uses the same comparison to show that the
course's formula for D, ``D = (1/m) Δ + λ Θ``, is not the gradient of the course's own cost,
while ``D = (1/m) (Δ + λ Θ)``, which sklearn-bp uses, is.
"""

# %%
# A small problem
# ---------------
#
# Central differences cost two evaluations of J per weight, so gradient checking is for small
# networks on a few rows. Two hidden layers make sure that the error terms δ are propagated
# back through a hidden layer, not only from the output layer. Three classes give three output
# units, so that both output layers apply: one sigmoid per class, or a softmax over them.

import matplotlib.pyplot as plt
import numpy as np

from sklearn_bp import BackpropClassifier, gradient_check

# A private helper, used to look inside the check (the public function returns one number).
from sklearn_bp._gradient_check import numerical_gradient

rng = np.random.RandomState(0)
X = rng.normal(size=(40, 4))
y = rng.randint(3, size=40)

# %%
# Step 1: the two gradients, side by side
# ---------------------------------------
#
# :func:`~sklearn_bp.gradient_check` hands back a single number. To see where it comes from we
# need backpropagation's gradient and the numerical one as vectors, which the public API does
# not hand out. This teaching example therefore reaches into sklearn-bp's private objects
# (underscore names), which may change without notice; do not rely on them in your own code.
#
# ``_objective_at_start`` builds the network and the cost J exactly as ``fit`` would, and
# returns them with the initial parameters θ that ``random_state`` draws, unrolled into one
# vector. ``loss_gradient`` runs the forward and backward passes and returns J and D;
# ``numerical_gradient`` perturbs one component of θ at a time by ±ε.

clf = BackpropClassifier(hidden_layer_sizes=(5, 4), alpha=1.0, random_state=0)
objective, theta = clf._objective_at_start(X, y, None, dtype=[np.float64])
m = objective.total_weight  # the sum of the sample weights: m = 40 when all are 1
alpha = objective.alpha  # the course's λ

J, D_ours = objective.loss_gradient(theta)
numerical = numerical_gradient(objective.loss, theta, 1e-4)
print(f"{theta.size} parameters, J(theta) = {J:.6f} on m = {m:g} rows, lambda = {alpha:g}")

# Which layer, and which bias, every component of θ belongs to: unpacking a vector that holds
# each component's own index gives, for every layer, the indices of its weights W and bias b.
positions = np.arange(theta.size, dtype=np.float64)
layer_of = np.empty(theta.size, dtype=int)
is_bias = np.zeros(theta.size, dtype=bool)
for layer, (W, b) in enumerate(objective.network.unpack(positions)):
    layer_of[W.astype(int).ravel()] = layer
    layer_of[b.astype(int)] = layer
    is_bias[b.astype(int)] = True

# %%
# The left panel puts every component of the numerical gradient against the same component of
# backpropagation's: all 64 points lie on the diagonal. The right panel zooms in on what the
# left one cannot show, the absolute difference of every component, in the order of θ (one
# shaded block per matrix Θ(l), bias weights marked). The differences lie between about 1e-13
# and 1e-10, while most components are of the order of 1e-2: the two gradients agree to eight
# digits or more, in every layer, on the weights and on the biases alike.

fig, (ax_scatter, ax_diff) = plt.subplots(1, 2, figsize=(11, 4.5), width_ratios=[1, 1.6])

limits = 1.1 * np.max(np.abs(D_ours)) * np.array([-1, 1])
ax_scatter.plot(limits, limits, color="0.6", linewidth=1, zorder=0, label="diagonal")
ax_scatter.scatter(D_ours, numerical, s=18, color="C0", label="one component of θ")
ax_scatter.set(
    xlim=limits,
    ylim=limits,
    aspect="equal",
    xlabel="backpropagation D",
    ylabel="central differences, ε = 1e-4",
    title="Numerical against backpropagation gradient",
)
ax_scatter.legend(loc="upper left")

difference = np.abs(numerical - D_ours)
index = np.arange(theta.size)
for layer in range(objective.network.n_layers - 1):
    inside = np.flatnonzero(layer_of == layer)
    ax_diff.axvspan(inside[0] - 0.5, inside[-1] + 0.5, color=f"C{layer}", alpha=0.08)
    ax_diff.text(inside.mean(), 1.2e-9, f"Θ({layer + 1})", ha="center", va="top")
ax_diff.scatter(index[~is_bias], difference[~is_bias], s=18, color="C0", label="weight")
ax_diff.scatter(
    index[is_bias], difference[is_bias], s=30, marker="s", facecolor="none", edgecolor="C3"
)
ax_diff.scatter([], [], s=30, marker="s", facecolor="none", edgecolor="C3", label="bias weight")
ax_diff.set(
    yscale="log",
    ylim=(1e-14, 2e-9),
    xlim=(-1, theta.size),
    xlabel="component of θ (the unrolled Θ(1), Θ(2), Θ(3))",
    ylabel="|numerical - backpropagation|",
    title="Difference, component by component",
)
ax_diff.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# Step 2: one number for the whole vector
# ---------------------------------------
#
# A single component could disagree by a tiny amount because it is tiny itself, so the check
# compares the whole vectors, relative to their size: ‖num − bp‖ / ‖num + bp‖. This is what
# :func:`~sklearn_bp.gradient_check` computes, at the same initial weights, and indeed both
# give the same number.


def relative_difference(a, b):
    """‖a − b‖ / ‖a + b‖, the measure that gradient_check reports."""
    return np.linalg.norm(a - b) / np.linalg.norm(a + b)


print(f"relative difference, computed here: {relative_difference(numerical, D_ours):.3e}")
print(f"gradient_check(clf, X, y):           {gradient_check(clf, X, y):.3e}")

# %%
# Step 3: every activation and output layer
# -----------------------------------------
#
# Each hidden activation has its own derivative g′ in the backward pass, and each output layer
# its own cost, so each pair deserves its own check. Values of about 1e-9 or smaller mean that
# the two gradients agree to the precision central differences can give (their own error is of
# order ε², see the next step); a wrong derivative anywhere shows up as a difference many
# orders of magnitude larger.

activations = ["logistic", "tanh", "relu", "identity"]
out_activations = ["logistic", "softmax"]
checks = {}
print("activation  output    relative difference")
for activation in activations:
    for out_activation in out_activations:
        network = BackpropClassifier(
            hidden_layer_sizes=(5, 4),
            activation=activation,
            out_activation=out_activation,
            alpha=1.0,
            random_state=0,
        )
        checks[activation, out_activation] = gradient_check(network, X, y)
        print(f"{activation:<11} {out_activation:<9} {checks[activation, out_activation]:.2e}")

fig, ax = plt.subplots(figsize=(8, 4))
height = 0.38
rows = np.arange(len(activations))
for offset, out_activation in zip([-height / 2, height / 2], out_activations):
    values = [checks[activation, out_activation] for activation in activations]
    ax.barh(rows + offset, values, height=height, label=f"{out_activation} output layer")
ax.axvline(1e-9, color="0.3", linestyle="--", linewidth=1)
ax.text(1.2e-9, 0, "1e-9", va="center")
ax.set(
    xscale="log",
    xlim=(1e-11, 1e-2),
    yticks=rows,
    yticklabels=[f"{activation} hidden units" for activation in activations],
    xlabel="relative difference ‖num - bp‖ / ‖num + bp‖  (ε = 1e-4)",
    title="gradient_check for every activation and output layer",
)
ax.invert_yaxis()
ax.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %%
# All eight bars end near 1e-9, far to the left of where a wrong derivative would put them
# (the textbook's slip below gives almost 1).
#
# Step 4: choosing ε
# ------------------
#
# The central difference has two errors that pull in opposite directions. Its truncation error,
# from the Taylor series of J, is of order ε² f‴: it shrinks as ε does. But J itself is only
# known to about 1e-16 of its size (the float64 rounding unit u), and the difference of two
# nearly equal values of J divided by 2ε turns that into an error of order u J / ε, which
# grows as ε shrinks. The total is smallest near ε ≈ u^(1/3), about 1e-5.
#
# :func:`~sklearn_bp.gradient_check` takes ε as ``epsilon`` (default 1e-4). Running it over
# twelve decades of ε, for each hidden activation, shows both errors.

epsilons = np.logspace(-12, 0, 25)
fig, ax = plt.subplots(figsize=(10, 5))
for activation in activations:
    network = BackpropClassifier(
        hidden_layer_sizes=(5, 4), activation=activation, alpha=1.0, random_state=0
    )
    values = [gradient_check(network, X, y, epsilon=epsilon) for epsilon in epsilons]
    ax.plot(epsilons, values, marker="o", markersize=4, label=f"{activation} hidden units")

# Guide lines of slope 2 (truncation) and −1 (round-off), drawn through typical values.
truncation = np.logspace(-5, 0, 2)
ax.plot(truncation, 4.4e-3 * (truncation / 1e-1) ** 2, "k--", linewidth=1, label="∝ ε²")
roundoff = np.logspace(-12, -5, 2)
ax.plot(roundoff, 3e-3 * (roundoff / 1e-12) ** -1, "k:", linewidth=1.5, label="∝ 1/ε")
ax.axvline(1e-4, color="0.5", linewidth=1)
ax.text(1.3e-4, 3e-12, "default ε = 1e-4", color="0.3")
ax.set(
    xscale="log",
    yscale="log",
    ylim=(1e-12, 1),
    xlabel="ε",
    ylabel="relative difference ‖num - bp‖ / ‖num + bp‖",
    title="The step of the central differences",
)
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.tight_layout()
plt.show()

# %%
# To the right of the valley the curves follow the ε² line: the truncation error, a property
# of central differences, not of backpropagation. To the left they follow the 1/ε line: the
# round-off in J, amplified by the division by 2ε. At the bottom of the valley the two gradients
# agree to about 1e-10. The default ε = 1e-4 sits on the truncation side, where a correct
# gradient gives about 1e-9, which is where the rule of thumb above comes from.
#
# The ReLU curve breaks away from the ε² line at ε ≈ 1e-3.5: ReLU has a kink at 0, and once ε
# exceeds the distance of some unit's input z from 0 for some row, J(θ + ε eᵢ) and
# J(θ − ε eᵢ) lie on different sides of the kink and the difference quotient no longer
# measures the slope at θ. A bad relative difference with ReLU units and a large ε is
# therefore no proof of a bug; check again with a smaller ε.
#
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
# We already have backpropagation's D, and with it Δ, and the numerical gradient of the very
# same J from step 1. On W, D_ours = (Δ + λ W) / m, so the textbook's Δ / m + λ W is
# D_ours + (λ − λ / m) W; on the bias b both formulas give Δ / m and nothing changes.

D_textbook = D_ours.copy()
for (W, _), (D_W, _) in zip(objective.network.unpack(theta), objective.network.unpack(D_textbook)):
    D_W += (alpha - alpha / m) * W

ours = relative_difference(D_ours, numerical)
textbook = relative_difference(D_textbook, numerical)
print("relative difference to the central differences of J:")
print(f"  ours      D = (1/m)(Delta + lambda Theta): {ours:.2e}")
print(f"  textbook  D = (1/m) Delta + lambda Theta:  {textbook:.2e}")

# %%
# Parameter by parameter, the difference is plain to see. The bars give each component's
# error, the absolute difference between D and the numerical gradient, on a log scale:
# sklearn-bp's D (blue) is within about 1e-10 everywhere; the textbook's (orange) is off by
# 0.1 to 1 on every non-bias weight, more than the components of the gradient themselves (at
# most 0.13 here), and agrees only on the bias weights (red squares along the bottom), which
# the penalty leaves alone.

error_ours = np.abs(D_ours - numerical)
error_textbook = np.abs(D_textbook - numerical)
fig, ax = plt.subplots(figsize=(11, 5))
ax.bar(index - 0.2, error_ours, width=0.4, label="sklearn-bp: D = (1/m)(Δ + λΘ)")
ax.bar(index + 0.2, error_textbook, width=0.4, label="textbook: D = (1/m)Δ + λΘ")
ax.scatter(
    index[is_bias],
    np.full(is_bias.sum(), 2e-15),
    marker="s",
    facecolor="none",
    edgecolor="C3",
    clip_on=False,
    label="bias weight",
)
for layer in range(objective.network.n_layers - 1):
    inside = np.flatnonzero(layer_of == layer)
    ax.axvspan(inside[0] - 0.5, inside[-1] + 0.5, color=f"C{layer}", alpha=0.08)
    ax.text(inside.mean(), 40, f"Θ({layer + 1})", ha="center", va="top")
ax.set(
    yscale="log",
    ylim=(1e-15, 60),
    xlim=(-1, theta.size),
    xlabel="component of θ (the unrolled Θ(1), Θ(2), Θ(3))",
    ylabel="|D - central differences of J|",
    title="Error of each component of the gradient, λ = 1, m = 40",
)
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=3)
fig.tight_layout()
plt.show()

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
