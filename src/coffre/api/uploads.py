"""`POST /fhir/Binary`: a document sent as itself (FHIR's "raw" Binary create), streamed to
`records.add_document` without ever being held whole in memory or written in clear to disk.

The body is the document; its `Content-Type` is the document's media type. The headers say
the rest:

- `X-Security-Context: Patient/ID` (required): whose document it is;
- `Content-Disposition: attachment; filename=…` (or `filename*=UTF-8''…`): its file name;
- `Content-Description`: its title (RFC 2047 encoded words for other than ASCII), else the
  file name;
- `X-Category`: Coffre's category (`CODE` or `urn:coffre:category|CODE`), else `documents`.

The service runs in a worker thread and reads a `StreamedBody`, whose `read()` pulls the next
pieces of the request from the event loop: what is held at once is one read's worth and one
piece. The body limit of FHIR JSON bodies does not apply; the vault's document limit does.
`X-Security-Context` is judged first: no cross-site request carries it without a CORS
preflight, which this server never grants, so none gets further (the body is not FHIR JSON,
unlike other writes'; see docs/api.md).
"""

from __future__ import annotations

import email.errors
import email.header
import email.message
from pathlib import PurePosixPath
from typing import Any, BinaryIO, cast

import anyio
import anyio.from_thread
from fastapi import APIRouter, Request
from starlette.types import Receive

from coffre.access import Category
from coffre.api.body import JSON_TYPES
from coffre.api.calls import Api, document_resource
from coffre.api.outcomes import FhirResponse, Problem
from coffre.api.search import CATEGORY_SYSTEM, patient_id_of

SECURITY_CONTEXT = "X-Security-Context"
CATEGORY_HEADER = "X-Category"
# How long the upload may pause between two pieces of the body: a client that stalls must
# not keep a worker thread (and the chunks stored so far) for long. No transaction is open
# meanwhile (records/filing.py).
STALL_SECONDS = 30.0
_FHIR_TYPES = frozenset({*JSON_TYPES, "application/fhir+xml", "application/xml"})
# The headers this call reads, as the OpenAPI description gives them.
UPLOAD_HEADERS: list[dict[str, Any]] = [
    {
        "name": SECURITY_CONTEXT,
        "in": "header",
        "required": True,
        "schema": {"type": "string", "pattern": r"^Patient/[A-Za-z0-9\-.]{1,64}$"},
        "description": "Whose document it is.",
    },
    {
        "name": "Content-Disposition",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "attachment; filename=NAME (or filename*=UTF-8''NAME): its file name.",
    },
    {
        "name": "Content-Description",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Its title (RFC 2047 encoded words for other than ASCII); by default "
        "its file name.",
    },
    {
        "name": CATEGORY_HEADER,
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Coffre's category, CODE or urn:coffre:category|CODE (documents by "
        "default).",
    },
]


class StreamedBody:
    """The request body as a blocking binary stream, for a service in a worker thread.

    `read(size)` answers `size` bytes (fewer only at the end) and pulls pieces of the body
    from the event loop until it has them, so at most `size` bytes and one piece are held at
    once (`peak` says the most held). Raises Problem when the client disconnects (400) or
    stalls for `stall_seconds` (408)."""

    def __init__(self, receive: Receive, *, stall_seconds: float = STALL_SECONDS) -> None:
        self._receive = receive
        self._stall = stall_seconds
        self._buffer = bytearray()
        self._ended = False
        self.peak = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("the body is read a bounded piece at a time")
        while len(self._buffer) < size and not self._ended:
            self._buffer += anyio.from_thread.run(self._next_piece)
            self.peak = max(self.peak, len(self._buffer))
        with memoryview(self._buffer) as held:
            answer = bytes(held[:size])
        del self._buffer[:size]
        return answer

    async def _next_piece(self) -> bytes:
        message: dict[str, Any] | None = None
        with anyio.move_on_after(self._stall):
            message = dict(await self._receive())
        if message is None:
            raise Problem(408, "timeout", f"The upload paused for more than {self._stall:g} s.")
        if message["type"] == "http.disconnect":
            self._ended = True
            raise Problem(400, "incomplete", "The upload stopped before the document's end.")
        if not message.get("more_body", False):
            self._ended = True
        return bytes(message.get("body", b""))


def _patient(request: Request) -> str:
    reference = request.headers.get(SECURITY_CONTEXT, "").strip()
    if not reference:
        raise Problem(
            400,
            "required",
            f"Say whose document it is with {SECURITY_CONTEXT}: Patient/ID.",
            SECURITY_CONTEXT,
        )
    if not reference.startswith("Patient/"):
        raise Problem(
            400, "invalid", f"{SECURITY_CONTEXT} must reference a Patient.", SECURITY_CONTEXT
        )
    return patient_id_of(reference, SECURITY_CONTEXT)


def _media_type(request: Request) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not media or media in _FHIR_TYPES:
        raise Problem(
            415, "not-supported", "Send the document itself, with its media type as Content-Type."
        )
    return media


def _filename(request: Request) -> str:
    """The file name of `Content-Disposition` (its last path part), else "document"."""
    header = request.headers.get("content-disposition")
    if header is None:
        return "document"
    parsed = email.message.Message()
    parsed["Content-Disposition"] = header
    if parsed.get_content_disposition() not in ("attachment", "inline"):
        raise Problem(
            400,
            "invalid",
            "Content-Disposition must be: attachment; filename=NAME.",
            "Content-Disposition",
        )
    name = PurePosixPath((parsed.get_filename() or "").replace("\\", "/")).name.strip()
    return name if name not in ("", ".", "..") else "document"


def _title(request: Request, filename: str) -> str:
    header = request.headers.get("content-description", "").strip()
    if not header:
        return filename
    try:
        title = str(email.header.make_header(email.header.decode_header(header))).strip()
    except (UnicodeDecodeError, LookupError, email.errors.HeaderParseError):
        raise Problem(
            400, "invalid", "Content-Description is not readable text.", "Content-Description"
        ) from None
    return title or filename


def _category(request: Request) -> Category:
    """The category named by `X-Category` (the rules of a `urn:coffre:category` tag)."""
    value = request.headers.get(CATEGORY_HEADER, "").strip()
    if not value:
        return Category.DOCUMENTS
    system, _, code = value.rpartition("|")
    if system in ("", CATEGORY_SYSTEM) and code in set(Category):
        return Category(code)
    raise Problem(
        400, "code-invalid", f"{value} is not one of Coffre's categories.", CATEGORY_HEADER
    )


def add_routes(routes: APIRouter, api: Api) -> None:
    coffre = api.coffre
    # Each upload holds a worker thread while its body arrives; the threads serve every
    # other call too, so only a few uploads run at once and the next one is turned away.
    uploads = anyio.CapacityLimiter(coffre.settings.api_max_uploads)

    @routes.post("/Binary", response_class=FhirResponse)
    async def upload(request: Request) -> FhirResponse:
        patient_id = _patient(request)
        content_type = _media_type(request)
        filename = _filename(request)
        title, category = _title(request, filename), _category(request)
        limit = coffre.settings.document_max_bytes
        announced = request.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > limit:
            raise Problem(413, "too-costly", f"The document is over the limit of {limit} bytes.")
        body = StreamedBody(request.receive)
        try:
            uploads.acquire_nowait()
        except anyio.WouldBlock:
            raise Problem(
                503,
                "transient",
                "Too many documents are being uploaded at once; send it again shortly.",
                headers={"Retry-After": "10"},
            ) from None
        try:
            info = await api.add_document(
                request,
                patient_id,
                cast(BinaryIO, body),
                content_type,
                title=title,
                filename=filename,
                category=category,
            )
        finally:
            uploads.release()
        location = f"{api.base}/Binary/{info.id}"
        return FhirResponse(
            document_resource(info), status_code=201, headers={"Location": location}
        )
