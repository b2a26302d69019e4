"""The project's own error types: a user's mistake (bad params, data, inputs), said in one line.

`python -m ltgrid` prints these as `error: <message>` and exits 2 (1 for a cell that cannot
go on); anything else is a bug and keeps its traceback. Each also subclasses the builtin a
caller would expect (ValueError for a bad value), so `except ValueError` still catches it.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message names the bad key or value and what to change."""


class ParamsError(UserError, ValueError):
    """A params file is invalid; the message names the key and the bad value. Raised only by
    ltgrid.params, where every check that can run before a job runs."""


class DataError(UserError, ValueError):
    """A dataset, source or split is not what a job needs (a bad source entry, a split of other
    labels, a dataset file of another format); the message names the file or the value."""


class SettingError(UserError, ValueError):
    """An environment variable or run option has a bad value (LTGRID_FAULT, LTGRID_SLOTS_PER_GPU, ...)."""


class ContractError(UserError, ValueError):
    """What one stage hands the next (a resolved cell, a predictions file) is not what this version reads."""


class PartError(UserError, ValueError):
    """A method part (loss, mixing, sampler, schedule, stage 2) got a bad argument."""


class ArgumentsError(UserError, TypeError, ValueError):
    """A part was given arguments it does not take (or lacks required ones): a TypeError as a
    bad call is, and a ValueError as a bad params entry is."""


class ReportError(UserError, ValueError):
    """Tables or figures cannot be built from what was given (no cells, unknown protocol)."""


class TrackingError(UserError, ValueError):
    """The MLflow store lacks what was asked for (experiment, evaluated runs)."""


class DamagedFileError(UserError, ValueError):
    """A file the pipeline wrote (or was given) cannot be read back: truncated, corrupt or foreign."""
