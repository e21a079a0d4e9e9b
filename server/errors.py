"""Domain errors, and the one place that turns them (and HTTP errors) into JSON bodies.

Features subclass these (`class OfferClosed(Conflict): code = "offer_closed"`); views raise
them and never build error responses by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code.replace("_", " ")
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class Invalid(DomainError):
    status = 422
    code = "invalid"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _domain_error(error: DomainError) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    return response


def _http_error(error: HTTPException) -> Response:
    code = (error.name or "error").lower().replace(" ", "_")
    response = jsonify({"error": code, "message": error.description or error.name})
    response.status_code = error.code or 500
    if error.code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


def _unexpected_error(error: Exception) -> Response:
    # The traceback goes to the log; the client learns nothing about the internals.
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    response = jsonify({"error": "internal_error", "message": "Something went wrong on our side."})
    response.status_code = 500
    return response
