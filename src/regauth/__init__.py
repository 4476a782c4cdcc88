"""regauth: short-lived registry and package-repository tokens behind the clouds' own APIs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
