"""netprobe: the sockets interface of a Unix system made visible."""

__version__ = "0.1.0"
