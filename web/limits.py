"""What a request must be before any view reads it: bad input is a 4xx, never a 500 deeper down.

* A JSON body (any ``application/json`` or ``+json`` request) is at most ``MAX_JSON_BYTES`` (413) and
  nested at most ``MAX_JSON_DEPTH`` arrays/objects deep (400): Python's decoder would raise RecursionError
  on ``[`` x 5000, in Flask's ``get_json`` and in webargs alike. The whole request stays under
  ``MAX_CONTENT_LENGTH`` (413, werkzeug).
* No NUL character anywhere (path, query, form fields, JSON strings): PostgreSQL cannot store one and
  psycopg refuses it with a DataError. The path and the query string carry no control character at all
  (``next=/%0a/x`` would become a header with a newline).

The answers use the error shape of ``web/errors.py``: JSON under ``/api/`` and for JSON clients, a page
otherwise.
"""

from __future__ import annotations

import re

from flask import Flask, Response, abort, current_app, request, session
from werkzeug.exceptions import RequestEntityTooLarge

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: a JSON string literal (to skip its brackets), and the \u0000 escape outside an escaped backslash
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NUL_ESCAPE = re.compile(rb'(?<!\\)(?:\\\\)*\\u0000')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")


def json_depth(body: bytes) -> int:
    """How deep arrays and objects nest in ``body`` (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def check_request() -> None:
    """``before_request``: refuse what no view can handle (see the module docstring)."""
    if _CONTROL.search(request.path):
        abort(400, "the address contains a control character")
    for key, value in request.args.items(multi=True):
        if _CONTROL.search(key) or _CONTROL.search(value):
            abort(400, f"the query parameter {_printable(key)!r} contains a control character")
    if request.is_json:
        _check_json()
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in request.form.items(multi=True):
            if key is None:  # a part whose name the parser could not read (a raw line break in it)
                abort(400, "a form field has no readable name")
            if "\x00" in key or "\x00" in value:
                abort(400, f"the form field {_printable(key)!r} contains a NUL character")


def _check_json() -> None:
    limit = int(current_app.config["MAX_JSON_BYTES"])
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge(f"a JSON body may be at most {limit} bytes")
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise RequestEntityTooLarge(f"a JSON body may be at most {limit} bytes")
    most = int(current_app.config["MAX_JSON_DEPTH"])
    if json_depth(body) > most:
        abort(400, f"the JSON body nests deeper than {most} levels")
    if b"\x00" in body or _NUL_ESCAPE.search(body):
        abort(400, "the JSON body contains a NUL character (\\u0000)")


def _printable(text: str) -> str:
    return _CONTROL.sub("?", text)


#: flashed messages kept for the next page, and the characters of each: they travel in the session cookie,
#: which browsers cap at 4 KB, and some quote what the user typed
MAX_FLASHES = 5
MAX_FLASH_CHARS = 400


def bound_flashes(response: Response) -> Response:
    """Keep the messages waiting for the next page short and few, so that text a user typed (quoted back in
    a message) can never push the session cookie past what browsers keep."""
    flashes = session.get("_flashes")
    if flashes and (len(flashes) > MAX_FLASHES or any(len(str(m)) > MAX_FLASH_CHARS for _, m in flashes)):
        session["_flashes"] = [(category, str(message) if len(str(message)) <= MAX_FLASH_CHARS
                                else str(message)[:MAX_FLASH_CHARS - 1] + "…")
                               for category, message in flashes[-MAX_FLASHES:]]
    return response


def init_app(app: Flask) -> None:
    app.before_request(check_request)
    app.after_request(bound_flashes)
