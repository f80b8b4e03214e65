"""The commands of ``sklearn-bp``: fit, predict, info, gradcheck, demo and export.

Each ``command_*`` takes the parsed arguments and returns the exit status; a mistake of the user
is raised as a :class:`~sklearn_bp._cli._errors.UserError`. The commands read their data with
``_tables``, their models with ``_models``, and show a fit's progress with ``_progress``.
"""

import contextlib
import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .._base import check_hyperparameters
from .._classifier import BackpropClassifier
from .._gradient_check import gradient_check
from .._optimize import method_spec
from .._persistence import FORMATS, library_versions, save_model
from .._regressor import BackpropRegressor
from .._version import __version__
from ._errors import PROGRAM, UserError, is_stdin, one_line, require, shown
from ._models import check_model_file, final_estimator, model_packages, read_model
from ._progress import Progress
from ._tables import data_packages, listed, read_prediction_data, read_training_data

# gradient_check's answer when backpropagation is right is about 1e-9 or smaller; a wrong
# gradient gives 1e-2 and more. The command fails above this.
GRADCHECK_TOLERANCE = 1e-7

# fit refuses to learn as classes a numeric target with more than MANY_CLASSES distinct values
# and fewer than ROWS_PER_CLASS rows per value: each class would have a row or two to learn
# from (diabetes: 214 values in 442 rows, a held-out accuracy of 0).
MANY_CLASSES = 20
ROWS_PER_CLASS = 5

# The seed of the command line when --random-state is not given.
DEFAULT_SEED = 0


# The estimators' defaults, for the help texts (both estimators share them).
DEFAULTS = BackpropClassifier().get_params()


def _estimator(args):
    """The estimator the options of ``fit`` and ``gradcheck`` describe."""
    for option, value in (
        ("--out-activation", args.out_activation),
        ("--class-weight", getattr(args, "class_weight", None)),
    ):
        if args.regressor and value is not None:
            raise UserError(
                f"{option} applies to classifiers; a BackpropRegressor's outputs follow --loss "
                f"and are unweighted."
            )
    if not args.regressor and getattr(args, "loss", None) is not None:
        raise UserError(
            "--loss applies to regressors (with --regressor); a classifier's loss follows "
            "--out-activation."
        )
    Estimator = BackpropRegressor if args.regressor else BackpropClassifier
    random_state = args.random_state
    if random_state is None and method_spec(args.method or DEFAULTS["method"]).reproducible:
        # A seed the user did not ask for: fits repeat exactly. A method that cannot repeat a
        # fit gets none, and so no warning that the seed cannot keep its promise.
        random_state = DEFAULT_SEED
    params = {
        "hidden_layer_sizes": args.hidden,
        "activation": args.activation,
        "out_activation": args.out_activation,
        "loss": getattr(args, "loss", None),
        "alpha": args.alpha,
        "method": args.method,
        "max_iter": getattr(args, "max_iter", None),
        "tol": getattr(args, "tol", None),
        "early_stopping": getattr(args, "early_stopping", None) or None,
        "random_state": random_state,
    }
    estimator = Estimator(**{name: value for name, value in params.items() if value is not None})
    # Bad values are refused now, with scikit-learn's message, before any data is read.
    check_hyperparameters(estimator)
    return estimator


def _model(args, estimator, sparse_input):
    """The estimator, scaled: features by a StandardScaler, and a regressor's targets too."""
    if args.no_scale:
        return estimator
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Centering would make a sparse matrix dense: scale sparse data without it.
    model = make_pipeline(StandardScaler(with_mean=not sparse_input), estimator)
    if args.regressor and getattr(estimator, "loss", "squared_error") == "squared_error":
        # The squared error of targets in the hundreds dwarfs the penalty and saturates the
        # hidden units' gradients: learn standardized targets, predict in the original units.
        # Not for the log links: their targets must keep their sign, and exp(z) takes any scale.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return model


def _unscalable(X):
    """The columns of X whose mean or variance overflows float64 in a StandardScaler.

    The scaler itself does not say: it takes an infinite variance for a constant column's and
    divides by 1, or centers by a NaN mean.
    """
    from scipy import sparse
    from sklearn.preprocessing import StandardScaler

    with np.errstate(over="ignore", invalid="ignore"):  # the overflow is what is looked for
        scaler = StandardScaler(with_mean=not sparse.issparse(X)).fit(X)
    return np.flatnonzero(~(np.isfinite(scaler.mean_) & np.isfinite(scaler.var_))).tolist()


def _check_scalable(X, path):
    """Refuse features too large for a StandardScaler, which would turn them into NaN."""
    columns = _unscalable(X)
    if not columns:
        return
    if hasattr(X, "columns"):
        names = [X.columns[j] for j in columns]
        where, leave_out = f"Column(s) {listed(names)}", f" (--drop {','.join(names)})"
        part = X.iloc[:, columns].to_numpy()
    else:
        where, leave_out = f"Feature column(s) {listed(columns)} (counting from 0)", ""
        part = X[:, columns]
    raise UserError(
        f"{where} of {shown(path)} are too large to scale: values up to "
        f"{float(abs(part).max()):.3g} overflow float64 in their variance. Divide them by a "
        f"power of ten first, leave them out{leave_out}, or fit without scaling (--no-scale)."
    )


def _check_scalable_target(y, target, path):
    """Refuse regression targets too large to standardize."""
    if _unscalable(np.asarray(y, dtype=np.float64).reshape(-1, 1)):
        raise UserError(
            f"The target {target!r} of {shown(path)} is too large to standardize: values up to "
            f"{np.max(np.abs(np.asarray(y, dtype=np.float64))):.3g} overflow float64 in its "
            f"variance. Divide it by a power of ten first, or fit without scaling (--no-scale)."
        )


def _check_classes(y, target, path):
    """Refuse to learn as classes a numeric target that looks like a quantity."""
    values = np.asarray(y)
    if values.dtype.kind not in "iuf":
        return
    distinct = np.unique(values)
    fractions = values.dtype.kind == "f" and not np.array_equal(distinct, np.round(distinct))
    many = distinct.size > MANY_CLASSES and distinct.size * ROWS_PER_CLASS > values.size
    if fractions or many:
        raise UserError(
            f"The target {target!r} of {shown(path)} has {distinct.size} distinct numbers in "
            f"{values.size} rows{', not all whole' if fractions else ''}: a quantity to "
            f"predict rather than classes to tell apart. Pass --regressor."
        )


def _class_weights(weights, y, path):
    """``--class-weight`` with its labels as the classes of y (written as the file does)."""
    if not isinstance(weights, dict):
        return weights
    known = np.unique(np.asarray(y)).tolist()
    classes = {str(label): label for label in known}
    # svmlight's targets are floats: its class 1.0 is also "1", as the file may write it.
    classes.update({f"{label:g}": label for label in known if isinstance(label, float)})
    unknown = [label for label in weights if label not in classes]
    if unknown:
        raise UserError(
            f"--class-weight names {listed(unknown)}, not classes of {shown(path)}; its "
            f"classes are: {', '.join(map(str, known[:20]))}{', ...' if len(known) > 20 else ''}."
        )
    return {classes[label]: weight for label, weight in weights.items()}


def _command_line_advice(text, scaled):
    """A warning's advice in the command line's terms: its options, and no scaling hint after
    the command line has scaled the data."""
    rewrite = "--max-iter (now \\1) or --tol."
    if not scaled:
        rewrite = "--max-iter (now \\1) or --tol, or scale the data (leave out --no-scale)."
    return re.sub(r"max_iter \(now (\d+)\) or tol, or scale the data\.", rewrite, text)


@contextlib.contextmanager
def _advice(scaled):
    """Show the warnings of the block with :func:`_command_line_advice`."""
    show = warnings.showwarning
    with warnings.catch_warnings():

        def show_advice(message, category, filename, lineno, file=None, line=None):
            text = _command_line_advice(str(message), scaled)
            show(text, category, filename, lineno, file, line)

        warnings.showwarning = show_advice
        yield


def command_fit(args):
    output = Path(args.output)
    if output.suffix.lower() not in FORMATS:
        raise UserError(
            f"Cannot tell the format of {str(output)!r} from its suffix: use .skops "
            f"(recommended), .pkl, .pickle or .joblib."
        )
    # Everything missing is named now, in one message, not one package at a time.
    require(f"{PROGRAM} fit", data_packages(args.data) + model_packages(output))
    if not output.parent.is_dir():
        raise UserError(
            f"Cannot write the model to {str(output)!r}: no folder {str(output.parent)!r}."
        )
    if not os.access(output.parent, os.W_OK):
        raise UserError(f"Cannot write the model to {str(output)!r}: the folder is not writable.")
    estimator = _estimator(args)
    X, y, target = read_training_data(
        args.data, args.target, args.index_col, args.features, args.drop
    )
    if args.regressor and not np.issubdtype(np.asarray(y).dtype, np.number):
        raise UserError(f"--regressor needs a numeric target; column {target!r} is not numeric.")
    if not args.regressor:
        _check_classes(y, target, args.data)
        estimator.set_params(class_weight=_class_weights(args.class_weight, y, args.data))
    from scipy import sparse

    model = _model(args, estimator, sparse.issparse(X))
    X_train, y_train, X_test, y_test = X, y, None, None
    if not args.no_score:
        X_train, X_test, y_train, y_test = _split(X, y, args)
    if not args.no_scale:  # what the scalers in the model will be fitted on
        _check_scalable(X_train, args.data)
        if args.regressor:
            _check_scalable_target(y_train, target, args.data)
    progress = Progress(estimator.max_iter, quiet=args.quiet)
    estimator.set_params(callback=progress)
    try:
        with _advice(scaled=not args.no_scale):
            model.fit(X_train, y_train)
    finally:
        progress.close()
        # The model is saved without the progress bar: a callback is code, not data.
        estimator.set_params(callback=None)
    estimator = final_estimator(model)  # the fitted one: a TransformedTargetRegressor clones
    estimator.set_params(callback=None)
    n_rows = X_train.shape[0]
    if X_test is not None:
        name = "R²" if args.regressor else "accuracy"
        print(f"held-out {name} {model.score(X_test, y_test):.4f} ({X_test.shape[0]} rows)")
    save_model(model, output)
    print(
        f"{type(estimator).__name__} fitted on {n_rows} rows in {estimator.n_iter_} iterations "
        f"(J = {estimator.loss_:.6g}), saved to {output}"
    )
    return 0


def _split(X, y, args):
    from sklearn.model_selection import train_test_split

    stratify = None
    if not args.regressor:
        _, counts = np.unique(np.asarray(y).astype(str), return_counts=True)
        if counts.min() >= 2:
            stratify = y
    try:
        return train_test_split(
            X, y, test_size=args.test_size, random_state=args.split_seed, stratify=stratify
        )
    except ValueError as error:
        raise UserError(
            f"Cannot hold out --test-size {args.test_size}: {one_line(error)}"
        ) from None


def command_predict(args):
    # pandas writes the predictions, whatever the data file.
    packages = [
        *model_packages(check_model_file(args.model)),
        "pandas",
        *data_packages(args.data),
    ]
    require(f"{PROGRAM} predict", packages)
    import pandas as pd

    model = read_model(args.model, args.trust_pickle)
    estimator = final_estimator(model)
    X, index = read_prediction_data(args.data, model, args.index_col)
    if args.proba:
        if not isinstance(estimator, BackpropClassifier):
            raise UserError(
                f"--proba needs a classifier; the model is a {type(estimator).__name__}."
            )
        values = model.predict_proba(X)
        columns = [str(label) for label in estimator.classes_]
        if values.shape[1] != len(columns):  # multilabel: one column per label
            columns = [str(i) for i in range(values.shape[1])]
    else:
        values = model.predict(X)
        columns = (
            ["prediction"]
            if values.ndim == 1
            else [f"prediction_{i}" for i in range(values.shape[1])]
        )
    table = pd.DataFrame(np.asarray(values).reshape(X.shape[0], -1), columns=columns, index=index)
    if args.output is None:
        table.to_csv(sys.stdout)
    else:
        table.to_csv(args.output)
        print(f"{X.shape[0]} predictions written to {args.output}", file=sys.stderr)
    return 0


def command_info(args):
    require(f"{PROGRAM} info", model_packages(check_model_file(args.model)))
    model = read_model(args.model, args.trust_pickle)
    estimator = final_estimator(model)
    sizes = [estimator.n_features_in_] + [coef.shape[1] for coef in estimator.coefs_]
    # Sizes from shapes: a model fitted on a device holds tensors, whose .size is a method.
    n_params = sum(
        math.prod(coef.shape) + math.prod(b.shape)
        for coef, b in zip(estimator.coefs_, estimator.intercepts_)
    )
    rows = [("model", type(estimator).__name__)]
    wrapper, inner = None, model
    if hasattr(model, "regressor_"):  # fit --regressor: standardized targets
        wrapper, inner = type(model).__name__, model.regressor_
    if hasattr(inner, "steps"):
        steps = " → ".join(type(step).__name__ for _, step in inner.steps)
        rows.append(("pipeline", f"{wrapper}({steps})" if wrapper else steps))
    elif wrapper:
        rows.append(("pipeline", f"{wrapper}({type(inner).__name__})"))
    rows += [
        ("layers", " → ".join(map(str, sizes))),
        ("activation", f"{estimator.activation_} (hidden), {estimator.out_activation_} (output)"),
        ("parameters", f"{n_params:,}"),
    ]
    if isinstance(estimator, BackpropClassifier):
        classes = [str(label) for label in estimator.classes_]
        listing = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
        if estimator.target_type_ == "multilabel":
            rows.append(("labels", f"{len(classes)} (multilabel), columns {listing}"))
        else:
            rows.append(("classes", f"{len(classes)}: {listing}"))
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        listing = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        rows.append(("features", listing))
    rows += [
        ("alpha", _alpha_text(estimator)),
        ("method", f"{estimator.method}"),
        (
            "loss",
            f"J = {estimator.loss_:.6g}" + (" (on standardized targets)" if wrapper else ""),
        ),
        ("iterations", f"{estimator.n_iter_}"),
    ]
    seconds = estimator.fit_time_
    rows.append(("training time", "not recorded" if seconds is None else f"{seconds:.2f} s"))
    trained = estimator.library_versions_
    now = library_versions()
    for library in now:
        then = trained.get(library, "not recorded")
        note = "" if then == now[library] else f" (now {now[library]})"
        rows.append((f"trained with {library}", f"{then}{note}"))
    width = max(len(key) for key, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _alpha_text(estimator):
    """The alpha of the info table: the number given, or the evidence's choice and findings."""
    if not (isinstance(estimator.alpha, str) and estimator.alpha == "evidence"):
        return f"{estimator.alpha:g}"
    chosen = ", ".join(f"{value:.4g}" for value in estimator.alpha_)
    gamma = estimator.effective_n_parameters_
    text = f"evidence: {chosen} (per layer), {gamma:.1f} effective parameters"
    if estimator.noise_variance_ is not None:
        text += f", noise variance {estimator.noise_variance_:.4g}"
    return text


def command_gradcheck(args):
    estimator = _estimator(args)
    if args.data is None:
        from sklearn.datasets import load_diabetes, load_digits

        X, y = (load_diabetes if args.regressor else load_digits)(return_X_y=True)
        X = X[:, :: max(1, X.shape[1] // 8)]
        where = "the diabetes data" if args.regressor else "the digits data"
    else:
        require(f"{PROGRAM} gradcheck", data_packages(args.data))
        X, y, target = read_training_data(
            args.data, args.target, args.index_col, args.features, args.drop
        )
        where = "standard input" if is_stdin(args.data) else str(args.data)
    from sklearn.preprocessing import StandardScaler

    # Rows spread evenly over the file: files are often sorted by their target.
    rows = np.unique(np.linspace(0, X.shape[0] - 1, min(args.rows, X.shape[0])).astype(int))
    X = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    y = np.asarray(y)[rows]
    if args.data is not None:  # the bundled data sets scale well
        _check_scalable(X, args.data)
        if args.regressor:
            _check_scalable_target(y, target, args.data)
    X = StandardScaler(with_mean=not hasattr(X, "tocsr")).fit_transform(X)
    rows = rows.size
    if args.regressor:
        y = (y - y.mean()) / (y.std() or 1.0)
    difference = gradient_check(estimator, X, y)
    ok = difference < GRADCHECK_TOLERANCE
    print(
        f"gradient check of {type(estimator).__name__}{tuple(estimator.hidden_layer_sizes)} "
        f"on {rows} rows of {where}: relative difference {difference:.2e} "
        f"({'OK' if ok else 'FAILED'}: backpropagation agrees with central differences when it "
        f"is below {GRADCHECK_TOLERANCE:g})"
    )
    return 0 if ok else 1


def command_demo(args):
    return demo()


def demo():
    """Run the digits demonstration; return the process exit status.

    The demo fits a ``StandardScaler`` + ``BackpropClassifier`` pipeline on three quarters of
    the 8×8 digits, prints the held-out accuracy, the fit time and the number of iterations,
    then checks backpropagation's gradient against central differences on a small network. It
    needs nothing beyond sklearn-bp's own dependencies.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

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


def command_export(args):
    try:  # by its full name: imported again if skl2onnx has been installed since a failure
        import sklearn_bp.onnx as bp_onnx
    except ImportError as error:
        raise UserError(one_line(error)) from None
    model = read_model(args.model, args.trust_pickle)
    final_estimator(model)  # refuses files that hold no fitted sklearn-bp model
    if hasattr(model, "regressor_"):
        raise UserError(
            "Exporting a TransformedTargetRegressor (fit --regressor) is not supported: "
            "skl2onnx has no converter for it."
        )
    dtype = np.float64 if args.float64 else np.float32
    onx = bp_onnx.to_onnx(model, np.zeros((1, model.n_features_in_), dtype=dtype))
    Path(args.output).write_bytes(onx.SerializeToString())

    def shape(value):
        dims = value.type.tensor_type.shape.dim
        # A dimension left open (the number of rows) has neither a value nor a name.
        sizes = [str(dim.dim_value) if dim.HasField("dim_value") else "N" for dim in dims]
        return "(" + ", ".join(sizes) + ")"

    def element(value):
        from onnx import TensorProto

        return TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower()

    print(f"ONNX model written to {args.output}")
    for kind, values in (("input", onx.graph.input), ("output", onx.graph.output)):
        for value in values:
            print(f"{kind:<6}  {value.name}: {element(value)} {shape(value)}")
    return 0
