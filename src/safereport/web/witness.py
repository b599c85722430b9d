"""The witness over HTTP: C2SP tlog-witness ``add-checkpoint``, for ``safereport witness serve``.

A separate app from the instance's: a partner organisation runs it with its own state
directory and nothing of the log's. No sign-in: the checkpoint's signature is the only
authentication the protocol has. Bodies are read up to :data:`MAX_BODY` bytes; a larger one
is refused (413) and recorded like every other refusal.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from safereport.ledger.witness import Refused, Witness, WitnessRefusal

__all__ = ["MAX_BODY", "SIZE_TYPE", "create_witness_app"]

#: A request is an old size, at most 63 proof lines and a checkpoint: a few KiB. 64 KiB
#: leaves room for many signature lines on the checkpoint.
MAX_BODY = 64 * 1024
SIZE_TYPE = "text/x.tlog.size"
_TEXT = "text/plain; charset=utf-8"


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it grows past MAX_BODY (nothing more is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(exc: WitnessRefusal) -> Response:
    if exc.status is Refused.CONFLICT and exc.size is not None:
        # Exactly this type: Starlette would add "; charset=utf-8" to a media_type of text/*.
        return Response(f"{exc.size}\n", status_code=409, headers={"Content-Type": SIZE_TYPE})
    return PlainTextResponse(f"{exc}\n", status_code=int(exc.status), media_type=_TEXT)


def create_witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request)
        if body is None:
            reason = f"the request body is larger than {MAX_BODY} bytes"
            await run_in_threadpool(witness.record_refusal, Refused.TOO_LARGE, reason, b"")
            return PlainTextResponse(reason + "\n", status_code=413)
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, body)
        except WitnessRefusal as exc:
            return _refusal(exc)
        return Response(lines, status_code=200, media_type=_TEXT)

    async def about(request: Request) -> Response:
        text = f"safereport witness {witness.signer.name}\n{witness.vkey}\n"
        return PlainTextResponse(text, media_type=_TEXT)

    routes = [
        Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route("/", about, methods=["GET"]),
    ]
    return Starlette(routes=routes)
