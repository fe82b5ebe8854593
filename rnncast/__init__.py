"""rnncast: recurrent and convolutional forecasts of time series from a CSV.

Importing the package is cheap; TensorFlow loads only when a model is built or loaded.
"""

__version__ = "0.1.0"


def train(*args, **kwargs):
    """See ``rnncast.api.train``."""
    from rnncast.api import train as _train

    return _train(*args, **kwargs)


def forecast(*args, **kwargs):
    """See ``rnncast.api.forecast``."""
    from rnncast.api import forecast as _forecast

    return _forecast(*args, **kwargs)
