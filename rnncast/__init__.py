"""rnncast: recurrent and convolutional forecasts of time series from a CSV.

Importing the package is cheap; TensorFlow loads only when a model is built or loaded.
"""

from rnncast._version import __version__

__all__ = ["__version__", "forecast", "train"]


def train(*args, **kwargs):
    """See ``rnncast.api.train``."""
    from rnncast.api import train as _train

    return _train(*args, **kwargs)


def forecast(*args, **kwargs):
    """See ``rnncast.api.forecast``."""
    from rnncast.api import forecast as _forecast

    return _forecast(*args, **kwargs)
