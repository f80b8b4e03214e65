"""BackpropRegressor: the course's network with identity outputs and squared error, or
log-link outputs with the Poisson or Gamma deviance.

What is a regressor's own: numeric targets, one output unit per target column, and R² as the
score. The fit is the family's, in ``_base``; the loss is the ``loss`` parameter's object of
``_losses`` (``SquaredErrorLoss``, ``PoissonLoss``, ``GammaLoss``).
"""

import warnings
from functools import partial

import numpy as np
from scipy import sparse
from sklearn.base import RegressorMixin
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import BaseBackprop, Targets, flat
from ._evidence import DENSE_LIMIT
from ._fixes import caller_stacklevel, to_host
from ._losses import REGRESSOR_LOSSES
from ._objective import DataTerm
from ._optimize import target_coordinates
from ._placement import InMemory, OnDevice, block_rows, over_row_chunks, placement_for_rows

# The penalty weighs on the hidden layers as alpha / σ² would on standardized targets: warn
# when the targets' spread is far below 1 and that exceeds the limit (measured: R² within 0.01
# of the fit on standardized targets at alpha / σ² = 0.07, 0.02-0.03 below it at 0.7-1).
SMALL_TARGET_VARIANCE = 0.01
STANDARDIZED_ALPHA_LIMIT = 0.1


class BackpropRegressor(RegressorMixin, BaseBackprop):
    """Fully connected neural network regressor trained by backpropagation.

    The network computes a(1) = x, z(l+1) = Θ(l) [1; a(l)], a(l+1) = g(z(l+1)) for the hidden
    layers and h_Θ(x) = z(L) at the output, one identity unit per target. Training minimizes
    the regularized squared error

    .. math::

        J(\\Theta) = \\frac{1}{2W} \\sum_i w_i \\lVert h(x_i) - y_i \\rVert^2
            + \\frac{\\alpha}{2W} \\sum_l \\sum_{i, j \\geq 1} \\left(\\Theta^{(l)}_{ij}\\right)^2

    (sample weights w_i, W = Σ_i w_i, bias weights not penalized) with
    :func:`scipy.optimize.minimize`, given J and its gradient computed by backpropagation.
    The output delta is again δ(L) = a(L) − y (the identity is the canonical link of the
    squared error), so the backward pass is the classifier's. See the mathematics page of the
    documentation.

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(25,)
        Number of units in each hidden layer; ``()`` gives a network with no hidden layer
        (linear regression with an L2 penalty, ridge regression).

    activation : {"logistic", "tanh", "relu", "identity"}, default="logistic"
        Activation g of the hidden units.

    loss : {"squared_error", "poisson", "gamma"}, default="squared_error"
        The output units and their cost. ``"squared_error"``: identity outputs h = z(L) and
        ½ ‖h − y‖², as above. ``"poisson"``: log-link outputs h = exp(z(L)) and
        h − y log h (half the Poisson deviance up to terms in y), for counts and rates;
        targets y ≥ 0 with Σ w y > 0. ``"gamma"``: log-link outputs and log h + y / h (half
        the Gamma deviance up to terms in y), for positive skewed amounts; targets y > 0.
        Targets outside the range are refused with a ValueError. With
        ``hidden_layer_sizes=()`` the log links give scikit-learn's
        :class:`~sklearn.linear_model.PoissonRegressor` and
        :class:`~sklearn.linear_model.GammaRegressor` with their ``alpha`` = our α / W. For the
        log links z(L) is capped at log(largest float) − 20, so that h never overflows.

    alpha : float or "evidence", default=1e-4
        L2 regularization strength, the course's λ; the penalty is α/(2W) times the sum of the
        squared non-bias weights. ``"evidence"``: the data choose it during the fit by
        MacKay's evidence framework (``trainbr`` of MATLAB): rounds of the optimizer, each
        from the previous round's parameters and bounded by ``max_iter``, alternate with
        re-estimates of α and of the noise precision β (``noise_variance_`` = 1/β) from the
        effective number of parameters γ of the Gauss-Newton Hessian, first with one α for
        all layers, then with one per layer of weights; the stage of higher log evidence is
        kept (``alpha_``, ``effective_n_parameters_``, ``log_evidence_``; "Bayesian
        regularization" in the user guide), and ``predict(X, return_std=True)`` gives the
        predictive standard deviation. For ``loss="squared_error"`` or ``"poisson"`` (the
        Gamma deviance leaves its dispersion unknown and is refused); not with
        ``early_stopping``. Under ``warm_start`` the rounds continue from the previous fit's
        choice. Sample weights count as repeated rows.

    method : str or callable, default="L-BFGS-B"
        Method of :func:`scipy.optimize.minimize`, or a minimizer of its own, as for
        :class:`~sklearn_bp.BackpropClassifier` (its docstring has the table of methods). The
        method works in coordinates in which the output layer is measured in units of the
        targets and J in units of their variance, so that targets of any mean and spread fit
        as standardized ones do ("Targets of any scale" in the mathematics); ``tol`` and the
        method's own tolerances are in those units. For the squared error only: with the log
        links the method works in θ itself.

    hessian : {"exact", "gauss-newton"}, default="exact"
        Curvature product handed as ``hessp`` to the methods that take one. For squared error
        the Gauss-Newton product is exactly Jᵀ J for the Jacobian J of the outputs.

    max_iter : int, default=200
        Maximum number of iterations of the method (evaluations of J for ``"TNC"``), at most
        2**31 − 1.

    tol : float, default=1e-5
        Tolerance handed to :func:`scipy.optimize.minimize` as its ``tol``; 0 turns the
        method's tolerance tests off. With ``early_stopping``, also the least improvement of
        the validation score that counts.

    warm_start : bool, default=False
        Start from the parameters of the previous fit instead of a new initialization.

    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, drawn uniformly in [−ε, ε] with
        ε = √6 / √(s_l + s_{l+1}) for each layer, and the early-stopping split.

    verbose : int, default=0
        When positive, print one line per iteration.

    options : dict or None, default=None
        Extra options for the method of :func:`scipy.optimize.minimize`.

    callback : callable or None, default=None
        Called after every iteration as
        ``callback(iteration, loss, gradient_norm, coefs, intercepts)``; returning True ends
        the fit at these parameters.

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training rows, score the network on them
        (R² of the predictions h, for every loss) after every iteration, stop once the score
        has not improved by more than ``tol`` for ``n_iter_no_change`` iterations, and keep
        the parameters of the best score.

    validation_fraction : float, default=0.1
        Fraction of the training rows held out for ``early_stopping``.

    n_iter_no_change : int or numpy.inf, default=10
        Iterations without improvement after which ``early_stopping`` ends the fit.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has feature names that are all strings.

    coefs_ : list of ndarray
        ``coefs_[l - 1]`` has shape (s_l, s_{l+1}): the weights from layer l to layer l + 1,
        as in :class:`~sklearn.neural_network.MLPRegressor`. After a fit on
        arrays of another array-API namespace (under ``array_api_dispatch``), arrays of that
        namespace on X's device, in X's dtype; the same holds for ``intercepts_``.

    intercepts_ : list of ndarray
        ``intercepts_[l - 1]`` has shape (s_{l+1},): the bias weights into layer l + 1.

    thetas_ : list of ndarray
        The course's matrices Θ(l) of shape (s_{l+1}, s_l + 1), bias in column 0.

    loss_ : float
        J at the returned parameters, regularization included.

    loss_curve_ : list of float
        J after every iteration; it continues the previous curve under ``warm_start``.

    n_iter_ : int
        Number of iterations the method ran.

    n_fun_evals_ : int
        Number of evaluations of J during the fit.

    n_grad_evals_ : int
        Number of evaluations of the gradient (always together with J).

    n_hessp_evals_ : int
        Number of curvature products.

    validation_scores_ : list of float or None
        With ``early_stopping``, the R² on the held-out rows after every iteration.

    validation_loss_curve_ : list of float or None
        With ``early_stopping``, the weighted mean cost on the held-out rows (J without its
        penalty: ½ ‖h − y‖², h − y log h or log h + y / h) after every iteration.

    best_validation_score_ : float or None
        With ``early_stopping``, the validation R² of the returned parameters.

    n_layers_ : int
        Number of layers L, input and output layers included.

    n_outputs_ : int
        Number of output units: one per target column.

    out_activation_ : str
        The output units: ``"identity"`` (squared error), ``"poisson"`` or ``"gamma"``.

    activation_ : str
        Activation of the hidden units the fit used (``activation`` at fit time).

    optimize_result_ : dict
        A summary of what :func:`scipy.optimize.minimize` returned, as for
        :class:`~sklearn_bp.BackpropClassifier`.

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

    noise_variance_ : float or None
        With ``alpha="evidence"`` and the squared error, the estimated variance 1/β of the
        targets' noise around the network's outputs (one for all outputs); else None.

    See Also
    --------
    sklearn.neural_network.MLPRegressor : Multi-layer perceptron regressor of scikit-learn.
    BackpropClassifier : The same network with sigmoid or softmax outputs.

    Examples
    --------
    >>> from sklearn.datasets import make_friedman1
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn_bp import BackpropRegressor
    >>> X, y = make_friedman1(n_samples=500, random_state=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> reg = BackpropRegressor(hidden_layer_sizes=(20,), alpha=1e-3, max_iter=500, random_state=0)
    >>> reg.fit(X_train, y_train).score(X_test, y_test) > 0.9
    True
    >>> reg.predict(X_test[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **BaseBackprop._parameter_constraints,
        "loss": [StrOptions(set(REGRESSOR_LOSSES))],
    }
    _y_checks = {"multi_output": True, "y_numeric": True}

    def __init__(
        self,
        hidden_layer_sizes=(25,),
        activation="logistic",
        *,
        loss="squared_error",
        alpha=1e-4,
        method="L-BFGS-B",
        hessian="exact",
        max_iter=200,
        tol=1e-5,
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
        self.loss = loss
        self.alpha = alpha
        self.method = method
        self.hessian = hessian
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.options = options
        self.callback = callback
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def _encode_targets(self, y, dtype):
        """One identity output per target column, y in X's dtype."""
        # validate_data has refused NaN, infinity, complex numbers and more than 2 dimensions,
        # and converted object arrays of numbers to float64; it lets sparse y through.
        if sparse.issparse(y):
            raise ValueError(
                f"BackpropRegressor needs dense targets, got y as a sparse {y.format} matrix of "
                f"shape {y.shape}: pass y.toarray(), or a 1-d array for a single target."
            )
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"BackpropRegressor needs numeric targets, got y of dtype {y.dtype}: encode "
                f"text targets as numbers, or use BackpropClassifier for class labels."
            )
        Y = y.reshape(-1, 1) if y.ndim == 1 else y
        largest = np.max(np.abs(Y), initial=0.0)
        if largest > np.finfo(dtype).max:
            raise ValueError(
                f"y reaches {largest:g}, beyond the largest {np.dtype(dtype).name} "
                f"({np.finfo(dtype).max:g}) that X's dtype can hold: rescale y."
            )
        if largest > np.sqrt(np.finfo(dtype).max):
            # The squared error of such targets overflows in the passes, which run in X's dtype.
            raise ValueError(
                f"y reaches {largest:g}, whose square overflows {np.dtype(dtype).name} (above "
                f"{np.sqrt(np.finfo(dtype).max):.3g}): rescale y, for example with "
                f"TransformedTargetRegressor and a StandardScaler."
            )
        loss = REGRESSOR_LOSSES[self.loss]
        _check_target_range(Y, loss, self.loss)
        return Targets(Y.astype(dtype), loss, None, {})

    def _chunked_targets(self, y, dtype):
        """The number of outputs of targets in row chunks; the function that encodes each
        chunk."""
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"BackpropRegressor needs numeric targets, got y of dtype {y.dtype}: encode "
                f"text targets as numbers, or use BackpropClassifier for class labels."
            )
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        loss = REGRESSOR_LOSSES[self.loss]
        targets = Targets(None, loss, None, {"n_outputs": n_outputs})
        encode = partial(_encode_numeric, dtype=np.dtype(dtype), loss=loss, name=self.loss)
        return targets, encode, None

    def _weigh_targets(self, weight, targets):
        """The sample weights as they are; refuse Poisson targets whose weighted sum is 0."""
        if self.loss == "poisson" and not float(weight @ targets.Y.sum(axis=1)) > 0:
            raise ValueError(
                "loss='poisson' needs targets with a positive weighted sum (sum of w * y > 0): "
                "every row with y > 0 has weight 0, so the mean count is 0, which exp(z) "
                "reaches for no finite z."
            )
        return weight

    def _check_continuation(self, targets):
        """Refuse to continue a fit of another loss: its outputs mean something else."""
        if targets.loss.name != self.out_activation_:
            raise ValueError(
                f"warm_start can only continue a fit with the same loss: the previous fit had "
                f"loss={_LOSS_OF_OUTPUT[self.out_activation_]!r}, this one has "
                f"loss={self.loss!r}."
            )

    def _coordinates(self, data):
        """The output layer in units of the targets, J in units of their variance.

        Warns when the targets' spread σ is so small that the penalty, which weighs the hidden
        layers' weights against the squared error in y's units, as alpha / σ² would on
        standardized targets, makes the network underfit.

        For the squared error only: the log links' outputs are measured in z = log h, whose
        scale the targets do not set, and their J has no variance to measure it in (None, θ
        itself).
        """
        if self.loss != "squared_error":
            return None
        coordinates = target_coordinates(data)
        variance = coordinates.factor
        # alpha="evidence" measures the penalty against the noise in y's own units.
        alpha = None if self._uses_evidence else self.alpha
        if (
            alpha is not None
            and variance < SMALL_TARGET_VARIANCE
            and alpha > STANDARDIZED_ALPHA_LIMIT * variance
        ):
            warnings.warn(
                f"The targets' standard deviation is {np.sqrt(variance):.3g}, so alpha="
                f"{self.alpha:g} weighs on the hidden layers' weights as alpha="
                f"{self.alpha / variance:.3g} would on standardized targets, and the network "
                f"underfits. Standardize y: TransformedTargetRegressor(regressor="
                f"BackpropRegressor(...), transformer=StandardScaler()); or lower alpha in "
                f"proportion to y's variance.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        return coordinates

    def _target_attributes(self, facts):
        """None: the outputs are the predictions."""
        return {}

    @over_row_chunks(lambda self: (self.n_outputs_, self.n_outputs_ == 1))
    def predict(self, X, return_std=False):
        """Predict the targets of the rows of X, and with ``return_std`` their uncertainty.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        return_std : bool, default=False
            Also return the standard deviation of the predictive distribution of every
            target, sqrt(1/β + gᵀ A⁻¹ g) in the Laplace approximation: the noise variance
            ``noise_variance_`` = 1/β plus the variance of the output from the posterior of
            the parameters, with g the output's gradient with respect to θ at x and A the
            regularized Gauss-Newton Hessian β G + α (MacKay 1992; the "GLM" predictive of
            laplace-torch). Needs a fit with ``alpha="evidence"`` and
            ``loss="squared_error"`` of at most a few thousand parameters (the dense
            posterior), and X in memory (a NumPy array or SciPy sparse matrix); else a
            ValueError says what is missing. Costs one forward R-pass over X per parameter.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The outputs h(x), the loss's inverse link of z(L) (z(L) itself for identity
            outputs), in X's floating dtype; one value per row for a single
            target, as :class:`~sklearn.neural_network.MLPRegressor` returns. Outputs beyond
            the range of X's dtype (features near its largest float) are clipped to it.
            Under ``array_api_dispatch``, for X of another array-API namespace, an array of that
            namespace on X's device.

        y_std : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            With ``return_std=True`` only: the predictive standard deviation of each target,
            in X's floating dtype.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_bp import BackpropRegressor
        >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
        >>> reg = BackpropRegressor(hidden_layer_sizes=(5,), random_state=0).fit(X, X.ravel() ** 2)
        >>> reg.predict(X[:3]).shape
        (3,)
        >>> bool(reg.score(X, X.ravel() ** 2) > 0.95)
        True
        """
        self._check_namespace(X, "predict")
        if return_std:
            self._check_predictive_std(X)
        Z, _ = self._output(X)
        H = self._loss.link.inverse(Z)
        y = flat(H) if H.shape[1] == 1 else H
        if not return_std:
            return y
        std = self._predictive_std(X, Z.dtype)
        return y, (std.ravel() if std.shape[1] == 1 else std)

    def _check_predictive_std(self, X):
        """Refuse ``return_std=True`` without a posterior of the parameters or rows at hand."""
        check_is_fitted(self)
        if getattr(self, "_posterior_factor", None) is None:
            if getattr(self, "noise_variance_", None) is not None:
                raise ValueError(
                    f"return_std=True needs the dense posterior of the parameters, which a "
                    f"fit with alpha='evidence' keeps for at most {DENSE_LIMIT} parameters "
                    f"within scikit-learn's working_memory; this network has "
                    f"{self._network.n_params}, whose effective number was estimated "
                    f"stochastically. Use a smaller network or raise working_memory."
                )
            raise ValueError(
                "return_std=True needs a model fitted with alpha='evidence' and "
                "loss='squared_error', which estimates the noise variance and the posterior "
                f"of the parameters; this one was fitted with alpha={self.alpha!r} and "
                f"loss={_LOSS_OF_OUTPUT[self.out_activation_]!r}."
            )
        placement = placement_for_rows(X)
        if not isinstance(placement, InMemory) or isinstance(placement, OnDevice):
            raise ValueError(
                "return_std=True needs X in memory, a NumPy array or SciPy sparse matrix (got "
                f"{type(X).__module__}.{type(X).__name__}): predict the means where the rows "
                "are, and the standard deviations of rows brought into memory."
            )

    def _predictive_std(self, X, dtype):
        """sqrt(1/β (1 + ‖(J L)ᵀ‖²)) per row and output: A⁻¹ = (1/β) L Lᵀ, J the outputs'
        Jacobian, one forward R-pass per column of L."""
        X = check_array(X, accept_sparse=["csr", "csc", "coo"], dtype=(np.float64, np.float32))
        if sparse.issparse(X):
            X = X.tocsr()
        network = self._network
        theta = network.pack(*self._host_parameters())
        n_samples, n_outputs = X.shape[0], self.n_outputs_
        data = DataTerm(
            network,
            self._loss,
            X,
            np.zeros((n_samples, n_outputs), dtype=X.dtype),
            np.ones(n_samples, dtype=X.dtype),
            block_rows(network, X, curvature=True),
        )
        variance = np.zeros((n_samples, n_outputs), dtype=np.float64)
        for column in np.asarray(to_host(self._posterior_factor), dtype=np.float64).T:
            variance += data.output_jacobian_product(theta, column) ** 2
        return np.sqrt(self.noise_variance_ * (1.0 + variance)).astype(dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# The ``loss`` parameter of the loss whose output units ``out_activation_`` names.
_LOSS_OF_OUTPUT = {loss.name: name for name, loss in REGRESSOR_LOSSES.items()}


def _check_target_range(Y, loss, name, whole=True):
    """Refuse targets outside the loss's range, naming the loss; for Poisson, also targets
    that are all zero (``whole``: Y holds every row), for which no finite z fits."""
    if not loss.target_range.includes(Y):
        low = loss.target_range.low
        relation = ">=" if loss.target_range.low_inclusive else ">"
        raise ValueError(
            f"loss={name!r} needs targets y {relation} {low:g}, got y from {np.min(Y):g} to "
            f"{np.max(Y):g}: use loss='squared_error' for targets of any sign."
        )
    if whole and name == "poisson" and Y.size and not np.sum(Y) > 0:
        raise ValueError(
            "loss='poisson' needs targets with a positive sum (sum of w * y > 0), got only "
            "zeros: the mean count is 0, which exp(z) reaches for no finite z."
        )


def _encode_numeric(y, dtype, loss=None, name="squared_error"):
    """The output targets of a chunk of y (where its rows live), refused as ``fit`` refuses
    in-memory targets: non-finite, with squares that overflow X's dtype, or outside the
    loss's range."""
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(-1, 1) if y.ndim == 1 else y
    if not np.isfinite(Y).all():
        raise ValueError("Input y contains NaN or infinity.")
    largest = np.max(np.abs(Y), initial=0.0)
    if largest > np.sqrt(np.finfo(dtype).max):
        raise ValueError(
            f"y reaches {largest:g}, whose square overflows {dtype.name} (above "
            f"{np.sqrt(np.finfo(dtype).max):.3g}): rescale y, for example with "
            f"TransformedTargetRegressor and a StandardScaler."
        )
    if loss is not None:
        _check_target_range(Y, loss, name, whole=False)
    return Y
