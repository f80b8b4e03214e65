"""The user guide's table for users of MLPClassifier and MLPRegressor cannot drift from
scikit-learn: every parameter and public method of both has a row, and a row that says "The
same" or "None" tells the truth about ours."""

import re
from pathlib import Path

import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_bp import BackpropClassifier, BackpropRegressor

USER_GUIDE = Path(__file__).parent.parent / "docs" / "user_guide.rst"


def _mlp_table():
    """``[(names, answer)]``: the names in each row's first cell and its second cell's text."""
    text = USER_GUIDE.read_text(encoding="utf-8")
    section = text.split("For users of MLPClassifier\n", 1)[1]
    table = section.split(".. list-table::", 1)[1]
    rows = re.findall(r"^   \* - (.*?)^     - (.*?)(?=^   \* - |^\S|\Z)", table, re.M | re.S)
    return [(re.findall(r"``(\w+)``", cell), " ".join(answer.split())) for cell, answer in rows]


def _public_methods(cls):
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def _ours(name):
    """Whether one of our estimators has ``name`` as a parameter or a method."""
    return any(
        name in Estimator().get_params() or name in _public_methods(Estimator)
        for Estimator in (BackpropClassifier, BackpropRegressor)
    )


def test_the_table_parses_into_rows_of_names():
    rows = _mlp_table()
    assert rows[0] == ([], "Here")
    assert all(names for names, _ in rows[1:])
    assert ["solver"] in [names for names, _ in rows]


@pytest.mark.parametrize("MLP", [MLPClassifier, MLPRegressor])
def test_every_parameter_and_method_of_the_mlps_has_a_row(MLP):
    named = {name for names, _ in _mlp_table() for name in names}
    assert set(MLP().get_params()) - named == set()
    assert _public_methods(MLP) - named == set()


def test_the_same_means_ours_has_it_and_none_means_it_has_not():
    for names, answer in _mlp_table()[1:]:
        if answer.startswith("The same"):
            assert [name for name in names if not _ours(name)] == [], answer
        if answer.startswith("None"):
            assert [name for name in names if _ours(name)] == [], answer
