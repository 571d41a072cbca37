"""Exception types the engine raises, so callers can catch them by meaning."""


class ShapeError(ValueError, RuntimeError):
    """Operand shapes do not fit the op; the message names the op and every shape.

    A ValueError for NumPy-minded callers and a RuntimeError, which is what PyTorch
    raises for a shape mismatch, so torch code that catches RuntimeError keeps working.
    """


class DeviceError(RuntimeError):
    """Inputs of one op live on different devices; the message names both."""


class GraphFreedError(RuntimeError):
    """Backward through a graph whose saved values were already freed."""


class EnvironmentSettingError(ValueError):
    """An environment variable of the package (kernels/environment.py) has a value it does not accept.

    The message names the variable, the value given, the values it accepts and what to do. A ValueError,
    so callers that catch ValueError for a bad setting keep working.
    """

    def __init__(self, message: str, variable: str = "", value: str = ""):
        super().__init__(message)
        self.variable, self.value = variable, value


class DtypeError(TypeError, NotImplementedError):
    """The op does not take the input's dtype (torch: "... not implemented for 'Bool'"); the message names
    the op, the dtype and what to convert to.

    A TypeError, as every dtype error of the engine, and a NotImplementedError (so a RuntimeError), which
    is what PyTorch raises for these, so torch code that catches either keeps working.
    """


class ArgumentValueError(ValueError, RuntimeError):
    """An argument's value is outside what the op accepts (quantile's q outside [0, 1], an unknown
    interpolation name); the message names the op, the argument, the value and what is accepted.

    A ValueError for Python-minded callers and a RuntimeError, which is what PyTorch raises for these.
    """
