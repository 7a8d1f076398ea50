"""Domain errors; the web layer maps each to one HTTP status."""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The request clashes with the current state (illegal move, stale version, duplicate)."""

    status = 409


class Invalid(DomainError):
    """Well-formed but unacceptable data (unknown type, missing template field, bad phone)."""

    status = 422


class Forbidden(DomainError):
    status = 403


class TooLarge(DomainError):
    status = 413
