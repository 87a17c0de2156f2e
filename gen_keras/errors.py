"""Errors a user can act on; recipes print their message without a traceback (no TensorFlow import here)."""


class GenKerasError(RuntimeError):
    """Base of the errors whose message says what went wrong and what to do."""


class DataError(GenKerasError):
    """A data set could not be had, or a file of it is corrupt."""


class ExportError(GenKerasError):
    """An export could not be written; nothing was left that a server would load."""


class TrainingDiverged(GenKerasError):
    """The loss became NaN or infinite."""


class ServingError(GenKerasError):
    """A TF Serving request failed: no server there, no such model or version, or a rejected input."""


class CApiError(GenKerasError):
    """TensorFlow's C API refused a model or a request, or an export's file is corrupt; the message is
    TensorFlow's or names the file."""


class EncoderNotFound(GenKerasError):
    """No exported encoder where one was asked for."""


class CannotScore(GenKerasError):
    """The sample-quality instrument has no classifier for these data (e.g. images without labels)."""


class EvaluationError(GenKerasError):
    """A path is not an export, or an export has nothing the instrument can score."""


class ReleaseError(GenKerasError):
    """A shipped model's row that is unknown, not trained, failed, or whose card disagrees with it."""
