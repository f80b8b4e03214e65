"""The command line, run as a subprocess end to end: fit, predict, info, gradcheck, the user's
mistakes with their messages and exit status, and the progress display in a terminal and a pipe."""

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import dump_svmlight_file, load_diabetes, load_iris
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_bp import BackpropClassifier, BackpropRegressor, load_model, save_model
from sklearn_bp._cli import exact_floats, main

from .support import tampered_skops

pd = pytest.importorskip("pandas")
pytest.importorskip("skops")
pytest.importorskip("rich")

SPECIES = np.array(["setosa", "versicolor", "virginica"])


def run(*args, cwd, env=None):
    """``python -m sklearn_bp ARGS`` in ``cwd``: (exit status, stdout, stderr)."""
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_bp", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return completed.returncode, completed.stdout, completed.stderr


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with iris.csv (string labels, an id column) and diabetes.csv."""
    where = tmp_path_factory.mktemp("cli")
    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    frame.insert(0, "id", [f"flower{i}" for i in range(len(frame))])
    frame["species"] = SPECIES[y]
    frame.to_csv(where / "iris.csv", index=False)
    # New rows to predict: another order of columns, no target, rows named by id.
    frame.drop(columns="species").iloc[::-7][
        ["id", "petal_width", "petal_length", "sepal_width", "sepal_length"]
    ].to_csv(where / "new.csv", index=False)
    Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
    Xd.assign(progression=yd).to_csv(where / "diabetes.csv", index=False)
    return where


@pytest.fixture(scope="module")
def iris_model(folder):
    status, out, err = run(
        "fit", "iris.csv", "--target", "species", "--index-col", "id", "--hidden", "5",
        "--alpha", "0.5", "-o", "iris.skops", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    return folder / "iris.skops", out, err


def _iris_frame(folder, name="iris.csv"):
    frame = pd.read_csv(folder / name, index_col="id", **exact_floats(pd))
    if name == "new.csv":  # in the columns' order of the training file
        frame = frame[["sepal_length", "sepal_width", "petal_length", "petal_width"]]
    return frame


def test_fit_scores_held_out_rows_as_scikit_learn_does(folder, iris_model):
    path, out, _ = iris_model
    frame = _iris_frame(folder)
    X, y = frame.drop(columns="species"), frame["species"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    model = make_pipeline(
        StandardScaler(),
        BackpropClassifier(hidden_layer_sizes=(5,), alpha=0.5, random_state=0),
    ).fit(X_train, y_train)
    assert f"held-out accuracy {model.score(X_test, y_test):.4f} (38 rows)" in out
    assert f"fitted on 112 rows in {model[-1].n_iter_} iterations" in out
    saved = load_model(path)
    np.testing.assert_array_equal(saved.predict_proba(X), model.predict_proba(X))
    assert saved[-1].callback is None  # the progress display is not saved


def test_predict_writes_probabilities_with_the_input_index(folder, iris_model):
    path, _, _ = iris_model
    status, out, err = run("predict", path, "new.csv", "--index-col", "id", "--proba", cwd=folder)
    assert status == 0, err
    written = pd.read_csv(pd.io.common.StringIO(out), index_col=0, **exact_floats(pd))
    new = _iris_frame(folder, "new.csv")
    assert list(written.index) == list(new.index)
    assert list(written.columns) == list(SPECIES)
    np.testing.assert_allclose(written.to_numpy(), load_model(path).predict_proba(new), rtol=1e-15)


def test_predict_writes_labels_to_a_file(folder, iris_model):
    path, _, _ = iris_model
    status, _, err = run(
        "predict", path, "new.csv", "--index-col", "id", "-o", "labels.csv", cwd=folder
    )
    assert status == 0, err
    new = _iris_frame(folder, "new.csv")
    assert f"{len(new)} predictions written to labels.csv" in err
    written = pd.read_csv(folder / "labels.csv", index_col=0)
    assert written.index.name == "id"
    np.testing.assert_array_equal(written["prediction"], load_model(path).predict(new))


def test_info_describes_the_model(folder, iris_model):
    path, _, _ = iris_model
    status, out, err = run("info", path, cwd=folder)
    assert status == 0, err
    model = load_model(path)
    n_params = sum(W.size + b.size for W, b in zip(model[-1].coefs_, model[-1].intercepts_))
    assert "layers" in out and "4 → 5 → 3" in out
    assert f"parameters                 {n_params}" in out
    assert "classes                    3: setosa, versicolor, virginica" in out
    assert f"iterations                 {model[-1].n_iter_}" in out
    assert "pipeline                   StandardScaler → BackpropClassifier" in out
    assert f"trained with numpy         {np.__version__}\n" in out
    assert "training time" in out


def test_regressor_learns_scaled_targets_and_predicts_in_their_units(folder):
    status, out, err = run(
        "fit", "diabetes.csv", "--target", "progression", "--regressor", "--hidden", "8",
        "--alpha", "1", "--no-score", "-q", "-o", "diabetes.pkl", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    assert "held-out" not in out and "fit: iteration" not in err
    assert "fitted on 442 rows" in out
    frame = pd.read_csv(folder / "diabetes.csv", **exact_floats(pd))
    X, y = frame.drop(columns="progression"), frame["progression"]
    expected = TransformedTargetRegressor(
        regressor=make_pipeline(
            StandardScaler(),
            BackpropRegressor(hidden_layer_sizes=(8,), alpha=1.0, random_state=0),
        ),
        transformer=StandardScaler(),
    ).fit(X, y)
    status, out, err = run("predict", "diabetes.pkl", "diabetes.csv", "--trust-pickle", cwd=folder)
    assert status == 0, err
    predicted = pd.read_csv(pd.io.common.StringIO(out), index_col=0, **exact_floats(pd))
    np.testing.assert_allclose(predicted["prediction"], expected.predict(X), rtol=1e-12)
    assert 100 < predicted["prediction"].mean() < 200  # in the targets' units
    status, out, err = run("info", "diabetes.pkl", "--trust-pickle", cwd=folder)
    assert status == 0, err
    assert "TransformedTargetRegressor(StandardScaler → BackpropRegressor)" in out
    assert "(on standardized targets)" in out


def test_svmlight_files_fit_and_predict(folder):
    X, y = load_iris(return_X_y=True)
    dump_svmlight_file(X, y, str(folder / "iris.svm"))
    status, out, err = run("fit", "iris.svm", "--no-scale", "-q", "-o", "svm.skops", cwd=folder)
    assert status == 0, err
    status, out, err = run("predict", "svm.skops", "iris.svm", cwd=folder)
    assert status == 0, err
    predicted = pd.read_csv(pd.io.common.StringIO(out), index_col=0)["prediction"]
    np.testing.assert_array_equal(predicted, load_model(folder / "svm.skops").predict(X))


def test_parquet_files_keep_their_index(folder, iris_model):
    pytest.importorskip("pyarrow")
    path, _, _ = iris_model
    new = _iris_frame(folder, "new.csv")
    new.to_parquet(folder / "new.parquet")
    status, out, err = run("predict", path, "new.parquet", cwd=folder)
    assert status == 0, err
    written = pd.read_csv(pd.io.common.StringIO(out), index_col=0)
    assert list(written.index) == list(new.index)
    # Naming the stored index is no error.
    assert main(["predict", str(path), str(folder / "new.parquet"), "--index-col", "id"]) == 0


def test_gradcheck_passes_and_prints_the_difference(folder):
    status, out, err = run("gradcheck", "--hidden", "4,3", "--activation", "tanh", cwd=folder)
    assert status == 0, err
    difference = float(out.split("relative difference")[1].split()[0])
    assert difference < 1e-7
    status, out, err = run(
        "gradcheck", "iris.csv", "--target", "species", "--index-col", "id", cwd=folder
    )
    assert status == 0, err
    assert "on 50 rows of iris.csv" in out  # spread over the file: all three classes


def _tampered_skops(folder, iris_model):
    """A copy of the iris model whose skops file claims to hold ``os.system``."""
    data = tampered_skops(iris_model[0].read_bytes(), "os", "system")
    (folder / "tampered.skops").write_bytes(data)
    return "tampered.skops"


USER_ERRORS = [
    (["fit", "missing.csv", "--target", "y", "-o", "m.skops"], 1, "No such file: 'missing.csv'."),
    (
        ["fit", "iris.csv", "--target", "colour", "--index-col", "id", "-o", "m.skops"],
        1,
        "No column 'colour' in 'iris.csv'; its columns are: sepal_length, sepal_width,",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "-o", "m.skops"],
        1,
        "Column(s) 'id' of 'iris.csv' are not numeric",
    ),
    (["fit", "iris.csv", "-o", "m.skops"], 1, "--target COLUMN is required for 'iris.csv'"),
    (
        [
            "fit",
            "iris.csv",
            "--target",
            "species",
            "--index-col",
            "id",
            "--alpha",
            "-1",
            "-o",
            "m.skops",
        ],
        1,
        "The 'alpha' parameter of BackpropClassifier must be a float in the range [0.0, inf). "
        "Got -1.0 instead.",
    ),
    (
        [
            "fit",
            "iris.csv",
            "--target",
            "species",
            "--index-col",
            "id",
            "--max-iter",
            "0",
            "-o",
            "m.skops",
        ],
        1,
        "The 'max_iter' parameter of BackpropClassifier must be an int",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "-o", "model.txt"],
        1,
        "Cannot tell the format of 'model.txt' from its suffix",
    ),
    (["fit", "iris.xlsx", "--target", "y", "-o", "m.skops"], 1, "No such file: 'iris.xlsx'."),
    (
        ["fit", "iris.csv", "--target", "species", "--hidden", "5,x", "-o", "m.skops"],
        2,
        "argument --hidden: expected sizes separated by commas, such as 25,10; got '5,x'",
    ),
    (["predict", "nothing.skops", "new.csv"], 1, "No such file: 'nothing.skops'."),
    (["info", "garbage.skops"], 1, "'garbage.skops' is not a model file"),
    (["info", "model.pkl"], 1, "'model.pkl' is a pickle, which runs code when loaded"),
    (["info", "TAMPERED"], 1, "Refusing to load 'tampered.skops': it names types that are not"),
    (["predict", "MODEL", "diabetes.csv"], 1, "'diabetes.csv' lacks the model's feature column"),
    (["predict", "regressor.skops", "diabetes.csv", "--proba"], 1, "--proba needs a classifier"),
    (["bogus"], 2, "invalid choice: 'bogus'"),
    (["fit", "broken.csv.xz", "--target", "y", "-o", "m.skops"], 1, "Cannot read 'broken.csv.xz'"),
    (
        ["fit", "broken.csv.zip", "--target", "y", "-o", "m.skops"],
        1,
        "Cannot read 'broken.csv.zip'",
    ),
    (
        ["fit", "iris.svm.xz", "-o", "m.skops"],
        1,
        "svmlight files can be compressed with gzip (.gz) or bzip2 (.bz2), not .xz",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--index-col", "id", "-o", "nofolder/m.skops"],
        1,
        "Cannot write the model to 'nofolder/m.skops': no folder 'nofolder'.",
    ),
]


# Each kind of mistake the issue names runs as a program of its own; the rest run in this
# process through the same main(), which is what the program calls (starting Python and
# scikit-learn takes seconds here).
IN_A_PROCESS = {"No such file: 'missing.csv'.", "--proba needs a classifier", "invalid choice"}


@pytest.mark.parametrize(("args", "status", "message"), USER_ERRORS)
def test_user_errors_print_one_line_and_exit_non_zero(
    args, status, message, folder, iris_model, capsys, monkeypatch
):
    (folder / "garbage.skops").write_text("not a model\n")
    for name in ("broken.csv.xz", "broken.csv.zip", "iris.svm.xz"):
        (folder / name).write_bytes(b"this is not compressed\n")
    model = load_model(iris_model[0])
    save_model(model, folder / "model.pkl")
    if "regressor.skops" in args and not (folder / "regressor.skops").exists():
        Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
        save_model(BackpropRegressor(max_iter=5).fit(Xd, yd / yd.std()), folder / "regressor.skops")
    args = [_tampered_skops(folder, iris_model) if arg == "TAMPERED" else arg for arg in args]
    args = [iris_model[0] if arg == "MODEL" else arg for arg in args]
    if message in IN_A_PROCESS or "alpha" in message or "Refusing" in message:
        code, _, err = run(*args, cwd=folder)
    else:
        monkeypatch.chdir(folder)
        code = main(list(map(str, args)))
        err = capsys.readouterr().err
    assert code == status
    assert message in err
    assert "Traceback" not in err
    if status == 1:
        assert err.count("\n") == 1 and err.startswith("sklearn-bp: error: ")


def test_progress_is_plain_lines_when_piped_and_silent_when_quiet(folder):
    args = ["fit", "iris.csv", "--target", "species", "--index-col", "id", "--tol", "0"]
    status, _, err = run(*args, "--max-iter", "30", "-o", "p.skops", cwd=folder)
    assert status == 0
    lines = [line for line in err.splitlines() if line.startswith("fit: ")]
    assert lines[0].startswith("fit: iteration 1/30, loss ")
    assert lines[-1].startswith("fit: iteration 30/30, loss ")
    assert "\x1b[" not in err  # no terminal control codes in a pipe
    # The method's warning, in one line.
    assert "sklearn-bp: warning: L-BFGS-B did not converge after 30 iteration(s)" in err
    status, _, err = run(*args, "--max-iter", "30", "--quiet", "-o", "p.skops", cwd=folder)
    assert status == 0 and "fit: " not in err and "warning: L-BFGS-B" in err


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_ends_the_fit_and_keeps_the_best_parameters(folder):
    import signal

    # Random labels: memorizing them takes L-BFGS-B far longer than the test waits.
    rng = np.random.RandomState(0)
    noise = pd.DataFrame(rng.normal(size=(3000, 20)), columns=[f"x{i}" for i in range(20)])
    noise.assign(label=rng.randint(5, size=3000)).to_csv(folder / "noise.csv", index=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_bp", "fit", "noise.csv", "--target", "label",
         "--hidden", "100", "--tol", "0", "--max-iter", "1000000", "-o", "interrupted.skops"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = process.stderr.readline()
    assert first.startswith("fit: iteration 1/1000000")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "sklearn-bp: warning: The fit was interrupted (KeyboardInterrupt)" in err
    assert "held-out accuracy" in out
    saved = load_model(folder / "interrupted.skops")[-1]
    assert saved.optimize_result_["stopped_by"] == "interrupted"
    assert f"in {saved.n_iter_} iterations" in out


def _run_in_terminal(args, cwd):
    """Run the command line in a pseudo-terminal; return its exit status and what it drew."""
    import pty

    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_bp", *args],
        cwd=cwd,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"},
        close_fds=True,
    )
    os.close(secondary)
    drawn = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the program ended and closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    return process.wait(timeout=60), drawn.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_is_drawn_in_a_terminal(folder):
    status, drawn = _run_in_terminal(
        ["fit", "iris.csv", "--target", "species", "--index-col", "id", "--tol", "0",
         "--max-iter", "40", "-o", "t.skops"],
        folder,
    )  # fmt: skip
    assert status == 0, drawn
    assert "━" in drawn  # rich's bar
    assert "iteration 40/40 loss " in drawn
    assert "\x1b[" in drawn  # drawn with terminal control codes, not as plain lines
    assert "fit: iteration" not in drawn
    assert "held-out accuracy" in drawn


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("sklearn-bp")
    found = shutil.which("sklearn-bp", path=str(script.parent)) or shutil.which("sklearn-bp")
    if found is None:
        pytest.skip("sklearn-bp is not installed as a script in this environment")
    completed = subprocess.run([found, "--help"], capture_output=True, text=True, check=True)
    for command in ("fit", "predict", "info", "gradcheck", "demo"):
        assert command in completed.stdout
