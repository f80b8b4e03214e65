"""``python -m sklearn_bp``: the command line (see ``sklearn_bp._cli``); bare, the digits demo.

The demo fits a ``StandardScaler`` + ``BackpropClassifier`` pipeline on three quarters of the
8×8 digits, prints the held-out accuracy, the fit time and the number of iterations, then checks
backpropagation's gradient against central differences on a small network. It needs nothing
beyond sklearn-bp's own dependencies.
"""

import sys
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import BackpropClassifier, __version__, gradient_check


def demo():
    """Run the digits demonstration; return the process exit status."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    model = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(25,), alpha=1.0, max_iter=400, random_state=0),
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    network = model[-1]

    small = BackpropClassifier(hidden_layer_sizes=(5,), alpha=1.0, random_state=0)
    X_small = StandardScaler().fit_transform(X_train[:50, ::8])
    difference = gradient_check(small, X_small, y_train[:50])

    print(f"sklearn-bp {__version__}: BackpropClassifier on the digits data")
    print(f"  training rows      {X_train.shape[0]} x {X_train.shape[1]} features, 10 classes")
    sizes = [network.n_features_in_] + [coef.shape[1] for coef in network.coefs_]
    print(f"  network            {' -> '.join(map(str, sizes))} units")
    print(f"  held-out accuracy  {model.score(X_test, y_test):.4f} ({X_test.shape[0]} rows)")
    print(f"  fit time           {fit_time:.2f} s")
    print(f"  iterations         {network.n_iter_} ({network.method}), J = {network.loss_:.6f}")
    print(f"  gradient check     relative difference {difference:.2e} (8 inputs, 5 hidden units)")
    print("  more: sklearn-bp --help (fit, predict, info, gradcheck)")
    return 0


def main(argv=None):
    """Run the command line; return the process exit status."""
    from ._cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
