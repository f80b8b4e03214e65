"""Export fitted networks to ONNX, for onnxruntime and the other ONNX runtimes.

Importing this module registers a converter and a shape calculator for
:class:`~sklearn_bp.BackpropClassifier` and :class:`~sklearn_bp.BackpropRegressor` with skl2onnx,
and for the classifier skl2onnx's classifier parser (options ``zipmap`` and ``nocl``), so
that ``skl2onnx.to_onnx`` converts any pipeline that holds them; :func:`to_onnx` does it in
one call. Nothing else in sklearn-bp imports skl2onnx: ``pip install skl2onnx onnx``.

The graph is the forward pass of ``decision_function`` followed by the estimator's own output
formulas, in the input's floating dtype (float32 or float64):

- binary targets: [σ(−z), σ(z)] (two Sigmoid nodes, no 1 − σ(z), which loses the small one);
- softmax outputs: ONNX's Softmax, which subtracts each row's largest z;
- K sigmoids of a multiclass target, normalized to sum to one: the softmax of
  log σ(z) = min(z, 0) − log(1 + exp(−|z|)), finite for every finite z, also where all σ(z)
  round to 0;
- multilabel targets: σ(z) per label, and the labels where σ(z) > 0.5, as ``predict`` decides;
- regression: z(L) itself, of shape (n_samples, n_outputs).

What the graph does not hold is the estimator's exact path for rows so large that the forward
pass overflows the dtype (max|x| near 3.4e38 in float32, 1.8e308 in float64, divided by the
weights' growth, see :func:`overflow_limit`): there onnxruntime computes with infinities and
may return NaN where ``predict_proba`` is finite.
"""

import numpy as np

from ._optional import missing_message, missing_packages

_MISSING = missing_packages(["skl2onnx", "onnx"])
if _MISSING:
    raise ImportError(missing_message("sklearn_bp.onnx", _MISSING) + ".")

from skl2onnx import to_onnx as _skl2onnx_to_onnx  # noqa: E402
from skl2onnx import update_registered_converter  # noqa: E402
from skl2onnx.common.data_types import (  # noqa: E402
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
)
from skl2onnx.common.utils_classifier import get_label_classes  # noqa: E402
from skl2onnx.proto import onnx_proto  # noqa: E402

from ._classifier import BackpropClassifier  # noqa: E402
from ._losses import LOG_LINK_MARGIN  # noqa: E402
from ._regressor import BackpropRegressor  # noqa: E402

__all__ = ["overflow_limit", "to_onnx"]

CLASSIFIER_ALIAS = "SklearnBpBackpropClassifier"
REGRESSOR_ALIAS = "SklearnBpBackpropRegressor"

# The ONNX node of every hidden activation of _activations.ACTIVATIONS; None: nothing to apply.
HIDDEN_NODES = {"logistic": "Sigmoid", "tanh": "Tanh", "relu": "Relu", "identity": None}

# The activations whose units are bounded (|g| ≤ 1): after them the forward pass starts afresh.
_BOUNDED = {"logistic", "tanh"}


def _network(estimator):
    """The fitted network as NumPy arrays: (coefs, intercepts, hidden activation).

    The hidden activation is the one the fit used (``activation`` may have been set since).
    """
    coefs, intercepts = estimator.coefs_, estimator.intercepts_
    if not all(isinstance(array, np.ndarray) for array in [*coefs, *intercepts]):
        raise ValueError(
            f"This {type(estimator).__name__} holds {type(coefs[0]).__module__.split('.')[0]} "
            f"arrays (fitted under array_api_dispatch): fit it on NumPy arrays to export it."
        )
    return coefs, intercepts, estimator.activation_


def overflow_limit(estimator, dtype=np.float32):
    """Return the largest max|x_j| of a row for which the exported graph cannot overflow.

    Below this bound every z(l) of the forward pass stays within ``dtype``'s range, so
    onnxruntime's outputs are finite and match the estimator's. It is the estimator's own
    bound, ``|z(l+1)| ≤ max|a(l)| max_j ‖W(l)_{:,j}‖₁ + max|b(l)|``, with max|a| ≤ 1 after a
    logistic or tanh unit, solved for max|x|.

    Parameters
    ----------
    estimator : BackpropClassifier or BackpropRegressor
        A fitted estimator.

    dtype : {numpy.float32, numpy.float64}, default=numpy.float32
        The dtype the graph computes in (its input's).

    Returns
    -------
    limit : float
        The bound on the absolute values of a row's features; ``inf`` when no finite input
        overflows (the first layer is followed by bounded units that reach z(L) below it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_bp import BackpropRegressor
    >>> from sklearn_bp.onnx import overflow_limit
    >>> X = np.linspace(-1, 1, 20).reshape(-1, 1)
    >>> reg = BackpropRegressor(hidden_layer_sizes=(3,), activation="relu", random_state=0)
    >>> reg = reg.fit(X, X.ravel())
    >>> limit = overflow_limit(reg, np.float32)
    >>> bool(1e30 < limit < np.finfo(np.float32).max)
    True
    """
    coefs, intercepts, activation = _network(estimator)
    largest = float(np.finfo(dtype).max)
    # |z(l+1)| ≤ r G_l + B_l for rows with max|x| = r; bounded units start G and B afresh,
    # and then only the first layer depends on r.
    limit, gain, offset = np.inf, 1.0, 0.0
    for W, b in zip(coefs, intercepts):
        column_sum = float(np.abs(W).sum(axis=0).max(initial=0.0))
        gain, offset = gain * column_sum, offset * column_sum + float(np.abs(b).max(initial=0.0))
        if gain > 0:
            limit = min(limit, max(largest - offset, 0.0) / gain)
        if activation in _BOUNDED:
            break
    return limit


# Building the graph ---------------------------------------------------------------------------


class _Graph:
    """Adds nodes and constants of one operator's graph in its dtype, each under a fresh name."""

    def __init__(self, scope, container, proto_dtype):
        self.scope, self.container, self.proto_dtype = scope, container, proto_dtype
        self.dtype = np.float64 if proto_dtype == onnx_proto.TensorProto.DOUBLE else np.float32

    def constant(self, value, proto_dtype=None):
        value = np.asarray(value)
        name = self.scope.get_unique_variable_name("constant")
        proto_dtype = self.proto_dtype if proto_dtype is None else proto_dtype
        if proto_dtype in (onnx_proto.TensorProto.FLOAT, onnx_proto.TensorProto.DOUBLE):
            value = value.astype(self.dtype)
        self.container.add_initializer(name, proto_dtype, value.shape, value.ravel().tolist())
        return name

    def node(self, op_type, inputs, output=None, **attributes):
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            output,
            name=self.scope.get_unique_operator_name(op_type),
            op_domain="",
            op_version=self.container.target_opset,
            **attributes,
        )
        return output


def _proto_dtype(operator):
    """double for float64 inputs; float for every other input (float32, integers)."""
    if guess_proto_type(operator.inputs[0].type) == onnx_proto.TensorProto.DOUBLE:
        return onnx_proto.TensorProto.DOUBLE
    return onnx_proto.TensorProto.FLOAT


def _decision_output(graph, estimator, input_name, input_proto_dtype):
    """z(L): one MatMul and Add per layer, the hidden activation between layers."""
    coefs, intercepts, activation = _network(estimator)
    A = input_name
    if input_proto_dtype != graph.proto_dtype:
        A = graph.node("Cast", [A], to=graph.proto_dtype)
    for layer, (W, b) in enumerate(zip(coefs, intercepts)):
        if layer > 0 and HIDDEN_NODES[activation] is not None:
            A = graph.node(HIDDEN_NODES[activation], [A])
        A = graph.node("MatMul", [A, graph.constant(W)])
        A = graph.node("Add", [A, graph.constant(b.reshape(1, -1))])
    return A


def _log_sigmoid(graph, Z):
    """log σ(z) = min(z, 0) − log(1 + exp(−|z|)): no overflow, and exact to the rounding of
    log(1 + ε) where σ(z) is near 1 (ONNX has no log1p, and onnxruntime no double Softplus)."""
    one = graph.constant(np.ones(1))
    zero = graph.constant(np.zeros(1))
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [Z])])])
    softplus = graph.node("Log", [graph.node("Add", [tail, one])])
    return graph.node("Sub", [graph.node("Min", [Z, zero]), softplus])


def _probabilities(graph, Z, kind, out_activation, output):
    """The rows of predict_proba from z(L), written into ``output``."""
    if kind == "binary":
        negative = graph.node("Sigmoid", [graph.node("Neg", [Z])])
        return graph.node("Concat", [negative, graph.node("Sigmoid", [Z])], output, axis=1)
    if kind == "multilabel":
        return graph.node("Sigmoid", [Z], output)
    if out_activation == "softmax":
        return graph.node("Softmax", [Z], output, axis=1)
    return graph.node("Softmax", [_log_sigmoid(graph, Z)], output, axis=1)


def _label_constants(classes):
    """The classes as an ONNX constant's (values, proto dtype): int64 or strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64), onnx_proto.TensorProto.INT64
    if classes.dtype.kind == "f":  # scikit-learn accepts only integral float classes
        return classes.astype(np.int64), onnx_proto.TensorProto.INT64
    return np.array([str(label) for label in classes], dtype=object), onnx_proto.TensorProto.STRING


def _labels(graph, proba, kind, classes, output):
    """The rows of predict: decided from the probabilities, as ``predict`` decides."""
    if kind == "multilabel":
        half = graph.constant(np.full(1, 0.5))
        above = graph.node("Greater", [proba, half])
        return graph.node("Cast", [above], output, to=onnx_proto.TensorProto.INT64)
    values, proto_dtype = _label_constants(classes)
    # ArgMax takes the first of tied maxima, as numpy.argmax does.
    index = graph.node("ArgMax", [proba], axis=1, keepdims=0)
    return graph.node("Gather", [graph.constant(values, proto_dtype), index], output, axis=0)


def convert_classifier(scope, operator, container):
    """skl2onnx converter of a fitted BackpropClassifier: outputs label and probabilities."""
    estimator = operator.raw_operator
    graph = _Graph(scope, container, _proto_dtype(operator))
    if (
        graph.dtype == np.float64
        and scope.get_options(estimator, {"zipmap": True})["zipmap"] is True
    ):
        raise ValueError(
            "ONNX's ZipMap takes float32 probabilities only: convert float64 inputs with "
            "options={BackpropClassifier: {'zipmap': False}} (sklearn_bp.onnx.to_onnx's "
            "default) or zipmap='columns'."
        )
    input_proto_dtype = guess_proto_type(operator.inputs[0].type)
    Z = _decision_output(graph, estimator, operator.inputs[0].full_name, input_proto_dtype)
    kind = estimator.target_type_
    label, probabilities = operator.outputs[0].full_name, operator.outputs[1].full_name
    proba = _probabilities(graph, Z, kind, estimator.out_activation_, probabilities)
    _labels(graph, proba, kind, get_label_classes(scope, estimator), label)


def convert_regressor(scope, operator, container):
    """skl2onnx converter of a fitted BackpropRegressor: outputs h, one column per target: z(L)
    for identity outputs, exp(z(L)) with z(L) capped as ``predict`` caps it for log links."""
    estimator = operator.raw_operator
    graph = _Graph(scope, container, _proto_dtype(operator))
    input_proto_dtype = guess_proto_type(operator.inputs[0].type)
    Z = _decision_output(graph, estimator, operator.inputs[0].full_name, input_proto_dtype)
    if estimator.out_activation_ in LOG_LINK_OUTPUTS:
        bound = float(np.log(np.finfo(graph.dtype).max)) - LOG_LINK_MARGIN
        Z = graph.node("Max", [Z, graph.constant([-bound])])
        Z = graph.node("Min", [Z, graph.constant([bound])])
        Z = graph.node("Exp", [Z])
    graph.node("Identity", [Z], operator.outputs[0].full_name)


# The regressor's outputs whose inverse link is exp (``_losses.LogLink``).
LOG_LINK_OUTPUTS = ("poisson", "gamma")


def _tensor_type(operator):
    if _proto_dtype(operator) == onnx_proto.TensorProto.DOUBLE:
        return DoubleTensorType
    return FloatTensorType


def _check_input(operator, outputs):
    if len(operator.inputs) != 1 or len(operator.outputs) != outputs:
        raise RuntimeError(
            f"{operator.type} takes 1 input and gives {outputs} outputs, got "
            f"{len(operator.inputs)} inputs and {len(operator.outputs)} outputs."
        )
    allowed = (FloatTensorType, DoubleTensorType, Int64TensorType)
    if not isinstance(operator.inputs[0].type, allowed):
        raise TypeError(
            f"{operator.type} takes a float, double or int64 tensor, got "
            f"{type(operator.inputs[0].type).__name__}."
        )


def calculate_classifier_output_shapes(operator):
    """Shapes of a BackpropClassifier's outputs: label (N,) or (N, n_labels), probabilities."""
    _check_input(operator, 2)
    estimator = operator.raw_operator
    n_rows = operator.inputs[0].get_first_dimension()
    n_classes = len(estimator.classes_)
    classes = get_label_classes(operator.scope_inst, estimator)
    if estimator.target_type_ == "multilabel":
        operator.outputs[0].type = Int64TensorType([n_rows, n_classes])
    elif _label_constants(classes)[1] == onnx_proto.TensorProto.STRING:
        operator.outputs[0].type = StringTensorType([n_rows])
    else:
        operator.outputs[0].type = Int64TensorType([n_rows])
    operator.outputs[1].type = _tensor_type(operator)([n_rows, n_classes])


def calculate_regressor_output_shapes(operator):
    """Shape of a BackpropRegressor's output: (N, n_outputs)."""
    _check_input(operator, 1)
    n_rows = operator.inputs[0].get_first_dimension()
    n_outputs = operator.raw_operator.n_outputs_
    operator.outputs[0].type = _tensor_type(operator)([n_rows, n_outputs])


update_registered_converter(
    BackpropClassifier,
    CLASSIFIER_ALIAS,
    calculate_classifier_output_shapes,
    convert_classifier,
    # With the zipmap option, skl2onnx registers its classifier parser: label and probabilities,
    # then a ZipMap unless zipmap=False.
    options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
)
update_registered_converter(
    BackpropRegressor, REGRESSOR_ALIAS, calculate_regressor_output_shapes, convert_regressor
)


def to_onnx(model, X, *, options=None, target_opset=None, name=None):
    """Convert a fitted estimator or pipeline to ONNX, classifiers without ZipMap.

    ``skl2onnx.to_onnx`` with the input's name ``"X"`` and type taken from ``X`` (float32
    or float64; other dtypes are converted as float32), and ``zipmap=False`` for every
    :class:`~sklearn_bp.BackpropClassifier`, so that onnxruntime returns the labels and a
    plain array of probabilities.

    Parameters
    ----------
    model : estimator or Pipeline
        A fitted BackpropClassifier or BackpropRegressor, or a pipeline that holds one, with
        steps skl2onnx can convert.

    X : array-like of shape (n_samples, n_features)
        Rows like those the graph will see; only their dtype and number of columns are used.

    options : dict or None, default=None
        The options of skl2onnx's converters (keys: a class or ``id(estimator)``), e.g.
        ``{BackpropClassifier: {"zipmap": True}}``; they override the default above.

    target_opset : int or None, default=None
        The ONNX opset; None: the newest skl2onnx supports.

    name : str or None, default=None
        The name of the ONNX graph.

    Returns
    -------
    onx : onnx.ModelProto
        The model; ``onx.SerializeToString()`` is what an ONNX runtime loads, and
        ``onnx.save(onx, "model.onnx")`` writes it.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_bp import BackpropClassifier
    >>> from sklearn_bp.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> clf = BackpropClassifier(hidden_layer_sizes=(5,), random_state=0).fit(X, y)
    >>> onx = to_onnx(clf, X[:1])
    >>> session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    >>> label, proba = session.run(None, {"X": X[:3]})
    >>> label.tolist()
    [0, 0, 0]
    >>> bool(np.abs(proba - clf.predict_proba(X[:3])).max() < 1e-5)
    True
    """
    X = np.asarray(X)
    dtype = np.float64 if X.dtype == np.float64 else np.float32
    tensor_type = DoubleTensorType if dtype == np.float64 else FloatTensorType
    initial_types = [("X", tensor_type([None, X.shape[1]]))]
    options = {BackpropClassifier: {"zipmap": False}, **(options or {})}
    return _skl2onnx_to_onnx(
        model,
        initial_types=initial_types,
        options=options,
        target_opset=target_opset,
        name=name,
    )
