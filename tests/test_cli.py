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
from sklearn_bp._cli import main
from sklearn_bp._cli._tables import exact_floats

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
        "Column(s) 'id' of 'iris.csv' are not numeric: encode them as numbers first, or leave "
        "them out with --drop id. 'id' looks like the rows' names: pass --index-col id.\n",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--drop", "species", "-o", "m.skops"],
        1,
        "--drop names the target 'species'.\n",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--features", "id,petal_width", "-o", "m.skops"],
        1,
        "Column(s) 'id' of 'iris.csv' are not numeric",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--features", "petal", "-o", "m.skops"],
        1,
        "No column 'petal' in 'iris.csv'; its columns are: id, sepal_length,",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--features", "a,b", "--drop", "c", "-o", "m"],
        2,
        "argument --drop: not allowed with argument --features",
    ),
    (
        ["fit", "iris.csv", "--target", "species", "--drop", "id,,x", "-o", "m.skops"],
        2,
        "argument --drop: expected column names separated by commas; got 'id,,x'",
    ),
    (["fit", "empty.svm", "-o", "m.skops"], 1, "'empty.svm' has no rows.\n"),
    (
        ["fit", "iris.svm", "--index-col", "id", "-o", "m.skops"],
        1,
        "--index-col does not apply to svmlight file 'iris.svm': its features have no names,",
    ),
    (
        ["fit", "diabetes.csv", "--target", "progression", "-o", "m.skops"],
        1,
        "The target 'progression' of 'diabetes.csv' has 214 distinct numbers in 442 rows: a "
        "quantity to predict rather than classes to tell apart. Pass --regressor.\n",
    ),
    (
        ["fit", "half.csv", "--target", "y", "-o", "m.skops"],
        1,
        "The target 'y' of 'half.csv' has 2 distinct numbers in 4 rows, not all whole: a "
        "quantity to predict rather than classes to tell apart. Pass --regressor.\n",
    ),
    (
        ["fit", "IRIS", "--class-weight", "setosa=2,rose=1", "-o", "m.skops"],
        1,
        "--class-weight names 'rose', not classes of 'iris.csv'; its classes are: setosa, "
        "versicolor, virginica.\n",
    ),
    (
        ["fit", "IRIS", "--class-weight", "setosa=-1", "-o", "m.skops"],
        2,
        "argument --class-weight: expected 'balanced' or CLASS=WEIGHT pairs separated by commas",
    ),
    (
        ["fit", "diabetes.csv", "--regressor", "--class-weight", "balanced", "-o", "m.skops"],
        1,
        "--class-weight applies to classifiers; a BackpropRegressor's outputs follow --loss "
        "and are unweighted.\n",
    ),
    (
        ["fit", "diabetes.csv", "--loss", "poisson", "-o", "m.skops"],
        1,
        "--loss applies to regressors (with --regressor);",
    ),
    (
        ["fit", "diabetes.csv", "--regressor", "--loss", "huber", "-o", "m.skops"],
        2,
        "argument --loss: invalid choice: 'huber'",
    ),
    (
        ["fit", "diabetes.csv", "--regressor", "--out-activation", "softmax", "-o", "m.skops"],
        1,
        "--out-activation applies to classifiers;",
    ),
    (
        ["fit", "huge.csv", "--target", "y", "--no-score", "-o", "m.skops"],
        1,
        "Column(s) 'a' of 'huge.csv' are too large to scale: values up to 1e+308 overflow "
        "float64 in their variance. Divide them by a power of ten first, leave them out "
        "(--drop a), or fit without scaling (--no-scale).\n",
    ),
    (
        ["fit", "huge.csv", "--target", "a", "--regressor", "--no-score", "-o", "m.skops"],
        1,
        "The target 'a' of 'huge.csv' is too large to standardize: values up to 1e+308 "
        "overflow float64 in its variance.",
    ),
    (
        ["gradcheck", "huge.csv", "--target", "y"],
        1,
        "Column(s) 'a' of 'huge.csv' are too large to scale",
    ),
    (
        ["fit", "huge.svm", "--no-score", "-o", "m.skops"],
        1,
        "Feature column(s) 0 (counting from 0) of 'huge.svm' are too large to scale: values "
        "up to 1e+308",
    ),
    (
        ["fit", "infinite.csv", "--target", "y", "--no-scale", "-o", "m.skops"],
        1,
        "Column(s) 'b' of 'infinite.csv' have infinite values: replace or drop them first.\n",
    ),
    (
        ["predict", "MODEL", "iris.svm"],
        1,
        "The model was trained on a table: it takes the columns 'sepal_length', 'sepal_width', "
        "'petal_length', 'petal_width' by name, and svmlight file 'iris.svm' has no names. "
        "Predict a CSV, TSV or Parquet file with those columns.\n",
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
        "The 'alpha' parameter of BackpropClassifier must be a float in the range [0.0, inf) "
        "or a str among {'evidence'}. Got -1.0 instead.",
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
    (["info", "-"], 1, "A model is read from a file; - (standard input) is for DATA.\n"),
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
    (folder / "empty.svm").write_text("")
    (folder / "half.csv").write_text("x,y\n1,0.5\n2,1\n3,0.5\n4,1\n")
    # 1e308 and -1e308 are finite, but their squares are not.
    huge = "a,b,y\n1e308,1,0\n-1e308,2,1\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(8))
    (folder / "huge.csv").write_text(huge)
    (folder / "huge.svm").write_text("0 1:1e308 2:1\n1 1:-1e308 2:2\n0 1:1 2:3\n1 1:2 2:4\n")
    (folder / "infinite.csv").write_text("a,b,y\n1,inf,0\n2,1,1\n3,2,0\n4,3,1\n")
    X, y = load_iris(return_X_y=True)
    dump_svmlight_file(X, y, str(folder / "iris.svm"))
    for name in ("broken.csv.xz", "broken.csv.zip", "iris.svm.xz"):
        (folder / name).write_bytes(b"this is not compressed\n")
    model = load_model(iris_model[0])
    save_model(model, folder / "model.pkl")
    if "regressor.skops" in args and not (folder / "regressor.skops").exists():
        Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
        regressor = BackpropRegressor(hidden_layer_sizes=(3,), alpha=1.0, random_state=0)
        save_model(regressor.fit(Xd, yd / yd.std()), folder / "regressor.skops")
    args = [_tampered_skops(folder, iris_model) if arg == "TAMPERED" else arg for arg in args]
    args = [iris_model[0] if arg == "MODEL" else arg for arg in args]
    if "IRIS" in args:
        args[1:2] = ["iris.csv", "--target", "species", "--index-col", "id"]
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
    # The method's warning, in one line, in the command line's terms: the data was scaled.
    assert "sklearn-bp: warning: L-BFGS-B did not converge after 30 iteration(s)" in err
    assert "Increase --max-iter (now 30) or --tol.\n" in err and "scale the data" not in err
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


def test_features_and_drop_choose_the_columns(folder):
    frame = _iris_frame(folder)
    for option, names in (("--features", "petal_width,petal_length"), ("--drop", "sepal_width")):
        status, _, err = run(
            "fit", "iris.csv", "--target", "species", "--index-col", "id", option, names,
            "--no-score", "-q", "-o", "columns.skops", cwd=folder,
        )  # fmt: skip
        assert status == 0, err
        columns = (
            names.split(",")
            if option == "--features"
            else ["sepal_length", "petal_length", "petal_width"]
        )
        expected = make_pipeline(StandardScaler(), BackpropClassifier(random_state=0)).fit(
            frame[columns], frame["species"]
        )
        saved = load_model(folder / "columns.skops")
        assert list(saved.feature_names_in_) == columns
        np.testing.assert_array_equal(
            saved.predict_proba(frame[columns]), expected.predict_proba(frame[columns])
        )


def test_class_weight_and_out_activation_reach_the_classifier(folder):
    status, _, err = run(
        "fit", "iris.csv", "--target", "species", "--index-col", "id", "--hidden", "5",
        "--class-weight", "setosa=5,virginica=0.5", "--out-activation", "softmax",
        "--no-score", "-q", "-o", "weighted.skops", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    frame = _iris_frame(folder)
    X, y = frame.drop(columns="species"), frame["species"]
    expected = make_pipeline(
        StandardScaler(),
        BackpropClassifier(
            hidden_layer_sizes=(5,),
            out_activation="softmax",
            class_weight={"setosa": 5.0, "virginica": 0.5},
            random_state=0,
        ),
    ).fit(X, y)
    saved = load_model(folder / "weighted.skops")
    assert saved[-1].out_activation_ == "softmax"
    np.testing.assert_array_equal(saved.predict_proba(X), expected.predict_proba(X))


def test_class_weight_names_svmlight_classes_as_the_file_writes_them(folder, capsys, monkeypatch):
    X, y = load_iris(return_X_y=True)
    dump_svmlight_file(X, y, str(folder / "iris.svm"))
    monkeypatch.chdir(folder)
    args = ["fit", "iris.svm", "--class-weight", "0=3,2.0=0.5", "--no-score", "-q"]
    assert main([*args, "-o", "svm_weighted.skops"]) == 0, capsys.readouterr().err
    assert load_model(folder / "svm_weighted.skops")[-1].class_weight == {0.0: 3.0, 2.0: 0.5}


def test_a_dash_reads_the_table_from_standard_input(folder, iris_model):
    path, _, _ = iris_model
    completed = subprocess.run(
        [sys.executable, "-m", "sklearn_bp", "predict", str(path), "-", "--index-col", "id"],
        input=(folder / "new.csv").read_text(),
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    written = pd.read_csv(pd.io.common.StringIO(completed.stdout), index_col=0)
    new = _iris_frame(folder, "new.csv")
    assert list(written.index) == list(new.index)
    np.testing.assert_array_equal(written["prediction"], load_model(path).predict(new))


def test_fit_reads_standard_input_and_names_it_in_messages(folder, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", pd.io.common.StringIO("x,y\n1,a\n"))
    assert main(["fit", "-", "--target", "z", "-o", str(folder / "m.skops")]) == 1
    assert capsys.readouterr().err == (
        "sklearn-bp: error: No column 'z' in standard input; its columns are: x, y.\n"
    )


def test_predict_into_a_closed_pipe_ends_quietly(folder, iris_model):
    # The reader has gone before the first line, as ``| head -0`` would.
    process = subprocess.Popen(
        [sys.executable, "-m", "sklearn_bp", "predict", str(iris_model[0]), "iris.csv",
         "--index-col", "id", "--proba"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=300) == 0
    assert err == b""


def test_a_model_without_names_takes_a_table_quietly(folder):
    X, y = load_iris(return_X_y=True)
    dump_svmlight_file(X, y, str(folder / "iris.svm"))
    pd.DataFrame(X, columns=list("abcd")).to_csv(folder / "unnamed.csv", index=False)
    status, _, err = run("fit", "iris.svm", "--no-score", "-q", "-o", "unnamed.skops", cwd=folder)
    assert status == 0, err
    status, out, err = run("predict", "unnamed.skops", "unnamed.csv", cwd=folder)
    assert status == 0 and err == ""
    predicted = pd.read_csv(pd.io.common.StringIO(out), index_col=0)["prediction"]
    np.testing.assert_array_equal(predicted, load_model(folder / "unnamed.skops").predict(X))


@pytest.mark.parametrize(
    ("args", "missing", "message"),
    [
        (
            ["fit", "iris.csv", "--target", "species", "-o", "m.skops"],
            ["pandas", "skops"],
            "sklearn-bp fit needs pandas and skops, which are not installed: "
            "pip install pandas skops\n",
        ),
        (
            ["predict", "iris.skops", "iris.csv"],
            ["pandas", "skops"],
            "sklearn-bp predict needs skops and pandas, which are not installed: "
            "pip install skops pandas\n",
        ),
        (
            ["fit", "new.parquet", "--target", "species", "-o", "m.pkl"],
            ["pandas", "pyarrow"],
            "sklearn-bp fit needs pandas and pyarrow, which are not installed: "
            "pip install pandas pyarrow\n",
        ),
        (
            ["info", "iris.skops"],
            ["skops"],
            "sklearn-bp info needs skops, which is not installed: pip install skops\n",
        ),
    ],
)
def test_missing_packages_are_named_together_before_any_work(
    args, missing, message, folder, iris_model, capsys, monkeypatch
):
    (folder / "new.parquet").touch()
    for package in missing:
        monkeypatch.setitem(sys.modules, package, None)
    monkeypatch.chdir(folder)
    assert main(args) == 1
    assert capsys.readouterr().err == f"sklearn-bp: error: {message}"


def test_the_docs_install_only_what_pip_can_find():
    docs = Path(__file__).parents[1] / "docs"
    texts = [path.read_text() for path in [*docs.glob("*.rst"), docs.parent / "README.md"]]
    assert not any("sklearn-bp[" in text for text in texts)


@pytest.mark.parametrize(
    ("seed", "warned"), [([], False), (["--random-state", "0"], True)], ids=["default", "asked"]
)
def test_trust_krylov_warns_only_of_a_seed_the_user_gave(seed, warned, folder):
    status, _, err = run(
        "fit", "iris.csv", "--target", "species", "--index-col", "id", "--method",
        "trust-krylov", "--max-iter", "3", "--no-score", "-q", *seed, "-o", "k.skops", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    assert ("warning: method='trust-krylov' is not reproducible" in err) == warned


def test_convergence_advice_names_options_and_scales_only_unscaled_data(folder):
    args = ["fit", "iris.csv", "--target", "species", "--index-col", "id", "--max-iter", "4"]
    status, _, err = run(*args, "--no-scale", "-q", "-o", "s.skops", cwd=folder)
    assert status == 0, err
    assert err.endswith(
        "Increase --max-iter (now 4) or --tol, or scale the data (leave out --no-scale).\n"
    )


@pytest.mark.parametrize("loss", ["poisson", "gamma"])
def test_loss_reaches_the_regressor_and_its_targets_stay_unscaled(folder, loss):
    status, _, err = run(
        "fit", "diabetes.csv", "--target", "progression", "--regressor", "--loss", loss,
        "--hidden", "3",
        "--no-score", "-q", "-o", f"{loss}.skops", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    frame = pd.read_csv(folder / "diabetes.csv")
    X, y = frame.drop(columns="progression"), frame["progression"]
    expected = make_pipeline(
        StandardScaler(), BackpropRegressor(hidden_layer_sizes=(3,), loss=loss, random_state=0)
    ).fit(X, y)
    saved = load_model(folder / f"{loss}.skops")
    assert saved[-1].out_activation_ == loss
    # pandas' default CSV parser may miss the last bit of a number (pandas 2.0), which the
    # command line's reader does not: the two fits start from inputs equal to rounding.
    np.testing.assert_allclose(saved.predict(X), expected.predict(X), rtol=1e-10)


def test_alpha_evidence_from_the_command_line(folder):
    status, out, err = run(
        "fit", "diabetes.csv", "--target", "progression", "--regressor", "--hidden", "3",
        "--alpha", "evidence", "--no-score", "-q", "-o", "evidence.skops", cwd=folder,
    )  # fmt: skip
    assert status == 0, err
    model = load_model(folder / "evidence.skops")
    estimator = model.regressor_[-1]
    assert estimator.alpha == "evidence" and estimator.alpha_.shape == (2,)
    status, out, err = run("info", "evidence.skops", cwd=folder)
    assert status == 0, err
    chosen = ", ".join(f"{value:.4g}" for value in estimator.alpha_)
    assert f"evidence: {chosen} (per layer), " in out
    assert f"{estimator.effective_n_parameters_:.1f} effective parameters" in out
    assert f"noise variance {estimator.noise_variance_:.4g}" in out


def test_alpha_must_be_a_number_or_evidence_on_the_command_line(folder):
    status, _, err = run("fit", "iris.csv", "--target", "species", "--alpha", "strong",
                           "-o", "m.skops", cwd=folder)  # fmt: skip
    assert status == 2
    assert "argument --alpha: expected a number such as 0.5, or 'evidence'; got 'strong'" in err
