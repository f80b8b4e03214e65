"""BackpropClassifier: the course's network as a scikit-learn estimator.

This module validates, encodes targets, and hands the objective of ``_network`` to the driver in
``_optimize``; it computes no derivative of its own.
"""

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ._activations import ACTIVATIONS, SATURATED_Z
from ._network import (
    OUTPUTS,
    BackpropObjective,
    CurvatureWorkspace,
    Network,
    Workspace,
    decision_output,
    may_overflow,
    output_log_proba,
    scaled_decision_output,
    scaled_log_proba,
    unscale,
)
from ._optimize import (
    MAX_ITER,
    METHODS,
    Monitor,
    blas_threads_for,
    check_method,
    check_reproducible,
    check_result,
    method_spec,
    minimize_objective,
)

# A block of X and its buffers should stay in cache between the forward and the backward
# pass: measured here, blocks of about 8 MiB ran 10-15% faster than one block of all rows,
# while blocks under about 1000 rows lose more in matrix-product efficiency than they gain.
BLOCK_BYTES = 8 * 2**20
MIN_BLOCK_ROWS = 1024

# The saturation check at the start of a fit looks at this many rows, and warns when more
# than this fraction of the first hidden layer's pre-activations are saturated.
SATURATION_ROWS = 256
SATURATED_FRACTION = 0.5


def _block_rows(network, X, curvature=False):
    """Rows per block: about ``BLOCK_BYTES`` of X and buffers, within ``working_memory``.

    Each block holds activations, deltas and a scratch array for every non-input layer, and
    for the methods that take curvature products six more arrays of the R-passes;
    scikit-learn's ``working_memory`` setting bounds them all, as it bounds
    ``pairwise_distances_chunked``.
    """
    n_samples, n_features = X.shape
    buffer_bytes = Workspace.bytes_per_row(network, X.dtype)
    if curvature:
        buffer_bytes += CurvatureWorkspace.bytes_per_row(network, X.dtype)
    by_cache = max(MIN_BLOCK_ROWS, BLOCK_BYTES // (buffer_bytes + X.dtype.itemsize * n_features))
    by_memory = get_chunk_n_rows(buffer_bytes, max_n_rows=max(n_samples, 1))
    return max(1, min(by_cache, by_memory))


def _warn_if_saturated(network, X, theta):
    """Warn when most first-layer hidden units start saturated on the training rows.

    Unscaled features of large magnitude push z(2) far onto the plateaus of the sigmoid or
    tanh, where g′ and with it the gradient vanish: the fit then ends early at a poor model and
    reports success. A few hundred rows show it for the price of one small product.
    """
    threshold = SATURATED_Z.get(network.activation)
    if threshold is None or network.n_layers < 3:
        return
    rows = np.unique(np.linspace(0, X.shape[0] - 1, num=SATURATION_ROWS).astype(int))
    W, b = network.unpack(theta)[0]
    with np.errstate(over="ignore", invalid="ignore"):
        Z = np.asarray(X[rows] @ W.astype(X.dtype)) + b
    saturated = np.mean(~(np.abs(Z) <= threshold))
    if saturated > SATURATED_FRACTION:
        warnings.warn(
            f"{saturated:.0%} of the first hidden layer's units start saturated on the "
            f"training rows (|z| > {threshold:g}, where the {network.activation} derivative is all "
            f"but zero), so backpropagation's gradient vanishes: the features are probably "
            f"not scaled. Scale them, for example with make_pipeline(StandardScaler(), "
            f"BackpropClassifier(...)).",
            UserWarning,
            stacklevel=5,
        )


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


@contextmanager
def _too_large_for_float(name):
    """Name the input when numpy cannot convert a Python integer beyond float's range."""
    try:
        yield
    except OverflowError as error:
        raise ValueError(f"{name} holds a number too large for float64: {error}.") from error


def _short(value, length=40):
    """``repr(value)``, cut to ``length`` characters: a 400-digit integer makes no message."""
    text = repr(value)
    return text if len(text) <= length else f"{text[: length - 3]}..."


def _as_float(value):
    """``float(value)`` for any real number, with ±inf for integers beyond float's range."""
    try:
        return float(value)
    except OverflowError:
        return np.inf if value > 0 else -np.inf


def _class_weight_floats(class_weight, classes):
    """The class_weight dict with float values; refuse keys that are no class, values no weight."""
    known = set(classes.tolist())
    unknown = [key for key in class_weight if key not in known]
    if unknown:
        raise ValueError(
            f"class_weight has keys that are not classes: {unknown}; the classes are "
            f"{classes.tolist()}."
        )
    floats = {}
    for key, value in class_weight.items():
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"class_weight[{key!r}] must be a real number, got {_short(value)}.")
        weight = _as_float(value)
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class_weight[{key!r}] must be a finite non-negative number, got {_short(value)}."
            )
        floats[key] = weight
    return floats


def _check_weights_fit_dtype(weight, dtype):
    """Refuse weights that overflow float64 or, for float32 data, float32: no numpy warning."""
    largest = np.max(weight, initial=0.0)
    if not np.isfinite(largest):
        raise ValueError(
            "The sample weights times class_weight overflow float64: rescale the sample "
            "weights or class_weight."
        )
    if largest > np.finfo(dtype).max:
        raise ValueError(
            f"The sample weights (times class_weight) reach {largest:g}, beyond the largest "
            f"{np.dtype(dtype).name} ({np.finfo(dtype).max:g}) that X's dtype can hold: "
            f"rescale them."
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
        L-BFGS-B: 15000). ``"trust-krylov"`` is not reproducible (SciPy's subproblem solver
        seeds itself from the clock): ``fit`` warns when ``random_state`` is set with it.
        BFGS and SLSQP keep a dense n-by-n matrix for the n parameters,
        warn (``EfficiencyWarning``) above 500 parameters and refuse networks for which it
        would not fit in memory. A callable is called as ``method(fun, x0, args, jac, hess,
        hessp, bounds, constraints, callback, **options)``, where ``fun(x)`` returns J and
        ``jac(x)`` its gradient (``minimize`` splits them), and returns an
        ``OptimizeResult`` whose ``x`` holds one finite number per parameter.

    hessian : {"exact", "gauss-newton"}, default="exact"
        Curvature product handed as ``hessp`` to the methods that take one: the exact
        Hessian-vector product (Pearlmutter's R-operator), or the Gauss-Newton product,
        positive semi-definite, often the better model for truncated Newton methods.

    max_iter : int, default=200
        Maximum number of iterations of the method (evaluations of J for ``"TNC"``), at most
        2**31 − 1.

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

    n_iter_no_change : int or numpy.inf, default=10
        Iterations without improvement after which ``early_stopping`` ends the fit;
        ``numpy.inf`` never ends it early (the best parameters are still kept).

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
        last entry is ``loss_`` unless ``early_stopping`` went back to an earlier iteration
        (or the method is SLSQP, whose callback sees its line searches' first trial points).

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
        With ``early_stopping``, the validation score of the returned parameters: the best of
        this fit's ``validation_scores_``, or, under ``warm_start``, the previous fit's best if
        this fit found none better (the same rows are held out), or the score of the start if
        the method ran no iteration.

    n_layers_ : int
        Number of layers L, input and output layers included.

    n_outputs_ : int
        Number of output units: 1 for binary targets, else one per class or label.

    out_activation_ : str
        Activation of the output units actually used.

    optimize_result_ : dict
        A summary of what :func:`scipy.optimize.minimize` returned, plain numbers and text:
        ``success``, ``status``, ``message``, ``fun`` (``loss_``), ``gradient_norm`` (of the
        gradient at the returned parameters), ``nit``, ``nfev``, ``nhev``, and ``stopped_by``
        (``"callback"``, ``"early_stopping"``, ``"interrupted"`` or ``"breakdown"``) when the
        fit was not ended by the method's own test. The method's internal state is not kept.

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
        "max_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "options": [dict, None],
        "callback": [callable, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [
            Interval(Integral, 1, None, closed="left"),
            Options(Real, {np.inf}),
        ],
    }
    # Parameters that scikit-learn's validation compares as floats: checked as float(value),
    # so that an integer beyond float's range or a Fraction gets a message that names them.
    _real_parameters = ("alpha", "tol", "validation_fraction")

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

    def _validate_params(self):
        """Validate the hyperparameters as scikit-learn does, real numbers as floats."""
        params = self.get_params(deep=False)
        for name in self._real_parameters:
            value = params[name]
            if isinstance(value, Real) and not isinstance(value, bool | np.bool_):
                try:
                    params[name] = float(value)
                except OverflowError:
                    raise ValueError(
                        f"The {name!r} parameter of {type(self).__name__} must be a finite "
                        f"number, got an integer too large for a float: {_short(value)}."
                    ) from None
        validate_parameter_constraints(
            self._parameter_constraints, params, caller_name=type(self).__name__
        )

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
        # n_features_in_ on self, so put every attribute back as it was on any error, and
        # the state of a RandomState passed as random_state with it.
        state_before = dict(self.__dict__)
        random_state = self.random_state
        rng_before = (
            random_state.get_state() if isinstance(random_state, np.random.RandomState) else None
        )
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state_before)
            if rng_before is not None:
                random_state.set_state(rng_before)
            raise

    def _fit(self, X, y, sample_weight):
        # Everything that can be refused is refused before anything of the network's size is
        # allocated and before a random number is drawn.
        problem = self._prepare(X, y, sample_weight)
        network = problem["network"]
        check_method(self.method, self.max_iter, self.options, network.n_params)
        check_reproducible(self.method, self.random_state)
        self._check_warm_start(network, problem["classes"])
        random_state = check_random_state(self.random_state)
        train, validation = self._split(problem, random_state)
        theta0 = self._initial_theta(network, random_state)
        objective = self._objective(network, problem, train, method_spec(self.method).hessp)
        if not self._continues():
            _warn_if_saturated(network, objective.X, theta0)
        monitor = Monitor(
            objective.loss_gradient,
            {
                "exact": objective.hessian_vector_product,
                "gauss-newton": objective.gauss_newton_vector_product,
            }[self.hessian],
            views=lambda theta: _coefs_intercepts(network, theta),
            validation=None if validation is None else self._scorer(network, problem, validation),
            n_iter_no_change=self.n_iter_no_change,
            tol=float(self.tol),
            callback=self.callback,
            verbose=self.verbose,
            first_iteration=len(self._previous("loss_curve_")) + 1,
        )
        if validation is not None and self._continues():
            monitor.offer_start(theta0)
        with blas_threads_for(objective):
            x, result = minimize_objective(
                monitor,
                theta0,
                method=self.method,
                max_iter=self.max_iter,
                tol=float(self.tol),
                options=self.options,
            )
        n_iter = check_result(result, self.method, self.max_iter, self.options)
        self._store_fit(network, problem, x, result, monitor, n_iter)
        return self

    def _store_fit(self, network, problem, x, result, monitor, n_iter):
        """Set every fitted attribute at once, when nothing can fail any more."""
        self.coefs_, self.intercepts_ = (
            [array.copy() for array in arrays] for arrays in _coefs_intercepts(network, x)
        )
        self.classes_ = problem["classes"]
        self.loss_ = result["fun"]
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
            # The score of the parameters returned: under warm_start the previous fit's, on
            # the same validation rows, unless this fit found better ones.
            self.best_validation_score_ = monitor.best_score
            self._validation_seed = problem["validation_seed"]
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

    def _continues(self):
        """Whether this fit continues the previous one (``warm_start`` after a fit)."""
        return self.warm_start and hasattr(self, "coefs_")

    def _previous(self, name):
        """A record of the previous fit that a warm-started fit continues, else empty."""
        if self.warm_start and getattr(self, name, None) is not None:
            return list(getattr(self, name))
        return []

    def _split(self, problem, random_state):
        """Row indices for training and, with ``early_stopping``, for validation.

        The split is drawn from a seed that a warm-started fit takes over from the previous
        fit: the same rows stay held out, so that scores of the two fits compare.
        """
        n_samples = problem["X"].shape[0]
        if not self.early_stopping:
            return np.arange(n_samples), None
        seed = getattr(self, "_validation_seed", None) if self._continues() else None
        if seed is None:
            seed = int(random_state.randint(np.iinfo(np.int32).max))
        problem["validation_seed"] = seed
        stratify = None if problem["target_type"] == "multilabel" else problem["y"]
        try:
            train, validation = train_test_split(
                np.arange(n_samples),
                test_size=float(self.validation_fraction),
                stratify=stratify,
                random_state=seed,
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

    def _objective(self, network, problem, rows, curvature=False):
        X = problem["X"] if len(rows) == problem["X"].shape[0] else problem["X"][rows]
        return BackpropObjective(
            network,
            X,
            problem["Y"][rows],
            problem["sample_weight"][rows],
            self.alpha,
            _block_rows(network, X, curvature),
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
        self._check_warm_start(network, problem["classes"])
        random_state = check_random_state(self.random_state)
        return objective, self._initial_theta(network, random_state)

    def _prepare(self, X, y, sample_weight, dtype=(np.float64, np.float32)):
        """Validate the data and hyperparameters; encode the targets; lay out the network."""
        hidden = self._hidden_layer_sizes()
        with _too_large_for_float("X"):
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
        if isinstance(sizes, np.ndarray) and sizes.ndim == 0:
            sizes = sizes.item()  # a 0-d array: its one number
        sizes = [sizes] if np.ndim(sizes) == 0 else list(sizes)
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
        """Combine sample weights and class weights into the w_i of the cost, in X's dtype.

        Computed in float64 and checked before the cast, so that weights beyond the range of
        X's dtype are refused instead of overflowing with a numpy warning.
        """
        with _too_large_for_float("sample_weight"):
            weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        if self.class_weight is not None:
            if target_type == "multilabel":
                raise ValueError("class_weight is not supported for multilabel targets.")
            class_weight = self.class_weight
            if isinstance(class_weight, dict):
                class_weight = _class_weight_floats(class_weight, classes)
            per_class = compute_class_weight(class_weight, classes=classes, y=y)
            with np.errstate(over="ignore"):  # refused just below, not warned about
                weight = weight * per_class[np.searchsorted(classes, y)]
        _check_weights_fit_dtype(weight, X.dtype)
        weight = weight.astype(X.dtype, copy=False)
        _check_total_weight(weight, "The sample weights")
        return weight

    def _check_warm_start(self, network, classes):
        """Refuse to continue a fit of other classes or another network."""
        if not self._continues():
            return
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

    def _initial_theta(self, network, random_state):
        if self._continues():
            return network.pack(self.coefs_, self.intercepts_)
        return network.initial_theta(random_state)

    @property
    def thetas_(self):
        """The course's Θ(l), shape (s_{l+1}, s_l + 1), bias in column 0."""
        check_is_fitted(self)
        return [np.column_stack([b, W.T]) for W, b in zip(self.coefs_, self.intercepts_)]

    def _output(self, X):
        """z(L) for the rows of X in X's dtype, and the rows whose z overflows.

        Returns ``Z, saturated``: ``saturated`` is None, or ``(rows, M, e)`` for the rows
        whose ordinary forward pass overflows X's dtype (``Z`` holds them clipped into its
        range) with their exact z = 2^e M from :func:`scaled_decision_output`.
        """
        check_is_fitted(self)
        # scikit-learn's finiteness check sums X, which may overflow near the largest float32.
        with np.errstate(over="ignore", invalid="ignore"), _too_large_for_float("X"):
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
        params64 = list(zip(self.coefs_, self.intercepts_))
        rows = may_overflow(self._network, params64, X, X.dtype)
        if not rows.any():
            return Z, None
        M, exponents = scaled_decision_output(self._network, params64, X[rows].astype(np.float64))
        Z[rows] = unscale(M, exponents, X.dtype)
        return Z, (rows, M, exponents)

    def decision_function(self, X):
        """Return the output layer's input z(L) for the rows of X.

        For logistic output units z is the log-odds of each output, log(h / (1 − h)); for a
        softmax it is the log-probabilities up to a constant per row. Inputs so large that z
        overflows X's dtype give z clipped to its largest value, with its sign.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        z : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            For binary targets one value per row, positive where the second class of
            ``classes_`` is predicted, as scikit-learn's linear classifiers return; else one
            column per class or label. In X's floating dtype.
        """
        Z, _ = self._output(X)
        return Z.ravel() if self._target_type == "binary" else Z

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
        Z, saturated = self._output(X)
        # Saturated rows hold z near the largest float: differences of such z overflow to −inf
        # on the way, which is the right log-probability.
        kind = self._target_type
        with np.errstate(over="ignore"):
            log_proba = output_log_proba(Z, self.out_activation_, kind)
            if saturated is not None:
                rows, M, exponents = saturated
                log_proba[rows] = scaled_log_proba(M, exponents, self.out_activation_, kind)
        return np.exp(log_proba, out=log_proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags
