"""Saving and loading: skops without trusting more than our own types, pickle only when trusted,
the same predictions after every round trip, and a warning across versions."""

import os
import pickle
import re
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_bp
from sklearn_bp import (
    TRUSTED_TYPES,
    BackpropClassifier,
    BackpropRegressor,
    InconsistentVersionWarning,
    load_model,
    save_model,
)

from .support import tampered_skops

sio = pytest.importorskip("skops.io")

try:  # scikit-learn 1.9 and later
    from sklearn.callback import ProgressBar
except ImportError:
    ProgressBar = None

needs_callbacks = pytest.mark.skipif(
    ProgressBar is None, reason="scikit-learn's callbacks (sklearn.callback) need scikit-learn 1.9"
)


def _fitted(kind):
    X, y = load_iris(return_X_y=True)
    if kind == "binary-strings":
        return BackpropClassifier(hidden_layer_sizes=(4,), random_state=0).fit(
            X, np.where(y == 0, "setosa", "other")
        ), X
    if kind == "multiclass-pipeline":
        model = make_pipeline(
            StandardScaler(), BackpropClassifier(hidden_layer_sizes=(5, 3), random_state=0)
        )
        return model.fit(X, y), X
    if kind == "multilabel-early-stopping":
        Y = np.column_stack([y == 0, y == 2, X[:, 0] > 6]).astype(int)
        model = BackpropClassifier(
            hidden_layer_sizes=(6,), early_stopping=True, activation="tanh", random_state=0
        )
        return model.fit(X, Y), X
    X, y = load_diabetes(return_X_y=True)
    return BackpropRegressor(hidden_layer_sizes=(4,), alpha=10.0, random_state=0).fit(
        X, y / y.std()
    ), X


def _outputs(model, X):
    estimator = model[-1] if hasattr(model, "steps") else model
    if isinstance(estimator, BackpropClassifier):
        return model.predict_proba(X), model.predict(X)
    return (model.predict(X),)


KINDS = ["binary-strings", "multiclass-pipeline", "multilabel-early-stopping", "regressor"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
def test_round_trip_gives_identical_predictions(kind, suffix, tmp_path):
    model, X = _fitted(kind)
    path = save_model(model, tmp_path / f"model{suffix}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: no warning
        loaded = load_model(path, trust_pickle=suffix != ".skops")
    for before, after in zip(_outputs(model, X), _outputs(loaded, X)):
        np.testing.assert_array_equal(after, before)
        assert after.dtype == before.dtype


@pytest.mark.parametrize("kind", KINDS)
def test_skops_needs_no_type_trusted_but_the_estimators_own(kind):
    model, _ = _fitted(kind)
    estimator = model[-1] if hasattr(model, "steps") else model
    untrusted = sio.get_untrusted_types(data=sio.dumps(model))
    assert untrusted == [f"{type(estimator).__module__}.{type(estimator).__name__}"]
    assert set(untrusted) <= set(TRUSTED_TYPES)


def test_trusted_types_name_the_estimators():
    assert TRUSTED_TYPES == tuple(
        f"{cls.__module__}.{cls.__name__}" for cls in (BackpropClassifier, BackpropRegressor)
    )


def _refusal(path, types):
    return (
        f"Refusing to load {str(path)!r}: it names types that are not trusted: {', '.join(types)}. "
        f"load_model trusts only sklearn-bp's estimators and the types that skops trusts by "
        f"default, which are scikit-learn's estimators and some of their parts, not every type "
        f"of scikit-learn. If you trust the file's source, load it with skops.io.load(path, "
        f"trusted=[...]) naming these types."
    )


@pytest.mark.parametrize(
    ("module", "name"), [("os", "system"), ("sklearn_bp._network", "Network"), ("builtins", "eval")]
)
def test_skops_file_with_a_tampered_type_is_refused(module, name, tmp_path):
    model, _ = _fitted("binary-strings")
    path = tmp_path / "tampered.skops"
    path.write_bytes(tampered_skops(sio.dumps(model), module, name))
    with pytest.raises(ValueError, match=f"^{re.escape(_refusal(path, [f'{module}.{name}']))}$"):
        load_model(path)


def _with_progress_bar(in_pipeline=False):
    X, y = load_iris(return_X_y=True)
    model = BackpropClassifier(hidden_layer_sizes=(4,), alpha=1.0, random_state=0)
    if in_pipeline:  # set on the pipeline, which propagates them to its steps
        model = make_pipeline(StandardScaler(), model)
    return model.set_callbacks(ProgressBar()).fit(X, y), X, y


@needs_callbacks
def test_refusal_of_a_scikit_learn_type_is_true(tmp_path):
    # skops itself keeps the callbacks, and trusts no callback of scikit-learn's.
    model, _, _ = _with_progress_bar()
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(model))
    refusal = _refusal(path, ["sklearn.callback._progressbar.ProgressBar"])
    with pytest.raises(ValueError, match=f"^{re.escape(refusal)}$"):
        load_model(path)
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_bp", "info", "model.skops"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 1
    assert _refusal("model.skops", ["sklearn.callback._progressbar.ProgressBar"]) in " ".join(
        completed.stderr.split()
    )


@needs_callbacks
@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
@pytest.mark.parametrize("in_pipeline", [False, True], ids=["estimator", "pipeline"])
def test_callbacks_are_not_saved(in_pipeline, suffix, tmp_path):
    model, X, y = _with_progress_bar(in_pipeline)
    callbacks = model._skl_callbacks
    path = save_model(model, tmp_path / f"model{suffix}")
    assert model._skl_callbacks is callbacks  # the model saved keeps them
    loaded = load_model(path, trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    estimators = [loaded, *([step for _, step in loaded.steps] if in_pipeline else [])]
    assert not any(hasattr(estimator, "_skl_callbacks") for estimator in estimators)
    loaded.set_callbacks(ProgressBar())
    np.testing.assert_array_equal(loaded.fit(X, y).predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("suffix", [".pkl", ".joblib", ".skops.bak"])
def test_pickle_is_loaded_only_when_trusted(suffix, tmp_path):
    model, X = _fitted("binary-strings")
    path = tmp_path / f"model{suffix}"
    path.write_bytes(pickle.dumps(model))
    with pytest.raises(ValueError, match="is not a skops file: it is a pickle or joblib file"):
        load_model(path)
    np.testing.assert_array_equal(load_model(path, trust_pickle=True).predict(X), model.predict(X))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_of_every_protocol_is_loaded_only_when_trusted(protocol, tmp_path):
    # Protocols 0 and 1 begin with no header, unlike 2 and later.
    model, X = _fitted("binary-strings")
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model, protocol=protocol))
    with pytest.raises(ValueError, match="is not a skops file: it is a pickle or joblib file"):
        load_model(path)
    loaded = load_model(path, trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "content",
    [
        b"not a model\n",
        b"",
        b"c,y\n1,2\n",
        b"(lp0\nI1\na",
        b"T\xff\xff\xff\x7f",
        b"\x8e" + bytes(8),
    ],
    ids=["text", "empty", "csv", "truncated-pickle", "huge-string", "huge-bytes"],
)
@pytest.mark.parametrize("trust_pickle", [False, True])
def test_a_file_neither_skops_nor_pickle_is_no_model(content, trust_pickle, tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    message = "is not a model file: neither a skops file nor a pickle or joblib file"
    with pytest.raises(ValueError, match=message):
        load_model(path, trust_pickle=trust_pickle)


def test_skops_file_is_recognized_whatever_its_name(tmp_path):
    model, X = _fitted("binary-strings")
    path = tmp_path / "model.bin"
    path.write_bytes(sio.dumps(model))
    np.testing.assert_array_equal(load_model(path).predict(X), model.predict(X))


def test_load_and_save_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file at"):
        load_model(tmp_path / "missing.skops")
    model, _ = _fitted("binary-strings")
    with pytest.raises(ValueError, match=r"Cannot tell the format of .*model\.txt"):
        save_model(model, tmp_path / "model.txt")
    assert not (tmp_path / "model.txt").exists()


def test_a_failed_save_leaves_the_existing_file_as_it_was(tmp_path):
    model, _ = _fitted("binary-strings")
    path = save_model(model, tmp_path / "model.pkl")
    before = path.read_bytes()
    model.set_params(callback=lambda *args: None)  # a lambda cannot be pickled
    with pytest.raises((pickle.PicklingError, AttributeError)):
        save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]  # no temporary left


posix_modes = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes and umask")


@posix_modes
@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=oct)
def test_a_new_file_gets_the_mode_of_a_plain_open(umask, suffix, tmp_path):
    model, _ = _fitted("binary-strings")
    previous = os.umask(umask)
    try:
        path = save_model(model, tmp_path / f"model{suffix}")
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    assert os.stat(path).st_mode == os.stat(tmp_path / "plain").st_mode


@posix_modes
@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o444], ids=oct)
def test_an_overwritten_file_keeps_its_mode(mode, suffix, tmp_path):
    model, X = _fitted("binary-strings")
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"an older model")
    path.chmod(mode)
    save_model(model, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    loaded = load_model(path, trust_pickle=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
def test_a_failed_save_names_the_path_given(suffix, tmp_path):
    model, _ = _fitted("binary-strings")
    missing = tmp_path / "nofolder" / f"model{suffix}"
    with pytest.raises(
        FileNotFoundError, match=rf"No such file or directory: {re.escape(repr(str(missing)))}$"
    ) as error:
        save_model(model, missing)
    assert error.value.filename == str(missing)
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    with pytest.raises(OSError, match=rf"{re.escape(repr(str(folder)))}$") as error:
        save_model(model, folder)
    assert error.value.filename == str(folder)
    assert list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary left


def test_fitted_state_records_the_versions():
    model, _ = _fitted("regressor")
    versions = model.library_versions_
    assert versions["sklearn-bp"] == sklearn_bp.__version__
    assert versions["numpy"] == np.__version__
    assert set(versions) == {"sklearn-bp", "numpy", "scipy", "scikit-learn", "python"}


@pytest.mark.parametrize("loader", ["pickle", "skops"])
def test_loading_from_another_version_warns(loader, monkeypatch):
    model, X = _fitted("binary-strings")
    model._versions = {**model.library_versions_, "sklearn-bp": "0.0.1"}  # as an old fit's
    data = pickle.dumps(model) if loader == "pickle" else sio.dumps(model)
    with pytest.warns(InconsistentVersionWarning, match="fitted with sklearn-bp 0.0.1 into") as w:
        loaded = pickle.loads(data) if loader == "pickle" else sio.loads(data, TRUSTED_TYPES)
    warning = w[0].message
    assert (warning.original_version, warning.current_version) == ("0.0.1", sklearn_bp.__version__)
    assert warning.estimator_name == "BackpropClassifier"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_unfitted_estimator_loads_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(BackpropClassifier(alpha=3.0)))
    assert loaded.alpha == 3.0


def test_state_of_0_1_with_the_network_object_still_predicts():
    # sklearn-bp 0.1 kept the network's layout object in the fitted state and no versions.
    from sklearn_bp._network import Network

    model, X = _fitted("multilabel-early-stopping")
    state = model.__getstate__()
    sizes = [X.shape[1]] + [coef.shape[1] for coef in model.coefs_]
    state["_network"] = Network(sizes, state.pop("_activation"))
    del state["_versions"]
    old = BackpropClassifier.__new__(BackpropClassifier)
    with pytest.warns(InconsistentVersionWarning, match="fitted with sklearn-bp before 0.2.0"):
        old.__setstate__(state)
    np.testing.assert_array_equal(old.predict_proba(X), model.predict_proba(X))
    assert "_network" not in vars(old)
