"""Every public docstring passes numpydoc's validation, so the docs cannot drift from the code."""

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

import sklearn_bp  # noqa: E402

# Checks that do not fit scikit-learn style: no "See Also" everywhere, and "Returns" without
# names is fine for properties. Every public docstring has examples (EX01 is checked).
IGNORED = {"GL08", "SA01", "ES01", "RT02", "GL02"}

PUBLIC = [
    "sklearn_bp.BackpropClassifier",
    "sklearn_bp.BackpropClassifier.fit",
    "sklearn_bp.BackpropClassifier.predict",
    "sklearn_bp.BackpropClassifier.predict_proba",
    "sklearn_bp.BackpropClassifier.predict_log_proba",
    "sklearn_bp.BackpropClassifier.decision_function",
    "sklearn_bp.BackpropRegressor",
    "sklearn_bp.BackpropRegressor.fit",
    "sklearn_bp.BackpropRegressor.predict",
    "sklearn_bp.BackpropClassifier.thetas_",
    "sklearn_bp.BackpropRegressor.thetas_",
    "sklearn_bp.gradient_check",
    "sklearn_bp.save_model",
    "sklearn_bp.load_model",
    "sklearn_bp.InconsistentVersionWarning",
]
# The ONNX export is a module of its own, importable only with skl2onnx (the onnx extra).
ONNX_PUBLIC = ["sklearn_bp.onnx.to_onnx", "sklearn_bp.onnx.overflow_limit"]
# Constants have no numpydoc docstring of their own: the module that defines them documents them.
CONSTANTS = {"__version__", "TRUSTED_TYPES"}


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring(name):
    result = numpydoc_validate.validate(name)
    errors = [(code, message) for code, message in result["errors"] if code not in IGNORED]
    assert not errors, f"{name}: {errors}"


@pytest.mark.parametrize("name", ONNX_PUBLIC)
def test_onnx_docstring(name):
    pytest.importorskip("skl2onnx", reason='the ONNX export needs skl2onnx: pip install ".[onnx]"')
    pytest.importorskip("onnxruntime", reason="its examples run onnxruntime")
    test_docstring(name)


def test_every_public_name_is_validated():
    assert {name.rsplit(".", 1)[-1] for name in PUBLIC} >= set(sklearn_bp.__all__) - CONSTANTS
