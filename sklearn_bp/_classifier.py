"""BackpropClassifier: the course's network as a scikit-learn estimator.

This module validates, encodes targets, and hands the objective of ``_network`` to the driver in
``_optimize``; it computes no derivative of its own.
"""

from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._activations import ACTIVATIONS
from ._network import (
    OUTPUTS,
    BackpropObjective,
    Network,
    decision_output,
    output_log_proba,
)
from ._optimize import METHODS, Monitor, check_result, minimize_objective

# A block of X and its buffers should stay in cache between the forward and the backward
# pass: measured here, blocks of about 8 MiB ran 10-15% faster than one block of all rows,
# while blocks under about 1000 rows lose more in matrix-product efficiency than they gain.
BLOCK_BYTES = 8 * 2**20
MIN_BLOCK_ROWS = 1024


def _block_rows(network, X):
    """Rows per block: about ``BLOCK_BYTES`` of X and buffers, within ``working_memory``.

    Each block holds activations, deltas and a scratch array for every non-input layer;
    scikit-learn's ``working_memory`` setting bounds them, as it bounds
    ``pairwise_distances_chunked``.
    """
    n_samples, n_features = X.shape
    buffer_bytes = 3 * X.dtype.itemsize * sum(network.layer_sizes[1:])
    by_cache = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (buffer_bytes + X.dtype.itemsize * n_features))
    by_memory = get_chunk_n_rows(buffer_bytes, max_n_rows=max(n_samples, 1))
    return max(1, min(by_cache, by_memory))


def _check_total_weight(weight, what):
    """Refuse weights whose sum W cannot serve as the divisor of J: zero, tiny or infinite."""
    with np.errstate(over="ignore"):  # an overflowing sum is refused below, not warned about
        total = np.sum(weight, dtype=np.float64)
    if not total > 0:
        raise ValueError(f"{what} sum to zero: at least one sample needs a positive weight.")
    if not np.isfinite(total) or total < np.finfo(np.float64).tiny / np.finfo(np.float64).eps:
        raise ValueError(
            f"{what} sum to {total:g}, too large or too small to divide the cost by: rescale "
            f"the sample weights (or class_weight)."
        )


def _check_class_weight_dict(class_weight, classes):
    """Refuse a class_weight dict with keys that are no class or weights that are no weight."""
    known = set(classes.tolist())
    unknown = [key for key in class_weight if key not in known]
    if unknown:
        raise ValueError(
            f"class_weight has keys that are not classes: {unknown}; the classes are "
            f"{classes.tolist()}."
        )
    for key, value in class_weight.items():
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"class_weight[{key!r}] must be a real number, got {value!r}.")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(
                f"class_weight[{key!r}] must be a finite non-negative number, got {value!r}."
            )


def _coefs_intercepts(network, theta):
    """``coefs_`` and ``intercepts_``, as lists of views into θ."""
    params = network.unpack(theta)
    return [W for W, _ in params], [b for _, b in params]


class BackpropClassifier(ClassifierMixin, BaseEstimator):
    """Fully connected neural network classifier trained by backpropagation.

    The network computes a(1) = x, z(l+1) = Θ(l) [1; a(l)], a(l+1) = g(z(l+1)) and
    h_Θ(x) = a(L). Training minimizes the regularized cross-entropy

    .. math::

        J(\\Theta) = -\\frac{1}{W} \\sum_i w_i \\sum_k \\left[ y_{ik} \\log h_k(x_i)
            + (1 - y_{ik}) \\log(1 - h_k(x_i)) \\right]
            + \\frac{\\alpha}{2W} \\sum_l \\sum_{i, j \\geq 1} \\left(\\Theta^{(l)}_{ij}\\right)^2

    (sample weights w_i, W = Σ_i w_i, bias weights not penalized) with
    :func:`scipy.optimize.minimize`, given J and its gradient D computed by backpropagation
    over all Θ(l) unrolled into one vector. See the mathematics page of the documentation.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(25,)
        Number of units in each hidden layer; ``()`` gives a network with no hidden layer
        (logistic regression).

    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Activation g of the hidden units.

    out_activation : {"logistic", "softmax"}, default="logistic"
        Output units: ``"logistic"`` is one sigmoid per class with the course's cost,
        ``"softmax"`` a softmax over the classes with the categorical cross-entropy. Binary
        and multilabel targets always use logistic units (for two classes the single sigmoid
        *is* the softmax).

    alpha : float, default=1e-4
        L2 regularization strength, the course's λ; the penalty is α/(2W) times the sum of the
        squared non-bias weights.

    method : str or callable, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`, or a minimizer of its own that
        ``minimize`` accepts as ``method``. Every method gets J with its gradient; the
        second-order ones also the curvature product chosen by ``hessian``:

        ==============  ============  ====================  ==========================
        method          curvature     ``max_iter`` sets     ``tol`` sets
        ==============  ============  ====================  ==========================
        "L-BFGS-B"      none          maxiter               ftol, gtol
        "BFGS"          none          maxiter               gtol
        "CG"            none          maxiter               gtol
        "TNC"           none          maxfun (evaluations)  xtol, ftol, gtol
        "SLSQP"         none          maxiter               ftol
        "Newton-CG"     hessp         maxiter               xtol
        "trust-ncg"     hessp         maxiter               gtol
        "trust-krylov"  hessp         maxiter               gtol
        "trust-constr"  hessp         maxiter               xtol, gtol, barrier_tol
        callable        hessp         maxiter               tol
        ==============  ============  ====================  ==========================

        L-BFGS-B and TNC also stop after ``maxfun`` evaluations of J (scipy's default for
        L-BFGS-B: 15000). BFGS and SLSQP keep a dense n-by-n matrix for the n parameters and
        refuse networks for which it would not fit in memory.

    hessian : {"exact", "gauss-newton"}, default="exact"
        Curvature product handed as ``hessp`` to the methods that take one: the exact
        Hessian-vector product (Pearlmutter's R-operator), or the Gauss-Newton product,
        positive semi-definite, often the better model for truncated Newton methods.

    max_iter : int, default=200
        Maximum number of iterations of the method (evaluations of J for ``"TNC"``).

    tol : float, default=1e-5
        Tolerance handed to :func:`scipy.optimize.minimize` as its ``tol``; 0 turns the
        method's tolerance tests off, so it runs until ``max_iter`` unless it can reduce J no
        further. With ``early_stopping``, also the least improvement of the validation score
        that counts.

    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights. ``"balanced"`` weighs each
        class by ``n_samples / (n_classes * count)``. Not available for multilabel targets.

    warm_start : bool, default=False
        Start from the parameters of the previous fit instead of a new initialization.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, drawn uniformly in [−ε, ε] with
        ε = √6 / √(s_l + s_{l+1}) for each layer.

    verbose : int, default=0
        When positive, print one line per iteration: its number, J, the norm of the gradient,
        the validation score (with ``early_stopping``) and the time since the start.

    options : dict or None, default=None
        Extra options for the method of :func:`scipy.optimize.minimize`; they override
        those derived from ``max_iter`` and ``tol``. Options the method does not take are
        refused.

    callback : callable or None, default=None
        Called after every iteration as
        ``callback(iteration, loss, gradient_norm, coefs, intercepts)``, with the iteration
        number, J, the norm of its gradient and the current parameters as lists of arrays in
        the layout of ``coefs_`` and ``intercepts_``. Returning True ends the fit at these
        parameters, without a convergence warning.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows (stratified by class), score
        the network on them after every iteration, stop once the score has not improved by
        more than ``tol`` for ``n_iter_no_change`` iterations, and keep the parameters of the
        best score. Works with every method.

    validation_fraction : float, default=0.1
        Fraction of the training rows held out for ``early_stopping``.

    n_iter_no_change : int, default=10
        Iterations without improvement after which ``early_stopping`` ends the fit.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels; for multilabel targets, the label indices.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has feature names that are all strings.

    coefs_ : list of ndarray
        ``coefs_[l - 1]`` has shape (s_l, s_{l+1}): the weights from layer l to layer l + 1
        (layers numbered from 1, as in the course), as in
        :class:`~sklearn.neural_network.MLPClassifier`.

    intercepts_ : list of ndarray
        ``intercepts_[l - 1]`` has shape (s_{l+1},): the bias weights into layer l + 1.

    thetas_ : list of ndarray
        The course's matrices Θ(l) of shape (s_{l+1}, s_l + 1), bias in column 0; computed
        from ``coefs_`` and ``intercepts_``.

    loss_ : float
        J at the returned parameters, regularization included.

    loss_curve_ : list of float
        J after every iteration; it continues the previous curve under ``warm_start``. Its
        last entry is ``loss_`` unless ``early_stopping`` went back to an earlier iteration.

    n_iter_ : int
        Number of iterations the method ran.

    n_fun_evals_ : int
        Number of evaluations of J during the fit.

    n_grad_evals_ : int
        Number of evaluations of the gradient (always together with J).

    n_hessp_evals_ : int
        Number of curvature products (Hessian- or Gauss-Newton-vector products).

    validation_scores_ : list of float or None
        With ``early_stopping``, the accuracy on the held-out rows after every iteration.

    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the weighted mean cross-entropy on the held-out rows (J
        without its penalty) after every iteration.

    best_validation_score_ : float or None
        With ``early_stopping``, the best of ``validation_scores_``; the returned parameters
        are those of that iteration.

    n_layers_ : int
        Number of layers L, input and output layers included.

    n_outputs_ : int
        Number of output units: 1 for binary targets, else one per class or label.

    out_activation_ : str
        Activation of the output units actually used.

    optimize_result_ : OptimizeResult
        What :func:`scipy.optimize.minimize` returned.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Multi-layer perceptron of scikit-learn.
    gradient_check : Compare backpropagation's gradient with central differences.

    References
    ----------
    D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning representations by
    back-propagating errors", Nature 323, 533-536 (1986).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_bp import BackpropClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> clf = BackpropClassifier(hidden_layer_sizes=(10,), alpha=1.0, max_iter=500, random_state=0)
    >>> clf.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    >>> clf.predict_proba(X_test[:2]).sum(axis=1)
    array([1., 1.])
    >>> [theta.shape for theta in clf.thetas_]
    [(10, 5), (3, 11)]
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "out_activation": [StrOptions(set(OUTPUTS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "method": [StrOptions(set(METHODS)), callable],
        "hessian": [StrOptions({"exact", "gauss-newton"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "options": [dict, None],
        "callback": [callable, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        out_activation="logistic",
        alpha=1e-4,
        method="L-BFGS-B",
        hessian="exact",
        max_iter=200,
        tol=1e-5,
        class_weight=None,
        warm_start=False,
        random_state=None,
        verbose=0,
        options=None,
        callback=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.out_activation = out_activation
        self.alpha = alpha
        self.method = method
        self.hessian = hessian
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.options = options
        self.callback = callback
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data X and targets y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 data is computed in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a multilabel indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; equal weights by default.

        Returns
        -------
        self : BackpropClassifier
            The fitted estimator.
        """
        # A failed fit must not leave a half-fitted estimator: validate_data already records
        # n_features_in_ on self, so put every attribute back as it was on any error.
        state_before = dict(self.__dict__)
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state_before)
            raise

    def _fit(self, X, y, sample_weight):
        problem = self._prepare(X, y, sample_weight)
        network = problem["network"]
        random_state = check_random_state(self.random_state)
        theta0 = self._initial_theta(network, problem["classes"], random_state)
        train, validation = self._split(problem, random_state)
        objective = self._objective(network, problem, train)
        monitor = Monitor(
            objective.loss_gradient,
            {
                "exact": objective.hessian_vector_product,
                "gauss-newton": objective.gauss_newton_vector_product,
            }[self.hessian],
            views=lambda theta: _coefs_intercepts(network, theta),
            validation=None if validation is None else self._scorer(network, problem, validation),
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
            callback=self.callback,
            verbose=self.verbose,
            first_iteration=len(self._previous("loss_curve_")) + 1,
        )
        result = minimize_objective(
            monitor,
            theta0,
            method=self.method,
            max_iter=self.max_iter,
            tol=self.tol,
            options=self.options,
        )
        n_iter = check_result(result, self.method, self.max_iter, self.options)
        self._store_fit(network, problem, result, monitor, n_iter)
        return self

    def _store_fit(self, network, problem, result, monitor, n_iter):
        """Set every fitted attribute at once, when nothing can fail any more."""
        self.coefs_, self.intercepts_ = (
            [array.copy() for array in arrays] for arrays in _coefs_intercepts(network, result.x)
        )
        self.classes_ = problem["classes"]
        self.loss_ = float(result.fun)
        self.loss_curve_ = self._previous("loss_curve_") + monitor.loss_curve
        self.n_iter_ = n_iter
        self.n_fun_evals_ = monitor.n_fun_evals
        self.n_grad_evals_ = monitor.n_fun_evals  # J and ∇J are always evaluated together
        self.n_hessp_evals_ = monitor.n_hessp_evals
        if self.early_stopping:
            self.validation_scores_ = (
                self._previous("validation_scores_") + monitor.validation_scores
            )
            self.validation_loss_curve_ = (
                self._previous("validation_loss_curve_") + monitor.validation_loss_curve
            )
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.validation_scores_ = self.validation_loss_curve_ = None
            self.best_validation_score_ = None
        self.n_layers_ = network.n_layers
        self.n_outputs_ = network.layer_sizes[-1]
        self.out_activation_ = network.out_activation
        self.optimize_result_ = result
        self._network = network
        self._target_type = problem["target_type"]
        self._y_dtype = problem["y_dtype"]

    def _previous(self, name):
        """A record of the previous fit that a warm-started fit continues, else empty."""
        if self.warm_start and getattr(self, name, None) is not None:
            return list(getattr(self, name))
        return []

    def _split(self, problem, random_state):
        """Row indices for training and, with ``early_stopping``, for validation."""
        n_samples = problem["X"].shape[0]
        if not self.early_stopping:
            return np.arange(n_samples), None
        stratify = None if problem["target_type"] == "multilabel" else problem["y"]
        try:
            train, validation = train_test_split(
                np.arange(n_samples),
                test_size=self.validation_fraction,
                stratify=stratify,
                random_state=random_state,
            )
        except ValueError as error:
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction="
                f"{self.validation_fraction} of the {n_samples} rows: {error}"
            ) from error
        weight = problem["sample_weight"]
        _check_total_weight(weight[train], "The sample weights of the training rows")
        _check_total_weight(weight[validation], "The sample weights of the validation rows")
        return train, validation

    def _objective(self, network, problem, rows):
        X = problem["X"] if len(rows) == problem["X"].shape[0] else problem["X"][rows]
        return BackpropObjective(
            network,
            X,
            problem["Y"][rows],
            problem["sample_weight"][rows],
            self.alpha,
            _block_rows(network, X),
        )

    def _scorer(self, network, problem, rows):
        """``score(theta) -> (loss, accuracy)`` on the validation rows.

        The loss is the weighted mean cross-entropy (J without its penalty); the accuracy the
        weighted fraction of rows predicted right (all labels right, for multilabel targets).
        """
        objective = self._objective(network, problem, rows)
        Y, weight = objective.Y, objective.sample_weight
        kind = problem["target_type"]

        def score(theta):
            Z = objective.output(theta)
            if kind == "multiclass":
                right = np.argmax(Z, axis=1) == np.argmax(Y, axis=1)
            else:
                right = ((Z > 0) == (Y > 0.5)).all(axis=1)
            return objective.data_loss(Z), float(np.average(right, weights=weight))

        return score

    def _objective_at_start(self, X, y, sample_weight, dtype):
        """Validate everything as ``fit`` does; return the objective and the starting θ."""
        self._validate_params()
        problem = self._prepare(X, y, sample_weight, dtype)
        network = problem["network"]
        objective = self._objective(network, problem, np.arange(problem["X"].shape[0]))
        random_state = check_random_state(self.random_state)
        return objective, self._initial_theta(network, problem["classes"], random_state)

    def _prepare(self, X, y, sample_weight, dtype=(np.float64, np.float32)):
        """Validate the data and hyperparameters; encode the targets; lay out the network."""
        hidden = self._hidden_layer_sizes()
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], dtype=list(dtype), multi_output=True
        )
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array, got an array with {X.ndim} dimensions.")
        if sparse.issparse(X):
            X = X.tocsr()
        y_dtype = y.dtype
        y, Y, classes, target_type = self._encode_targets(y, X.dtype)
        sample_weight = self._sample_weight(sample_weight, X, y, classes, target_type)
        out_activation = "logistic" if target_type != "multiclass" else self.out_activation
        network = Network((X.shape[1], *hidden, Y.shape[1]), self.activation, out_activation)
        return {
            "network": network,
            "X": X,
            "y": y,
            "Y": Y,
            "sample_weight": sample_weight,
            "classes": classes,
            "target_type": target_type,
            "y_dtype": y_dtype,
        }

    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, Integral):
                raise TypeError(
                    f"hidden_layer_sizes must contain integers, got {size!r} "
                    f"in {self.hidden_layer_sizes!r}."
                )
            if size < 1:
                raise ValueError(
                    f"hidden_layer_sizes must contain positive integers, got {size!r} "
                    f"in {self.hidden_layer_sizes!r}."
                )
        return [int(size) for size in sizes]

    def _encode_targets(self, y, dtype):
        """Return y, the output targets Y (0/1, one column per unit), classes and y's type."""
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type == "multilabel-indicator":
            Y = y.toarray() if sparse.issparse(y) else np.asarray(y)
            if not np.isin(Y, (0, 1)).all():
                raise ValueError(
                    f"A multilabel target must be an indicator matrix of 0 and 1, got the "
                    f"values {np.unique(Y).tolist()}."
                )
            return y, Y.astype(dtype), np.arange(Y.shape[1]), "multilabel"
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"BackpropClassifier supports binary, multiclass and multilabel-indicator "
                f"targets, got {target_type!r}."
            )
        y = column_or_1d(y, warn=True)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"BackpropClassifier needs samples of at least 2 classes, but the data "
                f"contains only one class: {classes[0]}."
            )
        if classes.size == 2:
            return y, y_index[:, np.newaxis].astype(dtype), classes, "binary"
        Y = (y_index[:, np.newaxis] == np.arange(classes.size)).astype(dtype)
        return y, Y, classes, "multiclass"

    def _sample_weight(self, sample_weight, X, y, classes, target_type):
        """Combine sample weights and class weights into the w_i of the cost."""
        weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
        if self.class_weight is not None:
            if target_type == "multilabel":
                raise ValueError("class_weight is not supported for multilabel targets.")
            if isinstance(self.class_weight, dict):
                _check_class_weight_dict(self.class_weight, classes)
            per_class = compute_class_weight(self.class_weight, classes=classes, y=y)
            weight = weight * per_class[np.searchsorted(classes, y)].astype(X.dtype)
        _check_total_weight(weight, "The sample weights")
        return weight

    def _initial_theta(self, network, classes, random_state):
        if not (self.warm_start and hasattr(self, "coefs_")):
            return network.initial_theta(random_state)
        if not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start can only continue a fit with the same classes: the previous fit "
                f"had {self.classes_!r}, this one has {classes!r}."
            )
        if network.layer_sizes != self._network.layer_sizes:
            raise ValueError(
                f"warm_start can only continue a fit with the same layer sizes: the previous "
                f"fit had {self._network.layer_sizes}, this one has {network.layer_sizes}."
            )
        return network.pack(self.coefs_, self.intercepts_)

    @property
    def thetas_(self):
        """The course's Θ(l), shape (s_{l+1}, s_l + 1), bias in column 0."""
        check_is_fitted(self)
        return [np.column_stack([b, W.T]) for W, b in zip(self.coefs_, self.intercepts_)]

    def _output(self, X):
        """z(L) for the rows of X, computed in X's dtype (float32 or float64)."""
        check_is_fitted(self)
        # scikit-learn's finiteness check sums X, which may overflow near the largest float32.
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], reset=False
            )
        if sparse.issparse(X):
            X = X.tocsr()
        params = [
            (W.astype(X.dtype, copy=False), b.astype(X.dtype, copy=False))
            for W, b in zip(self.coefs_, self.intercepts_)
        ]
        block_rows = _block_rows(self._network, X)
        with np.errstate(over="ignore", invalid="ignore"):
            Z = decision_output(self._network, params, X, block_rows)
        if X.dtype == np.float64:
            return Z
        overflowed = ~np.isfinite(Z).all(axis=1)
        if overflowed.any():
            # Rows whose z leaves float32's range: redo them in float64, where they come out
            # finite and saturated, then clip them into the range, which saturates just as well.
            Z64 = decision_output(
                self._network,
                list(zip(self.coefs_, self.intercepts_)),
                X[overflowed].astype(np.float64),
                block_rows,
            )
            largest = np.finfo(X.dtype).max
            Z[overflowed] = np.clip(Z64, -largest, largest)
        return Z

    def predict(self, X):
        """Predict class labels for the rows of X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Predicted classes, or a label indicator matrix for multilabel targets.
        """
        proba = self.predict_proba(X)
        if self._target_type == "multilabel":
            return (proba > 0.5).astype(self._y_dtype)
        # The argmax of the probabilities themselves, so that predict and predict_proba agree
        # even where saturated outputs round to tied probabilities.
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X):
        """Predict the logarithm of class probabilities for the rows of X.

        Equal to ``log(predict_proba(X))``, with ``-inf`` and no warning where a probability
        is below the smallest number of X's dtype (about 1e-45 in float32, 1e-323 in float64).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, in the order of ``classes_``.
        """
        proba = self.predict_proba(X)
        log_proba = np.full_like(proba, -np.inf)
        return np.log(proba, out=log_proba, where=proba > 0)

    def predict_proba(self, X):
        """Predict class probabilities for the rows of X.

        Rows sum to one for binary and multiclass targets; for multilabel targets each column
        is the probability of its label. They are computed from log-probabilities taken
        directly from the output layer's input, so no intermediate overflows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, in the order of ``classes_``, in X's floating dtype.
        """
        log_proba = output_log_proba(self._output(X), self.out_activation_, self._target_type)
        return np.exp(log_proba, out=log_proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags
