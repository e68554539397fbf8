"""Reading a response body with a cap on its *decoded* size (sans-IO: the shell feeds the raw chunks it receives).

A 1 MB gzip body can inflate to 1 GiB; httpx's ``response.content`` would build all of it in memory. Here the body
is decompressed chunk by chunk with ``zlib``'s ``max_length``, so no step ever produces more than the room left
under the cap, and reading stops as soon as the cap is passed. Only the encodings the client asks for
(``Accept-Encoding: gzip, deflate``) and ``identity`` are decoded; anything else is reported, not guessed at.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Final

__all__ = ["ACCEPT_ENCODING", "DEFAULT_MAX_RESPONSE_BYTES", "ERROR_BODY_BYTES", "BodyReader"]

ACCEPT_ENCODING: Final = "gzip, deflate"
"""What the client accepts: the encodings :class:`BodyReader` decodes with a bound."""

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""64 MiB decoded. Exact's largest pages are the 1000-row pages of sync and bulk endpoints; the widest entity
(``sync/CRM/Accounts``, 157 fields, 75 of them text) is about 6 KB a row as verbose JSON with ``__metadata``, so
6 MB a page, and about 24 MB if every text field were filled to 255 characters. 64 MiB leaves room for that and for
long memo fields, and still stops a decompression bomb long before it costs a Lambda or a worker its memory."""

ERROR_BODY_BYTES: Final = 64 * 1024
"""What is read of a non-2xx body: Exact's error messages are a few hundred bytes; the rest is not needed."""


class BodyReader:
    """Accumulates a body's decoded bytes up to ``limit``; ``feed`` the raw chunks, stop when :attr:`done`.

    After the last chunk: :attr:`content` holds at most ``limit`` decoded bytes, :attr:`too_large` says whether the
    body was longer, :attr:`error` names a decoding failure (corrupt gzip, an encoding not asked for)."""

    def __init__(self, headers: Mapping[str, str], limit: int) -> None:
        self.limit = limit
        self.too_large = False
        self.error: str | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._raw_deflate = False
        encoding = headers.get("content-encoding", "").strip().lower()
        self._decoder: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
            self._raw_deflate = True  # some servers send raw deflate without the zlib header; decided on chunk 1
        elif encoding not in ("", "identity"):
            self.error = f"Content-Encoding {encoding[:40]!r} was not asked for"
        length = headers.get("content-length", "").strip()
        if self._decoder is None and length.isascii() and length.isdigit() and len(length) <= 19:
            # An uncompressed body announced beyond the cap is refused before a byte of it is read.
            self.too_large = int(length) > limit

    @property
    def done(self) -> bool:
        """True when nothing more needs to be read (the cap is passed or the body cannot be decoded)."""
        return self.too_large or self.error is not None

    @property
    def content(self) -> bytes:
        """The decoded bytes read so far (at most ``limit``)."""
        return b"".join(self._parts)

    def feed(self, chunk: bytes) -> None:
        """Add one raw chunk as it came off the wire."""
        if self.done or not chunk:
            return
        if self._decoder is None:
            self._append(chunk)
            return
        data = chunk
        while data and not self.done:
            try:
                out = self._decoder.decompress(data, self.limit - self._size + 1)
            except zlib.error:
                if self._raw_deflate and self._size == 0 and not self._decoder.unused_data:
                    self._raw_deflate = False
                    self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                self.error = "the compressed body is corrupt"
                return
            self._raw_deflate = False
            self._append(out)
            data = self._decoder.unconsumed_tail

    def finish(self) -> None:
        """Call after the last chunk: a compressed stream that stopped before its end is an error."""
        if self._decoder is not None and not self.done and self._size and not self._decoder.eof:
            self.error = "the compressed body ended early"

    def _append(self, data: bytes) -> None:
        room = self.limit - self._size
        if len(data) > room:
            self.too_large = True
            data = data[:room]
        if data:
            self._parts.append(data)
            self._size += len(data)
