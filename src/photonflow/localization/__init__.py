"""Single-molecule localization: simulation, camera model, background, detection, fitting, post-processing."""

from photonflow.localization.results import LOCALIZATION_DTYPE, empty_results

__all__ = ["LOCALIZATION_DTYPE", "empty_results"]
