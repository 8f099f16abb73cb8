"""Distributed analysis on Dask: rules, data locality, live analysis, exactly-once results (compute.md §1–§2, §6).

* :mod:`~photonflow.compute.rules` — the pure rule/task state model; :mod:`~photonflow.compute.store` — SQLite;
* :mod:`~photonflow.compute.locality` — chunk → data server → worker;
* :mod:`~photonflow.compute.tasks` — what a Dask task runs (write-once result parts);
* :mod:`~photonflow.compute.engine` — rules → Dask tasks, live release, retries, chaining, ``.h5r`` assembly;
* :mod:`~photonflow.compute.service` — the rule HTTP API; :mod:`~photonflow.compute.api` — its client;
* :mod:`~photonflow.compute.scheduler`, :mod:`~photonflow.compute.worker`, :mod:`~photonflow.compute.discovery` —
  processes and how they find each other; :mod:`~photonflow.compute.cluster_of_one` — ``photonflow up``.

Submodules are imported on use (Dask and Starlette are heavy).
"""
