"""photonflow: stream microscope frames into a storage cluster, analyse them live, run HPC batch jobs.

The package is wire-compatible with the PYME cluster (python-microscopy) and re-implements pyUSID's
``Process`` framework.  Sub-packages are imported explicitly by their users, e.g.
``from photonflow.storage import ClusterClient``; importing :mod:`photonflow` itself is cheap and reads
no configuration.
"""

from photonflow.errors import PhotonflowError

__version__ = "0.1.0"

__all__ = ["PhotonflowError", "__version__"]
