"""The fit pipeline that every estimator of the family shares.

Data flows one way: validate → encode targets → lay out parameters → optimize → expose. This
module owns every step but the encoding of targets and what a prediction is: an estimator
subclasses :class:`BaseBackprop` and supplies those through a few hooks. It computes no
derivative of its own: the data term and the objective are ``_objective``'s, the method table
and the driver ``_optimize``'s.
"""

import time
import warnings
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy import sparse
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ._activations import ACTIVATIONS, SATURATED_Z
from ._array_api import (
    check_not_complex,
    device_block_rows,
    host_dtype,
    take_rows_xp,
)
from ._callbacks import CallbackSupportMixin, fit_task
from ._dask import (
    DaskData,
    any_dask,
    as_dask_array,
    dask_inputs,
    map_rows,
    without_feature_names,
)
from ._fixes import (
    Interval,
    Options,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    caller_stacklevel,
    float_dtypes,
    get_chunk_n_rows,
    get_namespace,
    get_namespace_and_device,
    is_numpy_namespace,
    move_to,
    to_host,
    validate_parameter_constraints,
)
from ._losses import LOSSES
from ._network import (
    MIN_BLOCK_ROWS,
    CurvatureWorkspace,
    Network,
    Workspace,
    may_overflow,
    overflow_rows,
    scaled_decision_output,
    unscale,
)
from ._objective import BackpropObjective, DataTerm, primitives_for
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
    minimize_objective,
    plan_method,
)
from ._passes import decision_output
from ._persistence import InconsistentVersionWarning, library_versions
from ._version import __version__

# A block of X and its buffers should stay in cache between the forward and the backward
# pass: measured here, blocks of about 8 MiB ran 10-15% faster than one block of all rows
# (but no fewer rows than MIN_BLOCK_ROWS).
BLOCK_BYTES = 8 * 2**20

# The saturation check at the start of a fit looks at this many rows, and warns when more
# than this fraction of the first hidden layer's pre-activations are saturated.
SATURATION_ROWS = 256
SATURATED_FRACTION = 0.5

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
        """Number of output units: columns of Y, or ``facts["n_outputs"]`` for dask targets,
        which are encoded chunk by chunk on the workers."""
        return self.facts["n_outputs"] if self.Y is None else self.Y.shape[1]


@dataclass
class Problem:
    """A validated fit: the data, its encoded targets, the weights and the network's layout."""

    X: Any
    targets: Targets
    sample_weight: np.ndarray
    network: Network
    validation_seed: int | None = None
    same_split: bool = False  # the previous fit held out the same rows
    dask: Any = None  # for dask inputs: the rows on the workers (``_dask.DaskData``)
    xp: Any = None  # for arrays of another array-API namespace: that namespace, X on its device


def block_rows(network, X, curvature=False):
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


def device_namespace(X):
    """``(xp, device)`` of X under ``array_api_dispatch`` when X is no NumPy array, else None.

    Only such X take the array-API path: NumPy arrays, sparse matrices, lists and DataFrames
    keep the NumPy path and its in-place kernels, with dispatch on or off.
    """
    if not get_config()["array_api_dispatch"]:
        return None
    xp, _, device = get_namespace_and_device(X)
    return None if is_numpy_namespace(xp) else (xp, device)


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


def _row_layout(problem):
    """How the rows are split for early stopping: None in memory, the row chunks on dask."""
    return None if problem.dask is None else ("dask", *map(int, problem.X.chunks[0]))


def check_total_weight(weight, what):
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
def too_large_for_float(name):
    """Name the input when numpy cannot convert a Python integer beyond float's range."""
    try:
        yield
    except OverflowError as error:
        raise ValueError(f"{name} holds a number too large for float64: {error}.") from error


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
    - ``_dask_targets(y, dtype)``: for a dask y, :class:`Targets` without ``Y`` and the
      functions that encode (and weigh) each row chunk on the workers;

    and, where it needs them, ``_weigh_targets(weight, targets)`` (class weights),
    ``_check_continuation(targets)`` (what ``warm_start`` may not change) and ``_y_checks``
    (keyword arguments of ``validate_data`` for y).
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
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
            if problem.dask is not None:  # let go of the rows and the actors on the workers
                problem.dask.close()

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
        monitor = self._monitor(data, listeners, coordinates)
        with blas_threads_for(data.largest_product_flops()):
            x, result = minimize_objective(
                monitor, theta0, plan=plan, tol=float(self.tol), early_stopping=early_stopping
            )
        if iteration_tasks is not None:
            iteration_tasks.close()
        n_iter = check_result(result, plan)
        self._store_fit(problem, x, result, monitor, early_stopping, n_iter)
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
        return plan

    def _fit_task(self, problem, plan, y, sample_weight):
        """scikit-learn's callback task of the fit, or None.

        The callbacks get the training data, but not the rows on a dask cluster: a
        ScoringMonitor would score them in the client, gathering them there.
        """
        in_memory = problem.dask is None
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
        data = self._data_term(problem, train, plan.spec.hessp)
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

    def _monitor(self, data, listeners, coordinates):
        """The monitor of J, ∇J and the chosen curvature product of the penalized objective."""
        objective = BackpropObjective(data, self.alpha)
        return Monitor(
            objective.loss_gradient,
            {
                "exact": objective.hessian_vector_product,
                "gauss-newton": objective.gauss_newton_vector_product,
            }[self.hessian],
            listeners=listeners,
            first_iteration=len(self._previous("loss_curve_")) + 1,
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
                _row_layout(problem),
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
            [array.copy() for array in arrays] for arrays in _coefs_intercepts(network, theta)
        )
        if problem.xp is not None:  # on X's device in X's dtype, as scikit-learn's estimators
            xp, _, device = get_namespace_and_device(problem.X)
            dtype = problem.targets.Y.dtype
            coefs, intercepts = (
                [xp.asarray(array.astype(dtype), device=device) for array in arrays]
                for arrays in (coefs, intercepts)
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
        if not self.early_stopping:
            return (np.arange(n_samples) if problem.dask is None else "train"), None
        # The same seed holds out the same rows only for the same rows in the same layout: in
        # memory, or on a cluster in the same row chunks (each chunk draws its own share).
        split = (float(self.validation_fraction), n_samples, _row_layout(problem))
        previous = getattr(self, "_validation_split", None) if self._continues() else None
        if previous is not None and previous[1:] == split:
            seed, problem.same_split = previous[0], True
        else:
            seed = int(random_state.randint(np.iinfo(np.int32).max))
        problem.validation_seed = seed
        if problem.dask is not None:
            # Each row chunk holds out its share on its worker, at random (not stratified).
            return self._split_dask(problem, seed, curvature)
        try:
            train, validation = train_test_split(
                np.arange(n_samples),
                test_size=float(self.validation_fraction),
                stratify=problem.targets.stratify,
                random_state=seed,
            )
        except ValueError as error:
            raise ValueError(
                f"early_stopping cannot hold out validation_fraction="
                f"{self.validation_fraction} of the {n_samples} rows: {error}"
            ) from error
        if len(validation) < 2:
            raise ValueError(
                f"early_stopping cannot score on {len(validation)} validation row: "
                f"validation_fraction={self.validation_fraction} of {n_samples} rows holds out "
                f"fewer than 2."
            )
        weight = problem.sample_weight
        check_total_weight(weight[train], "The sample weights of the training rows")
        check_total_weight(weight[validation], "The sample weights of the validation rows")
        return train, validation

    def _split_dask(self, problem, seed, curvature):
        """Start the workers' terms with each chunk's held-out rows drawn from ``seed``."""
        fraction = float(self.validation_fraction)
        problem.dask.start(
            problem.network, problem.targets.loss.name, block_rows,
            curvature, fraction, seed,
        )  # fmt: skip
        n_train, w_train = problem.dask.summary["train"]
        n_validation, w_validation = problem.dask.summary["validation"]
        if n_validation < 2 or n_train < 1:
            raise ValueError(
                f"early_stopping cannot score on {n_validation} validation row(s): "
                f"validation_fraction={fraction} of {problem.X.shape[0]} rows holds out fewer "
                f"than 2."
            )
        check_total_weight(w_train, "The sample weights of the training rows")
        check_total_weight(w_validation, "The sample weights of the validation rows")
        return "train", "validation"

    def _data_term(self, problem, rows, curvature=False):
        """The data term of the given rows, its blocks sized for curvature products if asked."""
        if problem.dask is not None:
            if not problem.dask.actors:  # no early stopping: every row trains
                problem.dask.start(
                    problem.network, problem.targets.loss.name, block_rows, curvature, 0.0, 0
                )
                check_total_weight(problem.dask.summary["train"][1], "The sample weights")
            return problem.dask.term()
        every_row = len(rows) == problem.X.shape[0]
        Y, weight = problem.targets.Y[rows], problem.sample_weight[rows]
        if problem.xp is not None:  # on X's device, in blocks sized for where it lives
            X = problem.X if every_row else take_rows_xp(problem.xp, problem.X, rows)
            blocks = device_block_rows(problem.network, X, Y.dtype, curvature)
            return DataTerm(problem.network, problem.targets.loss, X, Y, weight, blocks)
        X = problem.X if every_row else problem.X[rows]
        return DataTerm(
            problem.network,
            problem.targets.loss,
            X,
            Y,
            weight,
            block_rows(problem.network, X, curvature),
        )

    def _scorer(self, problem, rows):
        """``score(theta) -> (loss, score)`` on the validation rows, wherever they live.

        The loss is the weighted mean cost (J without its penalty); the score the loss object's
        ``score_from_sums`` of its additive ``validation_sums`` over the rows (accuracy, R²),
        summed over the workers on a cluster: one scorer for every place of the rows.
        """
        loss = problem.targets.loss
        statistics = partial(loss.validation_sums, kind=problem.targets.facts.get("kind"))
        if problem.dask is not None:  # sums over the held-out rows, computed on the workers
            return problem.dask.scorer(statistics, loss.score_from_sums)
        data = self._data_term(problem, rows)

        def score(theta):
            data_loss, sums = data.validation_sums(theta, statistics)
            return data_loss / data.total_weight, loss.score_from_sums(sums)

        return score

    def _objective_at_start(self, X, y, sample_weight=None, dtype=(np.float64,)):
        """Validate everything as ``fit`` does; return the objective and the starting θ.

        The family's way in for :func:`~sklearn_bp.gradient_check` and the benchmarks: J and
        its derivatives on the training rows, computed in the first of ``dtype`` that X can
        take (float64 by default, whatever the dtype of X), at the θ ``fit`` would start from.
        Call it on a copy: validation records the number of features on the estimator.
        """
        self._validate_params()
        if any_dask(X, y, sample_weight):
            raise TypeError(
                "gradient_check needs in-memory data (central differences on a few rows): pass "
                "NumPy arrays, for example the first rows of the dask array, computed."
            )
        problem = self._prepare(X, y, sample_weight, dtype=dtype)
        self._check_warm_start(problem)
        data = self._data_term(problem, np.arange(problem.X.shape[0]))
        random_state = check_random_state(self.random_state)
        theta0 = self._start(
            self._initial_theta(problem.network, random_state), self._coordinates(data)
        )
        return BackpropObjective(data, self.alpha), theta0

    def _prepare(self, X, y, sample_weight, dtype=(np.float64, np.float32)):
        """Validate the data and hyperparameters; encode the targets; lay out the network."""
        hidden = self._hidden_layer_sizes()
        if any_dask(X, y, sample_weight):
            return self._prepare_dask(X, y, sample_weight, hidden)
        # Labels and weights of any namespace are encoded and checked on the host.
        y, sample_weight = to_host(y), to_host(sample_weight)
        home = device_namespace(X)
        if home is not None:
            return self._prepare_array_api(X, y, sample_weight, hidden, home, dtype)
        with too_large_for_float("X"):
            X, y = validate_data(
                self, X, y, accept_sparse=["csr", "csc"], dtype=list(dtype), **self._y_checks
            )
        if sparse.issparse(X):
            X = X.tocsr()
        targets = self._encode_targets(y, X.dtype)
        sample_weight = self._sample_weight(sample_weight, X, targets, X.dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), self.activation)
        return Problem(X, targets, sample_weight, network)

    def _prepare_array_api(self, X, y, sample_weight, hidden, home, dtype):
        """:meth:`_prepare` for X of another array-API namespace: X stays on its device.

        Labels and weights are encoded and checked on the host, as NumPy ones are, once per
        fit; the data term copies the encoded targets and the weights to X's device.
        """
        xp, device = home
        check_not_complex(xp, X)
        on_device = float_dtypes(xp, device)
        wanted = [getattr(xp, np.dtype(d).name) for d in dtype]
        with too_large_for_float("X"):
            X, y = validate_data(
                self,
                X,
                y,
                dtype=[d for d in wanted if d in on_device] or on_device,
                **self._y_checks,
            )
        X_dtype = host_dtype(xp, X.dtype)
        with config_context(array_api_dispatch=False):  # everything here is NumPy
            targets = self._encode_targets(y, X_dtype)
            sample_weight = self._sample_weight(sample_weight, X, targets, X_dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), self.activation)
        return Problem(X, targets, sample_weight, network, xp=xp)

    def _prepare_dask(self, X, y, sample_weight, hidden):
        """Check dask inputs and encode their targets chunk by chunk, without computing X."""
        X, y, sample_weight, feature_names = dask_inputs(X, y, sample_weight)
        self.n_features_in_ = X.shape[1]
        if feature_names is None:
            vars(self).pop("feature_names_in_", None)
        else:
            self.feature_names_in_ = feature_names
        targets, encode, weigh = self._dask_targets(y, X.dtype)
        network = Network((X.shape[1], *hidden, targets.n_outputs), self.activation)
        data = DaskData(X, y, sample_weight, encode, weigh, X.dtype, targets.loss)
        problem = Problem(X, targets, None, network, dask=data)
        return problem

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
    def _dask_targets(self, y, dtype):
        """For a dask y: ``(Targets, encode, weigh)``, the targets' facts found on the workers
        and the functions ``encode(y_chunk)`` and ``weigh(y_chunk, weight)`` (or None)."""

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

    def _map_rows(self, name, X, *, n_columns, ravel):
        """``self.<name>`` applied lazily to every row chunk of the dask collection X."""
        check_is_fitted(self)
        name_of = type(self).__name__
        names = getattr(self, "feature_names_in_", None)
        columns = [str(c) for c in X.columns] if hasattr(X, "columns") else None
        if names is not None and columns is not None and columns != list(names):
            raise ValueError(
                "The feature names should match those that were passed during fit: "
                f"{list(names)}, got {columns}."
            )
        if names is not None and columns is None:
            warnings.warn(
                f"X does not have valid feature names, but {name_of} was fitted with feature names",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        if names is None and columns is not None:
            warnings.warn(
                f"X has feature names, but {name_of} was fitted without feature names",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
        # A DataFrame's partitions become row chunks of unknown length: nothing is computed.
        X = X.to_dask_array() if hasattr(X, "to_dask_array") else as_dask_array(X)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2D dask array for X, got {X.ndim} dimension(s).")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {name_of} is expecting "
                f"{self.n_features_in_} features as input."
            )
        method = getattr(without_feature_names(self), name)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        if name == "predict" and hasattr(self, "classes_"):  # labels, or a label indicator
            dtype = self.classes_.dtype if self._target_type != "multilabel" else self._y_dtype
        return map_rows(method, X, n_columns=n_columns, dtype=dtype, ravel=ravel)

    def _output(self, X):
        """z(L) for the rows of X in X's dtype, and the rows whose z overflows.

        Returns ``Z, saturated``: ``saturated`` is None, or ``(rows, M, e)`` for the rows
        whose forward pass may overflow X's dtype (``Z`` holds them clipped into its range)
        with their exact z = 2^e M from :func:`scaled_decision_output`. Under
        ``array_api_dispatch``, for X of another namespace, Z is on X's device
        (:meth:`_device_output`).
        """
        check_is_fitted(self)
        home = device_namespace(X)
        if home is not None:
            return self._device_output(X, *home)
        if not isinstance(self.coefs_[0], np.ndarray):
            raise ValueError(
                f"This {type(self).__name__} was fitted on "
                f"{type(self.coefs_[0]).__module__.split('.')[0]} "
                f"arrays under array_api_dispatch: predict with "
                f"sklearn.config_context(array_api_dispatch=True) on arrays of that namespace "
                f"and device, or fit again on NumPy arrays."
            )
        # scikit-learn's finiteness check sums X, which may overflow near the largest float32.
        with np.errstate(over="ignore", invalid="ignore"), too_large_for_float("X"):
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], reset=False
            )
        if sparse.issparse(X):
            X = X.tocsr()
        network = self._network
        params = [
            (W.astype(X.dtype, copy=False), b.astype(X.dtype, copy=False))
            for W, b in zip(self.coefs_, self.intercepts_)
        ]
        with np.errstate(over="ignore", invalid="ignore"):
            n_block = block_rows(network, X)
            Z = decision_output(primitives_for(X, n_block), network, params, X, n_block)
        params64 = list(zip(self.coefs_, self.intercepts_))
        rows = may_overflow(network, params64, X, X.dtype)
        if not rows.any():
            return Z, None
        M, exponents = scaled_decision_output(network, params64, X[rows].astype(np.float64))
        Z[rows] = unscale(M, exponents, X.dtype)
        return Z, (rows, M, exponents)

    def _device_output(self, X, xp, device):
        """:meth:`_output` on X's device; rows that may overflow are finished on the host.

        Those rows (inputs near the largest float) take the exact scaled pass of the NumPy
        path; their ``Z`` goes back to the device clipped, ``saturated`` stays on the host.
        """
        check_not_complex(xp, X)
        with np.errstate(over="ignore", invalid="ignore"):
            X = validate_data(self, X, dtype=float_dtypes(xp, device), reset=False)
        network, dtype = self._network, host_dtype(xp, X.dtype)
        params = [
            (xp.astype(W, X.dtype), xp.astype(b, X.dtype))
            for W, b in zip(self.coefs_, self.intercepts_)
        ]
        with np.errstate(over="ignore", invalid="ignore"):
            n_block = device_block_rows(network, X, dtype)
            Z = decision_output(primitives_for(X, n_block), network, params, X, n_block)
            row_max = to_host(xp.max(xp.abs(X), axis=1))
        params64 = [
            (W.astype(np.float64), b.astype(np.float64)) for W, b in zip(*self._host_parameters())
        ]
        rows = overflow_rows(network, params64, row_max, dtype)
        if not rows.any():
            return Z, None
        X_rows = to_host(take_rows_xp(xp, X, np.flatnonzero(rows))).astype(np.float64)
        M, exponents = scaled_decision_output(network, params64, X_rows)
        Z = np.array(to_host(Z))
        Z[rows] = unscale(M, exponents, dtype)
        return xp.asarray(Z, device=device), (rows, M, exponents)
