"""The placements of ``_placement``: which one the data chooses, and what each gives the fit
(the split, the data term, the scorer), reached through the placement objects."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse
from sklearn import config_context

from sklearn_bp import BackpropClassifier
from sklearn_bp._base import Problem
from sklearn_bp._placement import (
    InMemory,
    OnCluster,
    OnDevice,
    placement_for_fit,
    placement_for_rows,
)
from sklearn_bp._placement.cluster import ChunkedTargets

from .support import array_api_unavailable


def _rows(n=60, seed=0):
    rng = np.random.RandomState(seed)
    return rng.normal(size=(n, 4)), rng.randint(3, size=n)


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_matrix, list])
def test_rows_in_this_process_are_in_memory(container):
    X, y = _rows()
    assert type(placement_for_fit(container(X), y, None)) is InMemory
    assert type(placement_for_rows(container(X))) is InMemory


@pytest.mark.skipif(array_api_unavailable() is not None, reason="no array API dispatch")
def test_arrays_of_another_namespace_stay_on_their_device():
    xp = pytest.importorskip("array_api_strict")
    X, y = _rows()
    with config_context(array_api_dispatch=True):
        placement = placement_for_fit(xp.asarray(X), y, None)
        assert type(placement) is OnDevice and placement.xp is xp
        assert type(placement_for_fit(X, y, None)) is InMemory  # NumPy keeps its own path
    assert type(placement_for_fit(xp.asarray(X), y, None)) is InMemory  # dispatch is off


def test_any_cluster_collection_puts_the_fit_on_the_cluster():
    da = pytest.importorskip("dask.array")
    X, y = _rows()
    assert type(placement_for_fit(X, da.from_array(y), None)) is OnCluster
    assert type(placement_for_rows(da.from_array(X))) is OnCluster


def test_chunked_targets_give_the_facts_numpy_gives():
    da = pytest.importorskip("dask.array")
    y = np.array([2, 0, 2, 5, 0, 2])
    targets = ChunkedTargets(da.from_array(y, chunks=4))
    values, counts = targets.unique_counts()
    assert (values.tolist(), counts.tolist()) == ([0, 2, 5], [2, 3, 1])
    assert not targets.only_zeros_and_ones()
    assert ChunkedTargets(da.from_array(np.eye(3), chunks=2)).only_zeros_and_ones()


def _problem(X, y):
    """The placement's own validation and encoding (the estimator as the targets' encoder)."""
    placement = placement_for_fit(X, y, None)
    prepared = placement.prepare(BackpropClassifier(), X, y, None, [3], (np.float64,))
    return placement, Problem(*prepared, placement)


def test_in_memory_split_is_stratified_and_refuses_too_few_rows():
    X, y = _rows(90)
    _, problem = _problem(X, y)
    train, validation = problem.placement.split(problem, 0.2, 0, curvature=False)
    assert len(train) + len(validation) == 90
    # Stratified: every class holds out its share, to a row.
    assert np.all(np.abs(np.bincount(y[validation]) - 0.2 * np.bincount(y)) <= 1)
    with pytest.raises(ValueError, match="early_stopping cannot"):
        problem.placement.split(problem, 0.01, 0, curvature=False)


def test_in_memory_scorer_gives_the_mean_cost_and_the_accuracy():
    X, y = _rows(80)
    _, problem = _problem(X, y)
    rows = np.arange(20, 80)
    theta = problem.network.initial_theta(np.random.RandomState(1))
    loss = problem.targets.loss
    statistics = lambda Z, Y, w: loss.validation_sums(Z, Y, w, "multiclass")  # noqa: E731
    score = problem.placement.scorer(problem, rows, statistics, loss.score_from_sums)
    mean_cost, accuracy = score(theta)
    data = problem.placement.data_term(problem, rows)
    Z = data.output(theta)
    assert accuracy == pytest.approx(np.mean(Z.argmax(axis=1) == y[rows]), rel=1e-12)
    assert_allclose(mean_cost, data.loss_sum(theta) / data.total_weight, rtol=1e-12)
