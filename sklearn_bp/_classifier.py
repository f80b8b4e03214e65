"""BackpropClassifier: the course's network as a scikit-learn classifier.

What is a classifier's own: encoding class labels (binary, multiclass, multilabel) for the
output units, class weights, and reading probabilities and decisions from z(L) (through the
loss object of ``_losses``, which owns them and the accuracy). The fit itself is the
family's, in ``_base``; the derivatives are ``_passes``'s.
"""

from functools import partial
from numbers import Real

import numpy as np
from scipy import sparse
from scipy.special import log_softmax
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._base import BaseBackprop, Targets, flat, on_home_device, short
from ._fixes import StrOptions, get_namespace, to_host
from ._losses import CLASSIFIER_LOSSES, decide
from ._placement import over_row_chunks


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
            raise TypeError(f"class_weight[{key!r}] must be a real number, got {short(value)}.")
        weight = _as_float(value)
        if not (np.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class_weight[{key!r}] must be a finite non-negative number, got {short(value)}."
            )
        floats[key] = weight
    return floats


# Below this z, σ(z) = exp(z) is below the smallest float64: log σ(z) = z exactly.
_LOG_TINY = np.log(np.finfo(np.float64).smallest_subnormal)


def scaled_log_proba(loss, M, exponents, kind):
    """The loss's ``log_proba`` of z = 2^e M, exact also where z overflows.

    The softmax is shift-invariant: z − max z = 2^e (M − max M) is at most 0 and at worst
    −inf, whose probability is 0. Sigmoids take z itself, ±inf included, except when every
    unit of a multiclass row is far below zero: there log σ(z) = z to the last digit, and
    the normalized sigmoids are the softmax of z.
    """
    with np.errstate(over="ignore"):
        Z = np.ldexp(M, exponents[:, np.newaxis])
        shifted = np.ldexp(M - M.max(axis=1, keepdims=True), exponents[:, np.newaxis])
    if loss.name == "softmax":
        return log_softmax(shifted, axis=1)
    if kind != "multiclass":
        return loss.log_proba(Z, kind)
    far_below = Z.max(axis=1) < _LOG_TINY
    log_proba = np.empty_like(Z)
    log_proba[far_below] = log_softmax(shifted[far_below], axis=1)
    log_proba[~far_below] = loss.log_proba(Z[~far_below], kind)
    return log_proba


def _proba(loss, Z, kind, saturated=None):
    """Probabilities from z(L), with the exact ones of saturated rows if there are any."""
    with np.errstate(over="ignore"):
        log_proba = loss.log_proba(Z, kind)
        if saturated is not None:
            rows, M, exponents = saturated
            log_proba[rows] = scaled_log_proba(loss, M, exponents, kind)
    return np.exp(log_proba, out=log_proba)


class BackpropClassifier(ClassifierMixin, BaseBackprop):
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

    alpha : float or "evidence", default=1e-4
        L2 regularization strength, the course's λ; the penalty is α/(2W) times the sum of the
        squared non-bias weights. ``"evidence"``: the data choose it during the fit by
        MacKay's evidence framework for classification networks (``trainbr`` of MATLAB):
        rounds of the optimizer, each from the previous round's parameters and bounded by
        ``max_iter``, alternate with re-estimates of α from the effective number of
        parameters γ of the Gauss-Newton Hessian of the cross-entropy, first with one α for
        all layers, then with one per layer of weights; the stage of higher log evidence is
        kept (``alpha_``, ``effective_n_parameters_``, ``log_evidence_``; "Bayesian
        regularization" in the user guide). Not with ``early_stopping``. Under
        ``warm_start`` the rounds continue from the previous fit's choice. Sample weights
        (and class weights) count as repeated rows.

    method : str or callable, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`, ``"L-BFGS"`` (ours, below), or a
        minimizer of its own that ``minimize`` accepts as ``method``. Every method gets J
        with its gradient; the second-order ones also the curvature product chosen by
        ``hessian``:

        ==============  ============  ====================  ==========================
        method          curvature     ``max_iter`` sets     ``tol`` sets
        ==============  ============  ====================  ==========================
        "L-BFGS-B"      none          maxiter               ftol, gtol
        "L-BFGS"        none          maxiter               ftol, gtol
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

        L-BFGS-B, L-BFGS and TNC also stop after ``maxfun`` evaluations of J (default for
        L-BFGS-B and L-BFGS: 15000). ``"L-BFGS"`` is sklearn-bp's own L-BFGS without bounds
        (the algorithm of ``torch.optim.LBFGS``: two-loop recursion, history ``maxcor=10``,
        strong-Wolfe line search; the stopping tests of L-BFGS-B), which spares L-BFGS-B's
        bound-constrained bookkeeping: the faster where an evaluation is cheap for the
        number of parameters (PyTorch tensors with MKL, "Performance" in the user guide);
        its options are ``maxiter``, ``maxfun``, ``maxcor``, ``maxls``, ``ftol`` and
        ``gtol``. ``"trust-krylov"`` is not reproducible (SciPy's subproblem solver
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

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has feature names that are all strings.

    coefs_ : list of ndarray
        ``coefs_[l - 1]`` has shape (s_l, s_{l+1}): the weights from layer l to layer l + 1
        (layers numbered from 1, as in the course), as in
        :class:`~sklearn.neural_network.MLPClassifier`. After a fit on
        arrays of another array-API namespace (under ``array_api_dispatch``), arrays of that
        namespace on X's device, in X's dtype; the same holds for ``intercepts_``.

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

    activation_ : str
        Activation of the hidden units the fit used (``activation`` at fit time).

    target_type_ : {"binary", "multiclass", "multilabel"}
        The kind of targets the fit saw, as :func:`~sklearn.utils.multiclass.type_of_target`
        names it (its ``"multilabel-indicator"`` shortened to ``"multilabel"``).

    optimize_result_ : dict
        A summary of what :func:`scipy.optimize.minimize` returned, plain numbers and text:
        ``success``, ``status``, ``message``, ``fun`` (``loss_``), ``gradient_norm`` (of the
        gradient at the returned parameters), ``nit``, ``nfev``, ``nhev``, and ``stopped_by``
        (``"callback"``, ``"early_stopping"``, ``"interrupted"`` or ``"breakdown"``) when the
        fit was not ended by the method's own test. The method's internal state is not kept.

    fit_time_ : float or None
        Seconds the last fit took; None for a model saved before sklearn-bp 0.2.0.

    library_versions_ : dict of str to str
        The versions of sklearn-bp, NumPy, SciPy, scikit-learn and Python the model was
        trained with (:ref:`persistence`); empty for a model saved before sklearn-bp 0.2.0.

    alpha_ : ndarray or None
        With ``alpha="evidence"``, of shape (``n_layers_`` − 1,): the α the evidence chose for
        each layer of weights, input layer first, in the units of ``alpha`` (MacKay's α/β);
        all equal when one α for all layers had the higher log evidence. None after a fit
        with a given alpha.

    effective_n_parameters_ : float or None
        With ``alpha="evidence"``, γ: the number of weights the data determine,
        Σ λ_i / (λ_i + α) over the eigenvalues of the Gauss-Newton Hessian, plus the biases
        (unpenalized, counted as determined). None after a fit with a given alpha.

    log_evidence_ : float or None
        With ``alpha="evidence"``, ln p(D | α, β) at the returned parameters in the Laplace
        approximation (up to a constant of the flat prior of the biases; the hidden units'
        symmetries, ln(H! 2^H) per layer, counted); None after a fit
        with a given alpha, and for networks beyond the dense limit, whose γ is estimated
        stochastically.

    noise_variance_ : None
        None: the cross-entropy has no noise to estimate (β = 1); kept for the regressor's
        symmetry.

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
        **BaseBackprop._parameter_constraints,
        "out_activation": [StrOptions(set(CLASSIFIER_LOSSES))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _y_checks = {"multi_output": True}

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

    def _encode_targets(self, y, dtype):
        """Encode class labels: one 0/1 output per label, per class, or one for two classes."""
        check_classification_targets(y)
        target_type = type_of_target(y, input_name="y")
        if target_type == "multilabel-indicator":
            Y = y.toarray() if sparse.issparse(y) else np.asarray(y)
            if not np.isin(Y, (0, 1)).all():
                raise ValueError(
                    f"A multilabel target must be an indicator matrix of 0 and 1, got the "
                    f"values {np.unique(Y).tolist()}."
                )
            facts = {"classes": np.arange(Y.shape[1]), "kind": "multilabel", "y_dtype": y.dtype}
            return Targets(Y.astype(dtype), CLASSIFIER_LOSSES["logistic"], None, facts)
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"BackpropClassifier supports binary, multiclass and multilabel-indicator "
                f"targets, got {target_type!r}."
            )
        y_dtype = y.dtype
        y = column_or_1d(y, warn=True)
        classes, y_index = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"BackpropClassifier needs samples of at least 2 classes, but the data "
                f"contains only one class: {classes[0]}."
            )
        facts = {"classes": classes, "y": y, "y_dtype": y_dtype}
        if classes.size == 2:
            # One sigmoid: for two classes it *is* the softmax.
            Y = y_index[:, np.newaxis].astype(dtype)
            facts["kind"] = "binary"
            return Targets(Y, CLASSIFIER_LOSSES["logistic"], y, facts)
        Y = (y_index[:, np.newaxis] == np.arange(classes.size)).astype(dtype)
        facts["kind"] = "multiclass"
        return Targets(Y, CLASSIFIER_LOSSES[self.out_activation], y, facts)

    def _chunked_targets(self, y, dtype):
        """Classes and the kind of target of targets in row chunks, found where their rows
        live; the functions that encode and weigh each row chunk there."""
        if y.ndim == 2:
            if not y.only_zeros_and_ones():
                raise ValueError("A multilabel target must be an indicator matrix of 0 and 1.")
            if self.class_weight is not None:
                raise ValueError("class_weight is not supported for multilabel targets.")
            n_labels = y.shape[1]
            facts = {
                "classes": np.arange(n_labels), "kind": "multilabel", "y_dtype": y.dtype,
                "n_outputs": n_labels,
            }  # fmt: skip
            return Targets(None, CLASSIFIER_LOSSES["logistic"], None, facts), _encode_labels, None
        classes, counts = y.unique_counts()
        check_classification_targets(classes)
        if classes.size < 2:
            raise ValueError(
                f"BackpropClassifier needs samples of at least 2 classes, but the data "
                f"contains only one class: {classes[0]}."
            )
        kind = "binary" if classes.size == 2 else "multiclass"
        loss = CLASSIFIER_LOSSES["logistic" if kind == "binary" else self.out_activation]
        facts = {
            "classes": classes, "kind": kind, "y_dtype": y.dtype,
            "n_outputs": 1 if kind == "binary" else classes.size,
        }  # fmt: skip
        weigh = None
        if self.class_weight == "balanced":
            per_class = counts.sum() / (classes.size * counts)
            weigh = partial(_weigh_by_class, classes=classes, per_class=per_class)
        elif self.class_weight is not None:
            per_class = compute_class_weight(
                _class_weight_floats(self.class_weight, classes), classes=classes, y=classes
            )
            weigh = partial(_weigh_by_class, classes=classes, per_class=per_class)
        encode = partial(_encode_labels, classes=classes, kind=kind)
        return Targets(None, loss, None, facts), encode, weigh

    def _weigh_targets(self, weight, targets):
        """Multiply every sample weight by the weight of its class."""
        if self.class_weight is None:
            return weight
        if targets.facts["kind"] == "multilabel":
            raise ValueError("class_weight is not supported for multilabel targets.")
        classes, y = targets.facts["classes"], targets.facts["y"]
        class_weight = self.class_weight
        if isinstance(class_weight, dict):
            class_weight = _class_weight_floats(class_weight, classes)
        per_class = compute_class_weight(class_weight, classes=classes, y=y)
        with np.errstate(over="ignore"):  # an overflow is refused by the caller, not warned
            return weight * per_class[np.searchsorted(classes, y)]

    def _check_continuation(self, targets):
        classes, kind = targets.facts["classes"], targets.facts["kind"]
        if not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start can only continue a fit with the same classes: the previous fit "
                f"had {self.classes_!r}, this one has {classes!r}."
            )
        if kind != self._target_type:
            # Three classes and three labels have the same classes_ and layer sizes.
            raise ValueError(
                f"warm_start can only continue a fit with the same kind of target: the previous "
                f"fit had {self._target_type} targets, this one has {kind} targets."
            )

    def _target_attributes(self, facts):
        return {
            "classes_": facts["classes"],
            "_target_type": facts["kind"],
            "_y_dtype": facts["y_dtype"].str,  # a string, which skops loads without trust
        }

    @property
    def target_type_(self):
        """The kind of targets of the fit: "binary", "multiclass" or "multilabel"."""
        check_is_fitted(self)
        return self._target_type

    @over_row_chunks(lambda self: (self.n_outputs_, self._target_type == "binary"))
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
            column per class or label. In X's floating dtype. Under ``array_api_dispatch``,
            for X of another array-API namespace, an array of that namespace on X's device.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_bp import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> z = clf.decision_function(X[:2])
        >>> z.shape
        (2, 3)
        >>> bool((z.argmax(axis=1) == clf.predict_proba(X[:2]).argmax(axis=1)).all())
        True
        """
        self._check_namespace(X, "decision_function")
        Z, _ = self._output(X)
        return flat(Z) if self._target_type == "binary" else Z

    @over_row_chunks(lambda self: (self.n_outputs_, self._target_type != "multilabel"))
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
            Under ``array_api_dispatch``, for X of another array-API namespace, an array of that
            namespace on X's device, except for string labels, which stay a NumPy array.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_bp import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> clf.predict(X[[0, 50, 100]])
        array([0, 1, 2])
        """
        self._check_namespace(X, "predict")
        proba = self.predict_proba(X)
        # Decided on the host: the labels may be strings, which no device holds.
        decision = decide(to_host(proba), self._target_type)
        if self._target_type == "multilabel":
            labels = decision.astype(self._y_dtype)
        else:
            labels = self.classes_[decision]
        if isinstance(proba, np.ndarray) or labels.dtype.kind not in "biuf":
            return labels
        return on_home_device(labels, proba)

    @over_row_chunks(lambda self: (len(self.classes_), False))
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
            Log-probabilities, in the order of ``classes_``. Under ``array_api_dispatch``,
            for X of another array-API namespace, an array of that namespace on X's device.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_bp import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> import numpy as np
        >>> bool(np.allclose(np.exp(clf.predict_log_proba(X[:3])), clf.predict_proba(X[:3])))
        True
        """
        self._check_namespace(X, "predict_log_proba")
        proba = self.predict_proba(X)
        if not isinstance(proba, np.ndarray):
            xp, _ = get_namespace(proba)
            with np.errstate(divide="ignore"):  # log 0 = -inf, as documented
                return xp.log(proba)
        log_proba = np.full_like(proba, -np.inf)
        return np.log(proba, out=log_proba, where=proba > 0)

    @over_row_chunks(lambda self: (len(self.classes_), False))
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
            Under ``array_api_dispatch``, for X of another array-API namespace, an array of that
            namespace on X's device.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_bp import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> proba = clf.predict_proba(X[:2])
        >>> proba.shape, bool(abs(proba.sum(axis=1) - 1).max() < 1e-12)
        ((2, 3), True)
        """
        self._check_namespace(X, "predict_proba")
        Z, saturated = self._output(X)
        if isinstance(Z, np.ndarray):
            return _proba(self._loss, Z, self._target_type, saturated)
        if saturated is not None:  # rows beyond the dtype's range: exact on the host
            return on_home_device(_proba(self._loss, to_host(Z), self._target_type, saturated), Z)
        xp, _ = get_namespace(Z)
        return xp.exp(self._loss.log_proba_xp(xp, Z, self._target_type))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _encode_labels(y, classes=None, kind="multilabel"):
    """The output targets of a chunk of labels (where its rows live): a 0/1 column for binary
    targets, one-hot rows for multiclass ones, the indicator matrix itself for multilabel."""
    y = np.asarray(y)
    if kind == "multilabel":
        return y.astype(np.float64)
    index = np.searchsorted(classes, y)
    if kind == "binary":
        return index[:, np.newaxis].astype(np.float64)
    return (index[:, np.newaxis] == np.arange(classes.size)).astype(np.float64)


def _weigh_by_class(y, weight, classes, per_class):
    """Sample weights of a chunk of labels times the weights of their classes."""
    return weight * per_class[np.searchsorted(classes, np.asarray(y))]
