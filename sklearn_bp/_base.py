"""The fit pipeline that every estimator of the family shares.

Data flows one way: validate → encode targets → lay out parameters → optimize → expose. This
module owns every step but the encoding of targets and what a prediction is: an estimator
subclasses :class:`BaseBackprop` and supplies those through a few hooks. It computes no
derivative of its own: the data term and the objective are ``_objective``'s, the method table
and the driver ``_optimize``'s.
"""

import contextlib
import time
import warnings
from abc import ABCMeta, abstractmethod
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._activations import ACTIVATIONS, SATURATED_Z
from ._callbacks import CallbackSupportMixin, fit_task
from ._evidence import (
    DEGENERATE_GAMMA,
    MAX_ROUNDS,
    START_ALPHA,
    check_evidence_loss,
    posterior_factor,
    settle,
    weight_groups,
)
from ._fixes import (
    Interval,
    Options,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    caller_stacklevel,
    get_namespace,
    get_namespace_and_device,
    is_numpy_namespace,
    move_to,
    to_host,
    validate_parameter_constraints,
)
from ._losses import LOSSES
from ._network import (
    Network,
)
from ._objective import BackpropObjective
from ._optimize import (
    MAX_ITER,
    METHODS,
    EarlyStopping,
    Monitor,
    Printer,
    UserCallback,
    blas_threads_for,
    check_method,
    check_reproducible,
    check_result,
    evaluation_threads,
    minimize_objective,
    numpy_blas_single_threaded,
    plan_method,
    scipy_blas_single_threaded,
)
from ._persistence import InconsistentVersionWarning, library_versions
from ._placement import placement_for_fit, placement_for_rows
from ._placement.memory import check_total_weight, too_large_for_float
from ._version import __version__

# The saturation check at the start of a fit looks at this many rows, and warns when more
# than this fraction of the first hidden layer's pre-activations are saturated.
SATURATION_ROWS = 256
SATURATED_FRACTION = 0.5

# The fitted attributes of alpha="evidence"; None after a fit with a given alpha.
EVIDENCE_ATTRIBUTES = (
    "alpha_",
    "effective_n_parameters_",
    "log_evidence_",
    "noise_variance_",
    "_posterior_factor",
)

# What scikit-learn's callback machinery keeps on the estimator during a fit, for the teardown
# of the callbacks after it.
CALLBACK_STATE = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


@dataclass
class Targets:
    """What an estimator's encoding of y hands the shared pipeline.

    Attributes
    ----------
    Y : ndarray of shape (n_samples, n_outputs)
        The targets of the output units, in X's dtype.
    loss : loss object
        The output units and their cost (``_losses``).
    stratify : ndarray of shape (n_samples,) or None
        Labels to stratify the early-stopping split by, or None for a plain random split.
    facts : dict
        What the estimator needs again after the fit (classes, the kind of target, ...).
    """

    Y: np.ndarray | None
    loss: Any
    stratify: np.ndarray | None
    facts: dict

    @property
    def n_outputs(self):
        """Number of output units: columns of Y, or ``facts["n_outputs"]`` for targets that
        are encoded chunk by chunk where their rows live."""
        return self.facts["n_outputs"] if self.Y is None else self.Y.shape[1]


@dataclass
class Problem:
    """A validated fit: the data, its encoded targets, the weights and the network's layout."""

    X: Any
    targets: Targets
    sample_weight: np.ndarray
    network: Network
    placement: Any  # where the rows live (``_placement``)
    validation_seed: int | None = None
    same_split: bool = False  # the previous fit held out the same rows


def _evaluation_dtype(data):
    """The NumPy dtype a data term's passes compute in (float64 for one that does not say)."""
    return getattr(data, "dtype", np.float64)


def _warn_if_saturated(data, network, theta, estimator_name):
    """Warn when most first-layer hidden units start saturated on the training rows.

    Unscaled features of large magnitude push z(2) far onto the plateaus of the sigmoid or
    tanh, where g′ and with it the gradient vanish: the fit then ends early at a poor model and
    reports success. A few hundred rows show it for the price of one small product.
    """
    saturated = data.saturated_fraction(theta, SATURATION_ROWS)
    if saturated is not None and saturated > SATURATED_FRACTION:
        threshold = SATURATED_Z[network.activation]
        warnings.warn(
            f"{saturated:.0%} of the first hidden layer's units start saturated on the "
            f"training rows (|z| > {threshold:g}, where the {network.activation} derivative is "
            f"all but zero), so backpropagation's gradient vanishes: the features are probably "
            f"not scaled. Scale them, for example with make_pipeline(StandardScaler(), "
            f"{estimator_name}(...)).",
            UserWarning,
            stacklevel=caller_stacklevel(),
        )


def on_home_device(array, like):
    """``array`` (a NumPy array) in the namespace and on the device of ``like`` (float64
    becomes float32 on a device without float64)."""
    xp, _, device = get_namespace_and_device(like)
    return move_to(array, xp=xp, device=device)


def flat(Z):
    """The one column of Z as a vector, in Z's namespace."""
    if isinstance(Z, np.ndarray):
        return Z.ravel()
    xp, _ = get_namespace(Z)
    return xp.reshape(Z, (-1,))


def short(value, length=40):
    """``repr(value)``, cut to ``length`` characters: a 400-digit integer makes no message."""
    text = repr(value)
    return text if len(text) <= length else f"{text[: length - 3]}..."


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


class BaseBackprop(CallbackSupportMixin, BaseEstimator, metaclass=ABCMeta):
    """The shared fit pipeline of sklearn-bp's networks; not an estimator of its own.

    A subclass defines ``__init__`` with its parameters, adds its own constraints to
    ``_parameter_constraints``, and implements the hooks:

    - ``_encode_targets(y, dtype) -> Targets``: validate y and encode it for the output units;
    - ``_target_attributes(facts)``: the fitted attributes that describe the targets;
    - ``_chunked_targets(y, dtype)``: for targets that stay in row chunks where their rows
      live, :class:`Targets` without ``Y`` and the functions that encode (and weigh) each
      chunk there;

    and, where it needs them, ``_weigh_targets(weight, targets)`` (class weights),
    ``_check_continuation(targets)`` (what ``warm_start`` may not change) and ``_y_checks``
    (keyword arguments of ``validate_data`` for y).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"evidence"})],
        "method": [StrOptions(set(METHODS)), callable],
        "hessian": [StrOptions({"exact", "gauss-newton"})],
        "max_iter": [Interval(Integral, 1, MAX_ITER, closed="both")],
        "tol": [Interval(Real, 0, None, closed="left")],
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
    _y_checks: dict = {}

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
                        f"number, got an integer too large for a float: {short(value)}."
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
            Training data; float32 data is computed in float32. Under scikit-learn's
            ``array_api_dispatch``, also a PyTorch, CuPy or other array-API array, on whose
            device the fit then runs (see "Running on a GPU" in the documentation).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets: class labels or a multilabel indicator matrix for a classifier.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; equal weights by default.

        Returns
        -------
        self : object
            The fitted estimator.

        Examples
        --------
        >>> from sklearn.datasets import load_diabetes, load_iris
        >>> from sklearn_bp import BackpropClassifier, BackpropRegressor
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> clf.n_iter_ == len(clf.loss_curve_)
        True
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = BackpropRegressor(alpha=10.0, random_state=0).fit(X, y / y.std())
        >>> [W.shape for W in reg.coefs_]
        [(10, 25), (25, 1)]
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
            # scikit-learn's callbacks are torn down after fit returns: keep what they need.
            callbacks = {key: vars(self)[key] for key in CALLBACK_STATE if key in vars(self)}
            self.__dict__.clear()
            self.__dict__.update(state_before, **callbacks)
            if rng_before is not None:
                random_state.set_state(rng_before)
            raise

    def _fit(self, X, y, sample_weight):
        start = time.perf_counter()
        # Everything that can be refused is refused before anything of the network's size is
        # allocated and before a random number is drawn.
        problem = self._prepare(X, y, sample_weight)
        try:
            return self._fit_problem(problem, start, y, sample_weight)
        finally:
            problem.placement.close()  # rows and actors held elsewhere are let go

    def _fit_problem(self, problem, start, y, sample_weight):
        """The fit in named steps: the method's plan, the split and the start, the watchers of
        the iterations, the minimization, the fitted attributes."""
        plan = self._plan(problem)
        task = self._fit_task(problem, plan, y, sample_weight)
        random_state = check_random_state(self.random_state)
        train, validation = self._split(problem, random_state, plan.spec.hessp)
        theta0 = self._initial_theta(problem.network, random_state)
        data, coordinates, theta0 = self._training_term(problem, train, plan, theta0)
        early_stopping = self._early_stopping(problem, validation, theta0)
        listeners = self._listeners(problem.network, early_stopping)
        iteration_tasks = self._iteration_tasks(problem, task, theta0)
        if iteration_tasks is not None:
            listeners.append(iteration_tasks)
        if self._uses_evidence:
            x, result, monitor, evidence = self._minimize_evidence(
                problem, data, listeners, coordinates, theta0, plan
            )
        else:
            monitor = self._monitor(data, listeners, coordinates)
            with evaluation_threads(data.largest_product_flops(), data.block_count()):
                x, result = minimize_objective(
                    monitor,
                    theta0,
                    plan=plan,
                    tol=float(self.tol),
                    early_stopping=early_stopping,
                    dtype=_evaluation_dtype(data),
                )
            evidence = dict.fromkeys(EVIDENCE_ATTRIBUTES)
        if iteration_tasks is not None:
            iteration_tasks.close()
        n_iter = check_result(result, plan)
        if self._uses_evidence:
            n_iter = monitor.n_iter
        self._store_fit(problem, x, result, monitor, early_stopping, n_iter)
        vars(self).update(evidence)
        self._fit_seconds = time.perf_counter() - start
        if task is not None:
            task.end()
        return self

    def _plan(self, problem):
        """The method's plan, derived once; refuse what cannot run before anything is drawn."""
        plan = plan_method(self.method, self.max_iter, self.options)
        check_method(plan, problem.network.n_params)
        check_reproducible(self.method, self.random_state)
        self._check_warm_start(problem)
        if self._uses_evidence:
            self._check_evidence(problem)
        return plan

    @property
    def _uses_evidence(self):
        """Whether ``alpha="evidence"``: the evidence chooses the penalty."""
        return isinstance(self.alpha, str) and self.alpha == "evidence"

    def _check_evidence(self, problem):
        """Refuse what ``alpha="evidence"`` cannot combine with: early stopping, a cost that
        is no negative log-likelihood."""
        if self.early_stopping:
            raise ValueError(
                "alpha='evidence' chooses the penalty from all the training rows, and "
                "early_stopping would hold some out and end the rounds of the evidence on "
                "another criterion: set early_stopping=False (the evidence is the "
                "regularization), or give alpha a number."
            )
        check_evidence_loss(problem.targets.loss.name)

    def _minimize_evidence(self, problem, data, listeners, coordinates, theta0, plan):
        """Minimize J in rounds, re-estimating alpha from the evidence between them.

        Two stages (``_evidence``): one alpha for every layer's weights, from
        ``START_ALPHA`` (or the previous fit's under ``warm_start``), until it settles; then
        one alpha per layer, from there; the stage of the higher log evidence is kept (the
        second where the log evidence is not computed). Each round's minimization starts from
        the previous round's θ and is bounded by ``max_iter``.

        Returns θ, the last minimization's summary (J and its gradient at θ, re-evaluated if
        the first stage is kept), a record of the rounds for ``_store_fit`` and the fitted
        attributes of the evidence.
        """
        network = problem.network
        estimate_beta = check_evidence_loss(problem.targets.loss.name)
        n_outputs = problem.targets.n_outputs
        rounds = _Rounds(len(self._previous("loss_curve_")) + 1)

        def minimize_at(alphas, theta):
            # One group: one alpha for every layer; else one per layer.
            alpha = float(alphas[0]) if len(alphas) == 1 else alphas
            monitor = self._monitor(
                data, listeners, coordinates, alpha=alpha, first_iteration=rounds.next_iteration
            )
            with evaluation_threads(data.largest_product_flops(), data.block_count()):
                x, result = minimize_objective(
                    monitor, theta, plan=plan, tol=float(self.tol), dtype=_evaluation_dtype(data)
                )
            rounds.add(monitor, result, x)
            return x

        previous = self._previous_alphas()
        args = (n_outputs, estimate_beta, MAX_ROUNDS)
        # The rounds' curvature products and factorizations under the fit's rule for BLAS
        # threads, the factorization's n³ / 30 counted as a product.
        flops = max(data.largest_product_flops(), network.n_params**3 / 30)
        with _factorization_threads(flops):
            stages = _evidence_stages(network, data, theta0, previous, minimize_at, rounds, args)
        # Ties (no log evidence beyond the dense limit) go to the later stage.
        stage = max(reversed(stages), key=_stage_merit)
        theta, alphas, evidence, _, result = stage
        if theta is not rounds.theta:
            # An earlier round is kept (of the first stage, or of the stage's own): J (with
            # its alphas) and its gradient at its θ.
            monitor = self._monitor(data, [], coordinates, alpha=alphas)
            loss, gradient_norm = monitor.final_loss_and_gradient_norm(theta)
            result = {**result, "fun": loss, "gradient_norm": gradient_norm}
        n_data = data.total_weight * problem.targets.n_outputs
        if estimate_beta and evidence.gamma > n_data - 1.0:
            warnings.warn(
                f"alpha='evidence' found about {evidence.gamma:.1f} parameters determined by "
                f"{n_data:g} targets (the sum of the sample weights times the outputs): too "
                f"few targets to estimate the noise, so noise_variance_ and return_std rest "
                f"on a floor rather than on the data. Fit on more rows, use fewer hidden "
                f"units, or give alpha a number.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        alpha_ = np.asarray(alphas, dtype=np.float64).copy()
        attributes = {
            "alpha_": problem.placement.fitted_arrays(problem, [alpha_])[0],
            "effective_n_parameters_": float(evidence.gamma),
            "log_evidence_": evidence.log_evidence,
            "noise_variance_": 1.0 / evidence.beta if estimate_beta else None,
            "_posterior_factor": None,
        }
        if estimate_beta and evidence.curvature.exact:
            # Where the fitted arrays live, as they are: return_std reads it with X at hand.
            with _factorization_threads(flops):  # an eigendecomposition, as costly
                factor = posterior_factor(evidence.curvature, evidence.alphas)
            attributes["_posterior_factor"] = problem.placement.fitted_arrays(problem, [factor])[0]
        return theta, result, rounds, attributes

    def _fit_task(self, problem, plan, y, sample_weight):
        """scikit-learn's callback task of the fit, or None.

        The callbacks get the training data only where its rows are at hand: a
        ScoringMonitor would score rows held on a cluster in the client, gathering them there.
        """
        in_memory = problem.placement.rows_at_hand
        return fit_task(
            self,
            plan.limit,
            problem.X if in_memory else None,
            y if in_memory else None,
            {"sample_weight": sample_weight} if sample_weight is not None and in_memory else None,
        )

    def _training_term(self, problem, train, plan, theta0):
        """The data term of the training rows, the coordinates of the outputs and the start
        in them; warns when the start saturates the hidden units of a fresh fit."""
        data = self._data_term(problem, train, plan.spec.hessp or self._uses_evidence)
        coordinates = self._coordinates(data)
        theta0 = self._start(theta0, coordinates)
        if not self._continues():
            _warn_if_saturated(data, problem.network, theta0, type(self).__name__)
        return data, coordinates, theta0

    def _early_stopping(self, problem, validation, theta0):
        """The early stopper of the held-out rows, or None without them."""
        if validation is None:
            return None
        early_stopping = EarlyStopping(
            self._scorer(problem, validation), self.n_iter_no_change, float(self.tol)
        )
        if problem.same_split:
            # The start is the previous fit's choice on these same held-out rows.
            early_stopping.offer_start(theta0)
        return early_stopping

    def _iteration_tasks(self, problem, task, theta0):
        """Iteration tasks only for scikit-learn's callbacks to see: without any, each would
        cost hooks that do nothing, every iteration."""
        if task is None or not getattr(self, "_skl_callbacks", None):
            return None
        return task.iterations(lambda theta: self._fitted_attributes(problem, theta), theta0)

    def _monitor(self, data, listeners, coordinates, alpha=None, first_iteration=None):
        """The monitor of J, ∇J and the chosen curvature product of the penalized objective
        (with ``alpha``, one value or one per layer, in place of the parameter's)."""
        objective = BackpropObjective(data, self.alpha if alpha is None else alpha)
        if first_iteration is None:
            first_iteration = len(self._previous("loss_curve_")) + 1
        return Monitor(
            objective.loss_gradient,
            {
                "exact": objective.hessian_vector_product,
                "gauss-newton": objective.gauss_newton_vector_product,
            }[self.hessian],
            listeners=listeners,
            first_iteration=first_iteration,
            coordinates=coordinates,
        )

    def _listeners(self, network, early_stopping):
        """What watches every iteration, in order: the early stopper scores the iterate first,
        so that the printer can show its score."""
        listeners = [] if early_stopping is None else [early_stopping]
        if self.verbose:
            listeners.append(Printer())
        if self.callback is not None:
            listeners.append(
                UserCallback(self.callback, lambda theta: _coefs_intercepts(network, theta))
            )
        return listeners

    def _store_fit(self, problem, x, result, monitor, early_stopping, n_iter):
        """Set every fitted attribute at once, when nothing can fail any more."""
        vars(self).update(self._fitted_attributes(problem, x))
        self.loss_ = result["fun"]
        self.loss_curve_ = self._previous("loss_curve_") + monitor.loss_curve
        self.n_iter_ = n_iter
        self.n_fun_evals_ = monitor.n_fun_evals
        self.n_grad_evals_ = monitor.n_fun_evals  # J and ∇J are always evaluated together
        self.n_hessp_evals_ = monitor.n_hessp_evals
        if early_stopping is not None:
            self.validation_scores_ = self._previous("validation_scores_") + early_stopping.scores
            self.validation_loss_curve_ = (
                self._previous("validation_loss_curve_") + early_stopping.losses
            )
            # The score of the parameters returned: under warm_start the previous fit's, on
            # the same validation rows, unless this fit found better ones.
            self.best_validation_score_ = early_stopping.best_score
            self._validation_split = (
                problem.validation_seed,
                float(self.validation_fraction),
                problem.X.shape[0],
                problem.placement.row_layout(problem),
            )
        else:
            self.validation_scores_ = self.validation_loss_curve_ = None
            self.best_validation_score_ = None
            self._validation_split = None
        self.optimize_result_ = result
        self._versions = library_versions()

    def _fitted_attributes(self, problem, theta):
        """The attributes with which the estimator predicts as a network of parameters θ.

        Plain values only (no objects of ours, no numpy dtypes), so that a fitted estimator
        loads under skops trusting nothing but its own type.
        """
        network = problem.network
        coefs, intercepts = (
            problem.placement.fitted_arrays(problem, [array.copy() for array in arrays])
            for arrays in _coefs_intercepts(network, theta)
        )
        return {
            "coefs_": coefs,
            "intercepts_": intercepts,
            "n_layers_": network.n_layers,
            "n_outputs_": network.layer_sizes[-1],
            "out_activation_": problem.targets.loss.name,
            "_activation": network.activation,
            **self._target_attributes(problem.targets.facts),
        }

    def _continues(self):
        """Whether this fit continues the previous one (``warm_start`` after a fit)."""
        return self.warm_start and hasattr(self, "coefs_")

    def _previous(self, name):
        """A record of the previous fit that a warm-started fit continues, else empty."""
        if self.warm_start and getattr(self, name, None) is not None:
            return list(getattr(self, name))
        return []

    def _split(self, problem, random_state, curvature):
        """Row indices for training and, with ``early_stopping``, for validation (``curvature``:
        whether the training rows will compute curvature products, for their blocks' size).

        The split is drawn from a seed that a warm-started fit takes over from the previous
        fit: the same rows stay held out, so that scores of the two fits compare.
        """
        n_samples = problem.X.shape[0]
        placement = problem.placement
        if not self.early_stopping:
            return placement.all_rows(problem), None
        # The same seed holds out the same rows only for the same rows in the same layout: in
        # memory, or on a cluster in the same row chunks (each chunk draws its own share).
        split = (float(self.validation_fraction), n_samples, placement.row_layout(problem))
        previous = getattr(self, "_validation_split", None) if self._continues() else None
        if previous is not None and previous[1:] == split:
            seed, problem.same_split = previous[0], True
        else:
            seed = int(random_state.randint(np.iinfo(np.int32).max))
        problem.validation_seed = seed
        return placement.split(problem, self.validation_fraction, seed, curvature)

    def _data_term(self, problem, rows, curvature=False):
        """The data term of the given rows, its blocks sized for curvature products if asked."""
        return problem.placement.data_term(problem, rows, curvature)

    def _scorer(self, problem, rows):
        """``score(theta) -> (loss, score)`` on the validation rows, wherever they live.

        The loss is the weighted mean cost (J without its penalty); the score the loss object's
        ``score_from_sums`` of its additive ``validation_sums`` over the rows (accuracy, R²),
        summed over the workers on a cluster: one scorer for every place of the rows.
        """
        loss = problem.targets.loss
        statistics = partial(loss.validation_sums, kind=problem.targets.facts.get("kind"))
        return problem.placement.scorer(problem, rows, statistics, loss.score_from_sums)

    def _objective_at_start(self, X, y, sample_weight=None, dtype=(np.float64,)):
        """Validate everything as ``fit`` does; return the objective and the starting θ.

        The family's way in for :func:`~sklearn_bp.gradient_check` and the benchmarks: J and
        its derivatives on the training rows, computed in the first of ``dtype`` that X can
        take (float64 by default, whatever the dtype of X), at the θ ``fit`` would start from.
        Call it on a copy: validation records the number of features on the estimator.
        """
        self._validate_params()
        placement_for_fit(X, y, sample_weight).check_gradient_check()
        problem = self._prepare(X, y, sample_weight, dtype=dtype)
        self._check_warm_start(problem)
        data = self._data_term(problem, np.arange(problem.X.shape[0]))
        random_state = check_random_state(self.random_state)
        theta0 = self._start(
            self._initial_theta(problem.network, random_state), self._coordinates(data)
        )
        return BackpropObjective(data, self._alpha_at_start()), theta0

    def _alpha_at_start(self):
        """The alpha J has at the start of a fit: the parameter's, or with ``"evidence"`` that
        of the first round (the previous fit's under ``warm_start``)."""
        if not self._uses_evidence:
            return self.alpha
        previous = self._previous_alphas()
        return START_ALPHA if previous is None else list(previous)

    def _previous_alphas(self):
        """The alphas the evidence chose in the previous fit that this one continues, or None."""
        if not self._continues() or getattr(self, "alpha_", None) is None:
            return None
        return np.asarray(to_host(self.alpha_), dtype=np.float64)

    def _prepare(self, X, y, sample_weight, dtype=(np.float64, np.float32)):
        """Validate the data and hyperparameters where the rows live; encode the targets; lay
        out the network."""
        hidden = self._hidden_layer_sizes()
        placement = placement_for_fit(X, y, sample_weight)
        X, targets, sample_weight, network = placement.prepare(
            self, X, y, sample_weight, hidden, dtype
        )
        return Problem(X, targets, sample_weight, network, placement)

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

    def _sample_weight(self, sample_weight, X, targets, dtype):
        """The w_i of the cost, in ``dtype`` (X's): sample weights, weighed by the targets' hook.

        Computed in float64 and checked before the cast, so that weights beyond the range of
        X's dtype are refused instead of overflowing with a numpy warning.
        """
        with too_large_for_float("sample_weight"):
            weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        weight = self._weigh_targets(weight, targets)
        _check_weights_fit_dtype(weight, dtype)
        weight = weight.astype(dtype, copy=False)
        check_total_weight(weight, "The sample weights")
        return weight

    @abstractmethod
    def _encode_targets(self, y, dtype):
        """Validate y and encode it for the output units: return :class:`Targets`."""

    @abstractmethod
    def _chunked_targets(self, y, dtype):
        """For targets that stay in row chunks where their rows live (``ChunkedTargets`` of
        ``_placement.cluster``: their shape, dtype and distinct values): ``(Targets, encode,
        weigh)``, the targets' facts and the functions ``encode(y_chunk)`` and
        ``weigh(y_chunk, weight)`` (or None) applied to each chunk there."""

    @abstractmethod
    def _target_attributes(self, facts):
        """The fitted attributes that describe the targets, from ``Targets.facts``: a dict."""

    def _weigh_targets(self, weight, targets):
        """Weights that depend on the targets (class weights): none by default."""
        return weight

    def _check_warm_start(self, problem):
        """Refuse to continue a fit of another network or of targets it cannot continue."""
        if not self._continues():
            return
        self._check_continuation(problem.targets)
        network, previous = problem.network, self._network
        if network.layer_sizes != previous.layer_sizes:
            raise ValueError(
                f"warm_start can only continue a fit with the same layer sizes: the previous "
                f"fit had {previous.layer_sizes}, this one has {network.layer_sizes}."
            )

    def _check_continuation(self, targets):
        """Refuse targets that a warm-started fit cannot continue from: any, by default."""

    def _initial_theta(self, network, random_state):
        if self._continues():  # from the previous fit's device, if it had one
            return network.pack(*self._host_parameters())
        return network.initial_theta(random_state)

    def _coordinates(self, data):
        """The coordinates the method works in (``_optimize.Coordinates``); None for θ itself."""
        return None

    def _start(self, theta0, coordinates):
        """The θ the fit starts from: a new fit draws the method's coordinates, not θ."""
        if coordinates is None or self._continues():
            return theta0
        return coordinates.theta(theta0)

    @property
    def _network(self):
        """The layout of the fitted network, rebuilt from the fitted weights."""
        layer_sizes = [self.coefs_[0].shape[0]] + [coef.shape[1] for coef in self.coefs_]
        return Network(layer_sizes, self._activation)

    def __copy__(self):
        # A copy is no load: no state to upgrade and no version to warn about.
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        return clone

    def __setstate__(self, state):
        # Estimators saved before the network was rebuilt from the weights kept the layout.
        network = state.pop("_network", None)
        if network is not None:
            state.setdefault("_activation", network.activation)
        super().__setstate__(state)
        saved = state.get("_versions", {}).get("sklearn-bp", "before 0.2.0")
        if "coefs_" in state and saved != __version__:
            warnings.warn(
                InconsistentVersionWarning(type(self).__name__, saved, __version__),
                stacklevel=2,
            )

    @property
    def thetas_(self):
        """The course's Θ(l), shape (s_{l+1}, s_l + 1), bias in column 0.

        Returns
        -------
        thetas : list of ndarray
            One matrix per layer l = 1, ..., L − 1: row j holds the bias and the weights of
            unit j of layer l + 1, so that z(l+1) = Θ(l) [1; a(l)]. Copies of ``coefs_`` and
            ``intercepts_``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_bp import BackpropClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
        >>> [theta.shape for theta in clf.thetas_]
        [(5, 5), (3, 6)]
        >>> bool((clf.thetas_[0][:, 0] == clf.intercepts_[0]).all())
        True
        """
        check_is_fitted(self)
        network = self._network
        return [theta.copy() for theta in network.thetas(network.pack(*self._host_parameters()))]

    @property
    def activation_(self):
        """The hidden units' activation of the fitted network (``activation`` at fit time)."""
        check_is_fitted(self)
        return self._activation

    @property
    def fit_time_(self):
        """Seconds the last fit took, or None for a model saved before sklearn-bp 0.2.0."""
        check_is_fitted(self)
        return getattr(self, "_fit_seconds", None)

    @property
    def library_versions_(self):
        """The versions the model was trained with (``library_versions()`` at fit time)."""
        check_is_fitted(self)
        return dict(getattr(self, "_versions", {}))

    def _host_parameters(self):
        """``coefs_`` and ``intercepts_`` as NumPy arrays, from the device of a fit on one."""
        return [to_host(W) for W in self.coefs_], [to_host(b) for b in self.intercepts_]

    def _check_namespace(self, X, method):
        """Refuse X of another namespace or device than the fit's, under ``array_api_dispatch``.

        scikit-learn's convention (its ``check_same_namespace``): the fitted arrays live where
        the training data lived, and a prediction does not move them behind the user's back.
        """
        check_is_fitted(self)
        if not get_config()["array_api_dispatch"]:
            return
        fit_xp, _, fit_device = get_namespace_and_device(self.coefs_[0])
        xp, _, device = get_namespace_and_device(X)
        if is_numpy_namespace(fit_xp) and is_numpy_namespace(xp):
            return
        if fit_xp is xp and fit_device == device:
            return
        raise ValueError(
            f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace "
            f"and the same device as those passed to fit(): the fit's arrays are "
            f"{fit_xp.__name__} arrays on device {fit_device!r}, X is a {xp.__name__} array on "
            f"device {device!r}. Move X to the fit's namespace and device, or fit on X's."
        )

    @property
    def _loss(self):
        """The loss object of the fitted output units, from ``out_activation_``."""
        return LOSSES[self.out_activation_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags

    def _output(self, X):
        """z(L) for the rows of X in X's dtype, and the rows whose z overflows.

        Returns ``Z, saturated``: ``saturated`` is None, or ``(rows, M, e)`` for the rows
        whose forward pass may overflow X's dtype (``Z`` holds them clipped into its range)
        with their exact z = 2^e M from ``_network.scaled_decision_output``. Under
        ``array_api_dispatch``, for X of another namespace, Z is on X's device.
        """
        check_is_fitted(self)
        return placement_for_rows(X).output(self, X)


@contextlib.contextmanager
def _factorization_threads(flops):
    """The BLAS threads of the evidence's products and factorizations, by the fit's rule for
    ``flops``: where numpy's BLAS gets one thread, scipy's (the triangular solves) gets one
    too. A Cholesky factorization of 321 parameters took 27 ms on one thread and 0.27-0.45 s
    on two with the other core busy; an eigendecomposition of 111, 2 ms and 160 ms."""
    limit = blas_threads_for(flops)
    single = limit is numpy_blas_single_threaded
    with limit, scipy_blas_single_threaded if single else contextlib.nullcontext():
        yield


def _evidence_stages(network, data, theta0, previous, minimize_at, rounds, args):
    """The stages of the evidence, ``[(θ, alphas, evidence, settled, summary), ...]``: one
    alpha for all layers, then one per layer from there; under warm start only the stage of
    the previous fit's choice, from its alphas. ``rounds`` records the minimizations."""
    n_layers = network.n_layers - 1
    stages = []
    # A warm start continues the previous fit's choice: its groups, from its alphas.
    one_group = previous is None or np.all(previous == previous[0]) or n_layers == 1
    if one_group:
        start = [START_ALPHA if previous is None else float(previous[0])]
        one = weight_groups(network, per_layer=False)
        theta, alphas, evidence, settled = settle(minimize_at, data, theta0, start, one, *args)
        alphas = np.full(n_layers, alphas[0])
        stages.append((theta, alphas, evidence, settled, rounds.result))
        theta0 = theta
    if n_layers > 1 and (previous is None or not one_group):
        start = stages[0][1] if previous is None else previous
        per_layer = weight_groups(network, per_layer=True)
        # The stage before is its rival: one far behind it ends early.
        rival = stages[0][2].log_evidence if stages else None
        # From the first stage's choice θ already minimizes J (the same J), and its G holds.
        at_minimum = stages[0][2] if stages else None
        stage = settle(
            minimize_at, data, theta0, start, per_layer, *args, rival=rival, at_minimum=at_minimum
        )
        stages.append((*stage, rounds.result))
    return stages


def _stage_merit(stage):
    """How a stage of the evidence ranks: a sound one (its alphas settled, and every group
    has at least half a well-determined weight) above one that ran off to a degenerate
    optimum (the log evidence of a group with no determined weight grows without bound as its
    alpha goes to 0, on separable classes for example), then by log evidence; where the log
    evidence is not computed the later stage (one alpha per layer) ranks higher."""
    _, _, evidence, settled, _ = stage
    sound = bool(settled and np.all(evidence.gammas >= DEGENERATE_GAMMA))
    log_evidence = evidence.log_evidence
    return (sound, np.inf if log_evidence is None else log_evidence)


class _Rounds:
    """The record of the minimizations of the evidence's rounds, as ``_store_fit`` reads a
    monitor's: the loss curve, the counts, and the last summary."""

    def __init__(self, first_iteration):
        self.next_iteration = first_iteration
        self.loss_curve = []
        self.n_fun_evals = self.n_hessp_evals = self.n_iter = 0
        self.n_rounds = 0
        self.result = self.theta = None

    def add(self, monitor, result, theta):
        """Add one round's monitor, summary and parameters."""
        self.loss_curve += monitor.loss_curve
        self.n_fun_evals += monitor.n_fun_evals
        self.n_hessp_evals += monitor.n_hessp_evals
        self.n_iter += int(result["nit"])
        self.next_iteration += len(monitor.loss_curve)
        self.n_rounds += 1
        self.result = result
        self.theta = theta


def check_hyperparameters(estimator):
    """Refuse the invalid hyperparameters of an estimator of the family, as ``fit`` would.

    Raises scikit-learn's ``InvalidParameterError`` (a ``ValueError`` and a ``TypeError``) with
    the message ``fit`` gives, without data: for callers that check a configuration before they
    read any, such as the command line.
    """
    estimator._validate_params()
