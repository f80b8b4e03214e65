"""
==========================
Counts: Poisson regression
==========================

Counts (claims, visits, events) are non-negative integers whose spread grows with their mean.
``BackpropRegressor(loss="poisson")`` models them with a log-link output, h = exp(z(L)),
always positive, and half the Poisson deviance as its cost, J = (1/m) Σ (h − y log h) plus the
usual penalty (see the mathematics page). Without hidden layers this is scikit-learn's
:class:`~sklearn.linear_model.PoissonRegressor` (with its ``alpha`` = our α / m); with a
hidden layer the log of the mean may be any smooth function of the features.

Here the counts' log-mean is a curve in one feature and linear in another. The network is
compared with :class:`~sklearn.linear_model.PoissonRegressor`, which can only fit a log-mean
linear in the features, and with
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` with ``loss="poisson"``, by the mean
Poisson deviance on held-out rows (lower is better).
"""

# %%
# The counts
# ----------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import mean_poisson_deviance
from sklearn.model_selection import train_test_split

from sklearn_bp import BackpropRegressor

rng = np.random.RandomState(0)
X = rng.uniform(-2, 2, size=(3000, 2))
log_mean = np.sin(1.5 * X[:, 0]) + 0.4 * X[:, 1]
y = rng.poisson(np.exp(log_mean))
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

# %%
# Three models
# ------------

models = {
    "BackpropRegressor(loss='poisson')": BackpropRegressor(
        hidden_layer_sizes=(10,), activation="tanh", loss="poisson", alpha=1.0, random_state=0
    ),
    "PoissonRegressor": PoissonRegressor(alpha=1e-4),
    "HistGradientBoosting(loss='poisson')": HistGradientBoostingRegressor(
        loss="poisson", random_state=0
    ),
}
deviances = {}
for name, model in models.items():
    model.fit(X_train, y_train)
    deviances[name] = mean_poisson_deviance(y_test, model.predict(X_test))
    print(f"{name:40s} held-out mean Poisson deviance {deviances[name]:.4f}")

# %%
# The fitted means along the first feature (the second held at 0), and the deviances.

x_plot = np.column_stack([np.linspace(-2, 2, 400), np.zeros(400)])
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
left.plot(x_plot[:, 0], np.exp(np.sin(1.5 * x_plot[:, 0])), "k--", label="true mean")
for name, model in models.items():
    left.plot(x_plot[:, 0], model.predict(x_plot), label=name)
left.set_xlabel("first feature")
left.set_ylabel("mean count")
left.legend(fontsize=8)
right.barh(list(deviances), list(deviances.values()), color=["C0", "C1", "C2"])
right.set_xlabel("held-out mean Poisson deviance")
plt.show()
