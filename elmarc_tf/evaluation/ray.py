"""The classifier stage on a Ray cluster: the grid search's (grid point x fold) fits as Ray work.

:func:`elmarc_tf.evaluation.protocols.evaluate` with ``engine="ray"`` runs inside a :class:`RaySearch`:
scikit-learn's own ``GridSearchCV`` / ``cross_val_predict`` (so the same fits, scores and best
grid point as the local engine), with joblib's Ray backend (``ray.util.joblib``) in force, so each
joblib batch of fits runs on a pool of Ray actors (``actors`` of ``cpus_per_actor`` CPUs each)
anywhere in the cluster. Anything else in the study that runs through joblib without naming a
backend follows it too.

The features travel once per evaluation, not once per fit: :meth:`RaySearch.share` puts the
array into Ray's object store and returns a :class:`SharedArray`, which pickles as a reference to
that one copy; a worker reads it from its node's object store (zero-copy, read-only). Arrays
derived from it (a fold's rows) are ordinary arrays.

Ray's joblib backend makes joblib's ``multiprocessing`` pools Ray pools in this process once it
has been used (``ray.util.joblib`` rebases joblib's ``PicklingPool``); scikit-learn's default
backend (``loky``) is not affected.
"""

from __future__ import annotations

import joblib
import numpy as np

from ..extraction.ray_cluster import RayOptions, actor_count, connect, import_ray


class SharedArray(np.ndarray):
    """An ndarray that pickles as a reference to its one copy in Ray's object store
    (:meth:`RaySearch.share`). Views and results of operations on it carry no reference and pickle
    their data as usual."""

    _ref = None

    def __reduce_ex__(self, protocol):
        if self._ref is None:
            return np.asarray(self).__reduce_ex__(protocol)
        get = import_ray().get  # by reference: unpickling needs Ray, not elmarc_tf (TensorFlow)
        return getattr(get, "__wrapped__", get), (self._ref,)


class RaySearch:
    """``with RaySearch(options, n_jobs) as search:`` grid searches run on Ray (see the module).

    ``n_jobs``: fits at a time (``None``: ``options.actors``, else the cluster's CPUs //
    ``cpus_per_actor``). Inside, :attr:`n_jobs` is ``None`` (estimators take the backend's)."""

    def __init__(self, options: RayOptions | None = None, n_jobs: int | None = None) -> None:
        self.options = options or RayOptions()
        self.requested_jobs = n_jobs
        self.n_jobs = None
        self._config = None

    def __enter__(self) -> "RaySearch":
        ray = connect(self.options)
        from ray.util.joblib import register_ray  # optional dependency, imported on first use

        register_ray()
        jobs = self.requested_jobs or actor_count(self.options, ray.cluster_resources())
        self._config = joblib.parallel_config(
            backend="ray", n_jobs=jobs, ray_remote_args={"num_cpus": self.options.cpus_per_actor})
        self._config.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._config.__exit__(*exc)
        self._config = None

    def share(self, array) -> SharedArray:
        """``array`` put once into the object store; pickles as a reference to it."""
        ray = connect(self.options)
        array = np.asarray(array)
        shared = array.view(SharedArray)
        shared._ref = ray.put(array)
        return shared
