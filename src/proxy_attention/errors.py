"""The package's error types, in one module that every layer may import.

Each names what the user must fix; the workflow turns them into clear messages
(a config key, a file, a model) instead of tracebacks.
"""


class ConfigError(ValueError):
    """The workflow config asks for something that cannot run (the message names the key)."""


class ScheduleError(ValueError):
    """A schedule such as ``[2, p, 2]`` is malformed."""


class DiskFullError(OSError):
    """An artifact could not be written: no space left on device (the message names the path)."""

    def __str__(self) -> str:  # the message, not OSError's "[Errno 28] ...: 'path'"
        return str(self.args[0]) if self.args else super().__str__()


class DataError(ValueError):
    """A dataset, archive or image cannot be used (the message names the file)."""


class ModelError(ValueError):
    """A model name, checkpoint or pretrained-weights file cannot be used."""


class CheckpointError(ModelError):
    """A file given as a checkpoint is missing, damaged, or not a checkpoint of this workflow."""


class CamError(RuntimeError):
    """A CAM cannot be computed for this model and layer."""
