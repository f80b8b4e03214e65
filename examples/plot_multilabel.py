"""
================================================
Multilabel classification: one sigmoid per label
================================================

In a multiclass problem every example belongs to exactly one class. In a multilabel problem it
carries any number of labels at once, each of them yes or no: a photograph can show a beach and
a dog and a sunset. The target is then a 0/1 indicator matrix with one column per label.

:class:`~sklearn_bp.BackpropClassifier` accepts such a matrix as ``y``. Its output layer then
has one sigmoid unit per label, each giving the probability of its own label independently of
the others, and the cost J is the sum of one binary cross-entropy per label, as in the
course's network with K outputs. What the labels share is the hidden layer: the features that
it learns serve all of them.

This example asks three questions about each of scikit-learn's handwritten digits at once: is
the digit even, is it greater than four, is it prime? It fits one network to the three
answers, looks at the probabilities it gives for a few test images, draws a precision-recall
curve per label, and compares the network with two one-vs-rest baselines.
"""

# %%
# Three labels for every digit
# ----------------------------
#
# The digits are 1797 images of 8×8 pixels. From the digit shown in each image we derive three
# yes/no labels; a 7, for example, is odd, greater than four and prime, so its row of the
# indicator matrix is ``[0, 1, 1]``. None of the labels is a simple function of the pixels:
# "even" groups 0, 2, 4, 6 and 8, which look nothing alike. Half of the images are kept for
# testing, stratified by digit.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    hamming_loss,
    precision_recall_curve,
)
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier

digits = load_digits()
X, digit = digits.data, digits.target
label_names = ["even", "greater than 4", "prime"]
Y = np.column_stack([digit % 2 == 0, digit > 4, np.isin(digit, [2, 3, 5, 7])]).astype(int)

for d in range(10):
    print(f"digit {d}: labels {Y[digit == d][0]}")

X_train, X_test, Y_train, Y_test, digit_train, digit_test, images_train, images_test = (
    train_test_split(X, Y, digit, digits.images, test_size=0.5, stratify=digit, random_state=0)
)

# %%
# One network for all three labels
# --------------------------------
#
# The indicator matrix goes to ``fit`` as ``y``, exactly like a vector of classes would. The
# pipeline standardizes the pixels first, so that the sigmoid units of the hidden layer do not
# start out saturated.

model = make_pipeline(
    StandardScaler(),
    BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, max_iter=500, random_state=0),
)
model.fit(X_train, Y_train)

network = model[-1]
print(f"classes_: {network.classes_}, output units: {network.n_outputs_}")
print(f"output activation: {network.out_activation_}")
print(f"weight shapes: {[coef.shape for coef in network.coefs_]}")
print(f"J = {network.loss_:.4f} after {network.n_iter_} iterations")

# %%
# The network has 25 hidden units and three output units, one per label; ``classes_`` simply
# numbers the labels. ``predict_proba`` returns one column per label, and since the sigmoids
# are independent, a row need not sum to one: a 5 should get a high probability for both
# "greater than 4" and "prime". ``predict`` thresholds every column at one half and returns an
# indicator matrix like ``Y``.

proba = model.predict_proba(X_test)
Y_pred = model.predict(X_test)
print("row sums of predict_proba for the first five test images:", proba[:5].sum(axis=1).round(2))
print("predict for the first five test images:\n", Y_pred[:5])

# %%
# What the network says about a few images
# ----------------------------------------
#
# Each column below is a test image: the image itself on top, and under it the probability of
# each of the three labels. A red frame marks the labels the digit really has, so a bright
# cell without a frame, or a frame around a dark cell, is a mistake. The first nine test
# images are shown, followed by the first three on which the network gets at least one label
# wrong.

wrong = np.flatnonzero((Y_pred != Y_test).any(axis=1))
shown = np.concatenate([np.arange(9), wrong[:3]])
n_shown = len(shown)

fig = plt.figure(figsize=(11, 4.2), layout="constrained")
grid = fig.add_gridspec(2, n_shown + 1, height_ratios=[1, 1.8], width_ratios=[1] * n_shown + [0.3])
for column, index in enumerate(shown):
    image_ax = fig.add_subplot(grid[0, column])
    image_ax.imshow(images_test[index], cmap="gray_r")
    image_ax.set_title(f"test {index}", fontsize=9)
    image_ax.set_axis_off()

ax = fig.add_subplot(grid[1, :n_shown])
heatmap = ax.imshow(proba[shown].T, cmap="viridis", vmin=0, vmax=1, aspect="auto")
for column, index in enumerate(shown):
    for row in range(len(label_names)):
        value = proba[index, row]
        ax.text(
            column,
            row,
            f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=9,
            color="black" if value > 0.5 else "white",
        )
        if Y_test[index, row]:
            ax.add_patch(
                plt.Rectangle(
                    (column - 0.45, row - 0.45),
                    0.9,
                    0.9,
                    fill=False,
                    edgecolor="tab:red",
                    linewidth=2.5,
                )
            )
ax.set_xticks(range(n_shown), [f"digit {digit_test[index]}" for index in shown], fontsize=9)
ax.set_yticks(range(len(label_names)), label_names)
ax.axvline(8.5, color="w", linewidth=2)
fig.colorbar(heatmap, cax=fig.add_subplot(grid[1, n_shown]), label="predict_proba")
plt.show()

# %%
# On the first nine images the network is right about every label, and mostly confident:
# bright cells sit in frames, dark cells outside them; it hesitates only on the 8 in the sixth
# column. The three images on the right of the white line are mistakes, and they show that the
# labels are answered separately: the network can be unsure or wrong about one label and sure
# and right about the others.
#
# Nothing forces the three answers to agree with any single digit, either. Seven of the eight
# combinations of answers belong to some digit; the eighth, "even, greater than 4 and prime",
# belongs to none, and yet the network can predict it: each output unit answers on its own,
# and none of them knows what the others said.

impossible = Y_pred.all(axis=1)
print(f"test images predicted as even, greater than 4 and prime: {impossible.sum()}")
print(f"their digits: {digit_test[impossible]}")

# %%
# Precision and recall per label
# ------------------------------
#
# Thresholding at one half is one choice among many. A precision-recall curve per label shows
# all of them: moving the threshold on column ``j`` of ``predict_proba`` trades the share of
# predicted "yes" that are right (precision) against the share of true "yes" that are found
# (recall). The average precision (AP) summarizes each curve; 1 is perfect.

fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
for j, name in enumerate(label_names):
    precision, recall, _ = precision_recall_curve(Y_test[:, j], proba[:, j])
    ap = average_precision_score(Y_test[:, j], proba[:, j])
    ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
ax.set_xlabel("recall")
ax.set_ylabel("precision")
ax.set_ylim(0.8, 1.005)
ax.set_title("Precision-recall curve of each label on the test images")
ax.legend(loc="lower left")
plt.show()

# %%
# All three curves stay close to the top right corner: for every label, a threshold can be
# found that recovers more than 95% of the true "yes" answers while more than 95% of the
# predicted ones are right, and the average precisions are 0.99 and above. (Note the vertical
# axis, which starts at 0.8.) The three labels are about equally hard for the network.

# %%
# Comparison with one-vs-rest baselines
# -------------------------------------
#
# scikit-learn's :class:`~sklearn.multiclass.OneVsRestClassifier` turns any binary classifier into a
# multilabel one by fitting one model per label. Two such baselines show what the single
# network does:
#
# * a logistic regression per label: a network without a hidden layer, whose decision is
#   linear in the pixels;
# * a separate :class:`~sklearn_bp.BackpropClassifier` per label, each with its own hidden
#   layer of 25 units: three times the weights of the shared network.
#
# Two scores summarize a multilabel prediction: the Hamming loss, the fraction of the
# individual yes/no answers that are wrong, and the subset accuracy (what ``accuracy_score``
# and ``score`` compute for an indicator matrix), the fraction of images whose three answers
# are all right.

baselines = {
    "one-vs-rest logistic regression": make_pipeline(
        StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=1000))
    ),
    "one-vs-rest networks, 25 hidden units each": make_pipeline(
        StandardScaler(),
        OneVsRestClassifier(
            BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, max_iter=500, random_state=0)
        ),
    ),
}
predictions = {"one network, 25 shared hidden units": Y_pred}
for name, baseline in baselines.items():
    predictions[name] = baseline.fit(X_train, Y_train).predict(X_test)

print(f"{'model':<45} {'Hamming loss':>12} {'subset accuracy':>16}")
for name, prediction in predictions.items():
    print(
        f"{name:<45} {hamming_loss(Y_test, prediction):>12.4f} "
        f"{accuracy_score(Y_test, prediction):>16.4f}"
    )

# %%
# The error rate of every label separately shows where the differences come from.

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
width = 0.27
positions = np.arange(len(label_names))
for k, (name, prediction) in enumerate(predictions.items()):
    errors = (prediction != Y_test).mean(axis=0)
    bars = ax.bar(positions + (k - 1) * width, 100 * errors, width, label=name)
    ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
ax.set_xticks(positions, label_names)
ax.set_ylabel("test error (%)")
ax.set_title("Error rate per label")
ax.legend(loc="upper left")
ax.set_ylim(0, 1.3 * ax.get_ylim()[1])
plt.show()

# %%
# The linear baseline is clearly worse, on every label. Whether a digit is even or prime is a
# property of the digit, not of any direction in pixel space; a hidden layer is needed to first
# recognize something like the digit and then answer about it. The two kinds of network are
# on a par: three separate networks, with three times the weights, do no better than a single
# network whose hidden units are shared by the three labels. Sharing
# also means that a single fit, a single set of hyperparameters and a single model do the
# work.
