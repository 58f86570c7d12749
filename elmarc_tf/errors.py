"""Exception and warning types raised for bad input.

Every message is one line and names the file, key or variable at fault.
"""


class ElmarcError(ValueError):
    """Base class for bad input given to elmarc_tf (config, audio, weights)."""


class ConfigError(ElmarcError):
    """A configuration key is unknown, missing or has an impossible value."""


class AudioError(ElmarcError):
    """An audio file cannot be read or cannot be brought to the required length."""


class WeightsError(ElmarcError):
    """A weights file lacks a variable or has one with the wrong shape."""


class DamagedFileError(ElmarcError):
    """A file exists but cannot be read: empty, truncated, or not in the format it should have
    (the command's exit status 3, as for a file it cannot read or write)."""


class DamagedWeightsError(WeightsError, DamagedFileError):
    """A weights file exists but cannot be read (empty, truncated, not an ``.npz``)."""


class ElmarcWarning(UserWarning):
    """Suspicious but usable input."""
