"""Distributed hyperparameter search: scikit-learn's GridSearchCV and cross_val_score over
fastbp's estimators through joblib's Dask backend, on a 2-worker LocalCluster of spawned
processes, give the same results as the default backend."""

import numpy as np
import pytest
from conftest import oracle

oracle("sklearn")
distributed = oracle("distributed")
joblib = pytest.importorskip("joblib")

from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402

from fastbp.sklearn import FastbpClassifier  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two worker processes of one thread each (Dask sets OMP_NUM_THREADS=1 in them, which
    fastbp's thread team follows)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _search(X, y):
    grid = {"hidden_layer_sizes": [(16,), (32,)], "learning_rate_init": [0.001, 0.01]}
    model = FastbpClassifier(max_iter=5, random_state=0)
    search = GridSearchCV(model, grid, cv=3)
    search.fit(X, y)
    scores = cross_val_score(model, X, y, cv=3)
    return search.best_params_, search.cv_results_["mean_test_score"], scores


def test_grid_search_and_cross_validation_on_dask_equal_the_default_backend(client, digits):
    X, y, _, _ = digits
    local = _search(X, y)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote = _search(X, y)
    assert len(tasks.data) >= 4 * 3 + 3  # the fits ran on the workers
    assert remote[0] == local[0]
    np.testing.assert_array_equal(remote[1], local[1])
    np.testing.assert_array_equal(remote[2], local[2])
    assert local[1].max() > 0.8  # the search learned something (chance: 0.1)
    # The workers ran the fits, each with one fastbp thread, and compiled nothing: they
    # loaded the training loop this process had cached on disk (the shared cache folder).
    assert all(threads == 1 for threads in client.run(_team_threads).values())
    stats = list(client.run(_loop_cache_stats).values())  # (hits, misses) per worker
    assert sum(hits for hits, _ in stats) > 0 and all(misses == 0 for _, misses in stats), stats


def _team_threads():
    import numba

    from fastbp.engine.parallel import OMP_THREADS
    return min(numba.get_num_threads(), OMP_THREADS)


def _loop_cache_stats():
    """(cache hits, cache misses) of this process's compiled training loops."""
    from fastbp.engine import loops
    stats = [dispatcher.stats for dispatcher in loops._MADE.values()]
    return (sum(sum(s.cache_hits.values()) for s in stats),
            sum(sum(s.cache_misses.values()) for s in stats))
