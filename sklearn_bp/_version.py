"""The version of sklearn-bp, read by the package build and recorded in every fitted model."""

__version__ = "0.2.0.dev0"
