"""Single-molecule localization: simulation, camera model, background, detection, fitting, post-processing."""

from photonflow.localization.camera import Camera
from photonflow.localization.params import LocalizationParams
from photonflow.localization.pipeline import localize, localize_chunk
from photonflow.localization.results import LOCALIZATION_DTYPE, empty_results

__all__ = [
    "LOCALIZATION_DTYPE",
    "Camera",
    "LocalizationParams",
    "empty_results",
    "localize",
    "localize_chunk",
]
