"""File and wire formats: PZF frames, PYME metadata, series layout, HDF5 results (.h5r).

Modules (import them directly; this package re-exports nothing so that importing it stays cheap):

* :mod:`photonflow.formats.pzf` — PZF frame codec (``encode``, ``decode``, ``decode_into``, ``decode_header``).
* :mod:`photonflow.formats.metadata` — PYME metadata mapping (``Metadata``, ``CameraParameters``, ``series_metadata``).
* :mod:`photonflow.formats.h5r` — ``.h5r`` PyTables results files (``H5RFile``, ``append_table``, ``read_table``, …).
* :mod:`photonflow.formats.pyme_fitresults` — ``LOCALIZATION_DTYPE`` ↔ PYME ``FitResults`` records.
* :mod:`photonflow.formats.bodies` — results request bodies (``.npy``, JSON, restricted pickles).
"""
