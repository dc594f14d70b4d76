"""classroom-inference: the data plane. Engine builder and serving process share this package."""

__version__ = "0.1.0"
