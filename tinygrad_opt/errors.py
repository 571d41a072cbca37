"""Exception types the engine raises, so callers can catch them by meaning."""


class ShapeError(ValueError):
    """Operand shapes do not fit the op; the message names the op and every shape."""


class DeviceError(RuntimeError):
    """Inputs of one op live on different devices; the message names both."""


class GraphFreedError(RuntimeError):
    """Backward through a graph whose saved values were already freed."""
