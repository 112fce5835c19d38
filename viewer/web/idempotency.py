"""``Idempotency-Key`` on the single-object writes (annotations, groups): a request replayed after
its answer was lost (the editor's save queue does that) is applied once. The route hands over the
store write and how to answer it; the answer is kept with the key in the write's transaction
(:mod:`viewer.store.idempotency`), and a repeated key answers it again without writing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import Response, request

from viewer.store import WriteResult
from viewer.store.idempotency import Answer, Idempotent, check_key
from viewer.web.auth import author
from viewer.web.services import services

HEADER = "Idempotency-Key"


def _fingerprint() -> str:
    """sha256 of what makes this request this request: method, path, preconditions, author, body."""
    h = hashlib.sha256()
    for part in (request.method, request.path, request.headers.get("If-Match", ""),
                 author()):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(request.get_data(cache=True))
    return h.hexdigest()


def _answer(response: Response) -> Answer:
    return Answer(response.status_code, response.get_data(as_text=True), response.headers.get("ETag"),
                  response.headers.get("Location"))


def _response(answer: Answer, replayed: bool) -> Response:
    response = Response(answer.body, status=answer.status, mimetype="application/json")
    if answer.etag:
        response.headers["ETag"] = answer.etag
    if answer.location:
        response.headers["Location"] = answer.location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent_write(set_id: int, write: Callable[[], WriteResult],
                     respond: Callable[[WriteResult], Response]) -> Response:
    """*respond* to *write*, once per ``Idempotency-Key`` when the request has one."""
    key = request.headers.get(HEADER)
    if key is None:
        return respond(write())
    built: list[Response] = []

    def answer_of(result: WriteResult) -> Answer:  # in the write's transaction
        built.append(respond(result))
        return _answer(built[-1])

    job = Idempotent(check_key(key.strip()), set_id, _fingerprint(), answer_of)
    with services().store.idempotent(job):
        result = write()
        if not built:  # a store whose schema predates the keys
            return respond(result)
    if built:
        return built[-1]
    assert job.answer is not None
    return _response(job.answer, job.replayed)
