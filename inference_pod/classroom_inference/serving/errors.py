"""The serving process's domain errors. app.py maps each to an HTTP status in one place."""

from __future__ import annotations


class ServingError(Exception):
    """Base of the errors a request to the pod can meet."""


class NotReady(ServingError):
    """The pod cannot answer this yet: engine loading, warming up, or draining."""


class UnknownClassroom(ServingError):
    """A request named a classroom this pod does not serve."""


class InvalidRequest(ServingError):
    """A request's query is malformed; the message names the parameter and the fix."""


class ConfigurationError(ServingError):
    """The process cannot start as configured (arguments, environment, engine, spool)."""
