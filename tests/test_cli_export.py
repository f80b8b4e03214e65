"""``sklearn-bp export``: a saved model written as ONNX, and what it says about the graph."""

import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor, save_model
from sklearn_bp._cli import main

REASON = 'the ONNX export needs skl2onnx, onnx and onnxruntime: pip install ".[onnx]"'
pytest.importorskip("skops", reason="the models are saved as .skops files")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture
def iris_pipeline():
    X, y = load_iris(return_X_y=True)
    clf = BackpropClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0)
    return make_pipeline(StandardScaler(), clf).fit(X, np.array(["a", "b", "c"])[y]), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_export_writes_a_model_onnxruntime_runs(tmp_path, capsys, iris_pipeline, dtype):
    ort = pytest.importorskip("onnxruntime", reason=REASON)
    pytest.importorskip("skl2onnx", reason=REASON)
    pipe, X = iris_pipeline
    save_model(pipe, tmp_path / "model.skops")
    float64 = ["--float64"] if dtype == np.float64 else []
    status = main(
        ["export", str(tmp_path / "model.skops"), "-o", str(tmp_path / "m.onnx"), *float64]
    )
    assert status == 0
    element = "double" if dtype == np.float64 else "float"
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"input   X: {element} (N, 4)",
        "output  label: string (N)",
        f"output  probabilities: {element} (N, 3)",
    ]
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {"X": X.astype(dtype)})
    assert_array_equal(label, pipe.predict(X))
    tolerance = 1e-5 if dtype == np.float32 else 1e-10
    assert_allclose(proba, pipe.predict_proba(X.astype(dtype)), rtol=0, atol=tolerance)


def test_export_without_skl2onnx_says_what_to_install(tmp_path, capsys, monkeypatch, iris_pipeline):
    save_model(iris_pipeline[0], tmp_path / "model.skops")
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    monkeypatch.delitem(sys.modules, "sklearn_bp.onnx", raising=False)
    status = main(["export", str(tmp_path / "model.skops"), "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert "needs skl2onnx, which is not installed: pip install skl2onnx." in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "m.onnx").exists()


def test_export_refuses_a_transformed_target_regressor(tmp_path, capsys):
    pytest.importorskip("skl2onnx", reason=REASON)
    X, y = load_iris(return_X_y=True)
    reg = BackpropRegressor(hidden_layer_sizes=(3,), max_iter=20, random_state=0)
    model = TransformedTargetRegressor(regressor=reg, transformer=StandardScaler()).fit(X, y)
    save_model(model, tmp_path / "model.skops")
    status = main(["export", str(tmp_path / "model.skops"), "-o", str(tmp_path / "m.onnx")])
    assert status == 1
    assert "TransformedTargetRegressor (fit --regressor) is not supported" in (
        capsys.readouterr().err
    )
