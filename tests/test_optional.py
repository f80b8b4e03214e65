"""The messages for optional packages that are not installed: every missing package named in one
message, with a pip command that works however sklearn-bp was installed (it is on no index)."""

import sys

import pytest
from sklearn.datasets import load_iris

from sklearn_bp import BackpropClassifier, load_model, save_model
from sklearn_bp._optional import missing_message, missing_packages


@pytest.mark.parametrize(
    ("packages", "message"),
    [
        (["skops"], "Reading needs skops, which is not installed: pip install skops"),
        (
            ["pandas", "skops"],
            "Reading needs pandas and skops, which are not installed: pip install pandas skops",
        ),
        (
            ["skops", "pandas", "rich", "pandas"],
            "Reading needs skops, pandas and rich, which are not installed: "
            "pip install skops pandas rich",
        ),
    ],
)
def test_missing_message_names_every_package_in_one_command(packages, message):
    assert missing_message("Reading", packages) == message


def test_missing_packages_are_those_that_do_not_import(monkeypatch):
    monkeypatch.setitem(sys.modules, "skops", None)
    assert missing_packages(["numpy", "skops", "no_such_package_for_sklearn_bp"]) == [
        "skops",
        "no_such_package_for_sklearn_bp",
    ]


@pytest.fixture
def fitted():
    X, y = load_iris(return_X_y=True)
    return BackpropClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, y)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("use", [save_model, load_model])
def test_skops_files_without_skops_say_how_to_install_it(use, fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.skops"
    save_model(fitted, path)
    monkeypatch.setitem(sys.modules, "skops", None)
    monkeypatch.setitem(sys.modules, "skops.io", None)
    arguments = (fitted, path) if use is save_model else (path,)
    with pytest.raises(
        ImportError,
        match=r"^Saving and loading \.skops files needs skops, which is not installed: "
        r"pip install skops$",
    ):
        use(*arguments)


def test_dask_fits_without_distributed_say_how_to_install_it(monkeypatch):
    da = pytest.importorskip("dask.array")
    X, y = load_iris(return_X_y=True)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(
        ImportError,
        match=r"^Fitting on dask collections needs distributed, which is not installed: "
        r"pip install distributed$",
    ):
        BackpropClassifier(max_iter=5).fit(da.from_array(X, chunks=50), da.from_array(y, 50))
