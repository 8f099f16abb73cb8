"""Batch PSF fitting kernels: integrated-Gaussian MLE, PYME-style weighted least squares, Cramér–Rao bounds."""

from photonflow.localization.fit.crlb import integrated_gaussian_crlb, mortensen_lsq_variance, mortensen_mle_variance
from photonflow.localization.fit.lsq import LSQResult, fit_lsq
from photonflow.localization.fit.mle import MLEResult, fit_mle

__all__ = [
    "LSQResult",
    "MLEResult",
    "fit_lsq",
    "fit_mle",
    "integrated_gaussian_crlb",
    "mortensen_lsq_variance",
    "mortensen_mle_variance",
]
