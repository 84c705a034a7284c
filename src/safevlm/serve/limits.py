"""What a request may ask of the server, and turning a valid one into a Sample.

Every limit answers with a 4xx a client can act on, before the expensive work:

- the body size is enforced before and while reading it (413, :mod:`safevlm.serve.gate`);
- images: ``data:`` URLs only (the server has no network), at most ``max_images``, of an
  allowed format (Pillow is only offered those decoders, so an EPS or other exotic
  payload never reaches its parser), and each image's pixel count and the request's
  decoded size are read from the file header and checked *before* the pixels are
  decoded (a 105 KB PNG can claim 81 megapixels); :func:`prepare_request` reads the
  headers, :meth:`Prepared.decode` decodes (after the app has reserved the decoded size
  in the server-wide :class:`ImageBudget`) and shrinks every image so no side exceeds
  ``max_image_side`` (JPEGs are decoded at a reduced scale straight away);
- ``max_tokens`` >= 1 and at most ``max_tokens``; ``temperature`` finite in 0..2,
  ``top_p`` in (0, 1], ``seed`` a 64-bit integer; booleans are not numbers;
- the prompt against the model's context window (checked by the batch worker, see
  :mod:`safevlm.serve.batching`, since it needs the tokenizer);
- fields this server cannot honour are refused, never ignored: ``tools`` (and the older
  ``functions``), a JSON ``response_format``, ``logprobs``; ``stop`` is honoured (the answer
  ends before the first stop sequence).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from safevlm.backends.base import SYSTEM_PROMPT_KEY, GenerationParams
from safevlm.data.sample import Sample

#: Pillow keeps RGB(A) images at 4 bytes per pixel: the decoded size of an image is pixels x 4.
BYTES_PER_PIXEL = 4
#: what the image budget reserves per pixel while decoding (the decoded image and its RGB copy) ...
DECODING_BYTES_PER_PIXEL = 2 * BYTES_PER_PIXEL
#: ... and per pixel of the shrunk image until the request is answered: the image, and what a model's
#: processor makes of it (float32 per channel, 12 bytes a pixel; measured: benchmarks/serve_load.py --large)
HELD_BYTES_PER_PIXEL = BYTES_PER_PIXEL + 12
#: data-URL media types accepted, and the Pillow decoders they may use.
MEDIA_TYPES = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP", "gif": "GIF"}


@dataclass(frozen=True)
class ServeLimits:
    """Limits and batching settings of one server (``safevlm serve`` flags)."""

    max_body_bytes: int = 20 * 2**20
    max_images: int = 8
    max_image_pixels: int = 16_000_000
    max_decoded_bytes: int = 256 * 2**20
    #: decoded image bytes in flight across all requests (being decoded, or held until answered);
    #: a request that does not fit waits up to ``image_wait_s``, then gets 503 with Retry-After
    image_budget_bytes: int = 1024 * 2**20
    image_wait_s: float = 30.0
    #: images are shrunk so no side exceeds this once decoded (None: kept as sent)
    max_image_side: int | None = 2048
    default_max_tokens: int = 256
    max_tokens: int = 2048
    max_batch: int = 8
    batch_wait_s: float = 0.005
    max_queue: int = 256
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_images", "max_image_pixels", "max_decoded_bytes", "default_max_tokens",
                     "max_tokens", "max_batch", "max_queue", "image_budget_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_image_side is not None and self.max_image_side < 1:
            raise ValueError(f"max_image_side must be >= 1, got {self.max_image_side}")
        worst = self.max_decoded_bytes * HELD_BYTES_PER_PIXEL // BYTES_PER_PIXEL  # at the limit, nothing shrunk
        if self.image_budget_bytes < worst:
            raise ValueError(f"image_budget_bytes ({self.image_budget_bytes}) must be at least "
                             f"{HELD_BYTES_PER_PIXEL // BYTES_PER_PIXEL} x max_decoded_bytes ({worst}): a request at "
                             "the per-request limit must be able to run, its images decoded and processed")
        if not 1 <= self.default_max_tokens <= self.max_tokens:
            raise ValueError(f"default_max_tokens ({self.default_max_tokens}) must be in 1..max_tokens "
                             f"({self.max_tokens})")
        if self.batch_wait_s < 0 or self.timeout_s <= 0 or self.image_wait_s < 0:
            raise ValueError("batch_wait_s and image_wait_s must be >= 0 and timeout_s > 0")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The subset of the Chat Completions request this server honours.

    Numbers are strict (``true`` is not 1) and must be finite (JSON ``NaN`` is refused).
    Fields that would change the answer and that this server cannot honour are refused
    (:data:`UNSUPPORTED`); other unknown fields (``user``, ``metadata``...) are ignored.
    """

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage]
    max_tokens: StrictInt | None = None
    max_completion_tokens: StrictInt | None = None
    temperature: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    top_p: float | None = Field(default=None, strict=True, allow_inf_nan=False)
    seed: StrictInt | None = Field(default=None, ge=-(2**63), lt=2**63)
    n: StrictInt = 1
    stream: StrictBool = False
    stop: str | list[str] | None = None


#: request fields whose meaning this server cannot honour: each is a 400 naming it, never silently ignored
UNSUPPORTED = {
    "tools": "tool calling is not supported by this server; send the request without tools",
    "tool_choice": "tool calling is not supported by this server; send the request without tool_choice",
    "functions": "function calling is not supported by this server; send the request without functions",
    "function_call": "function calling is not supported by this server; send the request without function_call",
    "logprobs": "logprobs are not supported by this server",
    "top_logprobs": "logprobs are not supported by this server",
}
#: most stop sequences a request may give (the OpenAI API's limit)
MAX_STOP = 4


class APIError(Exception):
    """An error answered in the OpenAI shape: ``{"error": {"message", "type", "code"}}`` with ``status``."""

    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code
        self.headers = headers


def bad_request(message: str, code: str | None = None) -> APIError:
    return APIError(400, message, code=code)


_FORMATS = sorted(set(MEDIA_TYPES.values()))


def open_image(url: str, limits: ServeLimits) -> Image.Image:
    """A ``data:image/<type>;base64,...`` URL -> a Pillow image whose header only has been read.

    Checks the URL form, the media type, the format and the pixel count; anything
    wrong is a 400. The caller decodes (``load``) and closes it.
    """
    if url.startswith(("http://", "https://")):
        raise bad_request("image URLs over the network are not supported (this server has no network access); "
                          "send the image inline as a data:image/...;base64 URL")
    head, sep, data = url.partition(",")
    if not (url.startswith("data:image/") and sep and head.endswith(";base64")):
        raise bad_request(f"unsupported image URL {url[:40]!r}...; expected data:image/<type>;base64,<data>")
    kind = head.removeprefix("data:image/").removesuffix(";base64").lower()
    if kind not in MEDIA_TYPES:
        raise bad_request(f"image type {kind!r} is not accepted; send one of {', '.join(sorted(MEDIA_TYPES))}",
                          "unsupported_image")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_request(f"image data URL does not decode: not valid base64 ({exc})") from exc
    try:
        im = Image.open(io.BytesIO(raw), formats=_FORMATS)  # only these decoders are offered the bytes
    except UnidentifiedImageError as exc:
        raise bad_request(f"image data URL does not decode: not a {'/'.join(_FORMATS)} image",
                          "unsupported_image") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own ceiling, far above ours: refused as too large
        raise bad_request(f"image is too large: {exc}", "image_too_large") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_request(f"image data URL does not decode ({exc.__class__.__name__}: {exc})",
                          "unsupported_image") from exc
    width, height = im.size
    if width * height > limits.max_image_pixels:
        im.close()
        raise bad_request(f"image is {width}x{height} = {width * height:,} pixels; this server accepts at most "
                          f"{limits.max_image_pixels:,} pixels per image", "image_too_large")
    return im


def _decoded_bytes(sizes: list[tuple[int, int]], per_pixel: int = BYTES_PER_PIXEL) -> int:
    return sum(w * h * per_pixel for w, h in sizes)


def _capped(size: tuple[int, int], side: int | None) -> tuple[int, int]:
    w, h = size
    if side is None or max(w, h) <= side:
        return w, h
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def decode(im: Image.Image, max_side: int | None) -> Image.Image:
    """Decode an opened image to RGB, no side above ``max_side`` (a JPEG is decoded at a reduced scale)."""
    target = _capped(im.size, max_side)
    try:
        if target != im.size:
            im.draft("RGB", target)  # JPEG: the decoder itself scales down by 1/2, 1/4 or 1/8
        im.load()
        out = im.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_request(f"image data URL does not decode ({exc.__class__.__name__}: {exc})") from exc
    if out.size != target:
        out.thumbnail(target, Image.Resampling.BICUBIC)
    return out


@dataclass
class Prepared:
    """A checked request whose images' headers have been read but whose pixels are not decoded yet."""

    text: str
    system: str | None
    opened: list[Image.Image] = field(default_factory=list)

    @property
    def decoding_bytes(self) -> int:
        """What decoding the images takes at most (:data:`DECODING_BYTES_PER_PIXEL`)."""
        return _decoded_bytes([im.size for im in self.opened], DECODING_BYTES_PER_PIXEL)

    def held_bytes(self, max_side: int | None) -> int:
        """What the images take once shrunk to ``max_side``, processed included (:data:`HELD_BYTES_PER_PIXEL`)."""
        return _decoded_bytes([_capped(im.size, max_side) for im in self.opened], HELD_BYTES_PER_PIXEL)

    def decode(self, limits: ServeLimits) -> Sample:
        """The request as a Sample, its images decoded and shrunk one at a time, each full-size image
        released before the next is decoded (runs in a worker thread: CPU work)."""
        images = []
        try:
            for im in self.opened:
                images.append(decode(im, limits.max_image_side))
                im.close()
        finally:
            self.close()
        metadata = {SYSTEM_PROMPT_KEY: self.system} if self.system is not None else {}
        return Sample(id=uuid.uuid4().hex, source="serve", text=self.text, images=images, expected="comply",
                      metadata=metadata)

    def close(self) -> None:
        for im in self.opened:
            im.close()


def open_images(urls: list[str], limits: ServeLimits) -> list[Image.Image]:
    """Open every image's header and check the request's total decoded size (nothing decoded yet)."""
    if len(urls) > limits.max_images:
        raise bad_request(f"{len(urls)} images in one request; this server accepts at most {limits.max_images}",
                          "too_many_images")
    opened: list[Image.Image] = []
    try:
        for url in urls:
            opened.append(open_image(url, limits))
        total = _decoded_bytes([im.size for im in opened])
        if total > limits.max_decoded_bytes:
            raise bad_request(f"the request's images would take {total / 2**20:.0f} MiB decoded; this server "
                              f"accepts at most {limits.max_decoded_bytes / 2**20:.0f} MiB per request",
                              "image_too_large")
    except BaseException:
        for im in opened:
            im.close()
        raise
    return opened


class ImageBudget:
    """Decoded image bytes in flight across all requests, at most ``capacity`` (``ServeLimits.image_budget_bytes``).

    A request reserves its images' decoded size before decoding (:meth:`acquire`, waiting
    its turn), keeps what its shrunk images hold until it is answered (:meth:`shrink`),
    and gives that back at the end (:meth:`release`). So however many clients send large
    images at once, the server's image memory stays under the budget, and a client that
    has to wait too long gets a 503 with ``Retry-After`` instead of a server out of memory.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.used = 0
        self._changed = asyncio.Condition()

    async def acquire(self, n: int, timeout: float) -> bool:
        """Reserve ``n`` bytes, waiting up to ``timeout`` seconds; False when they did not become free."""
        if n <= 0:
            return True
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.used + n <= self.capacity), timeout)
            except TimeoutError:
                return False
            self.used += n
            return True

    async def release(self, n: int) -> None:
        if n <= 0:
            return
        async with self._changed:
            self.used = max(0, self.used - n)
            self._changed.notify_all()

    async def shrink(self, reserved: int, kept: int) -> int:
        """Keep ``kept`` of the ``reserved`` bytes (the decoded images were shrunk); returns ``kept``."""
        await self.release(reserved - kept)
        return kept


def _parts(message: ChatMessage) -> tuple[list[str], list[str]]:
    """The message's texts and image URLs."""
    if message.content is None:
        return [], []
    if isinstance(message.content, str):
        return [message.content], []
    texts, urls = [], []
    for k, part in enumerate(message.content):
        kind = part.get("type")
        if kind == "text":
            text = part.get("text", "")
            if not isinstance(text, str):
                raise bad_request(f"content[{k}]: text must be a string")
            texts.append(text)
        elif kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if not isinstance(url, str):
                raise bad_request(f"content[{k}]: image_url needs a url")
            urls.append(url)
        else:
            raise bad_request(f"content[{k}]: unsupported content part type {kind!r} (use text or image_url)")
    return texts, urls


def prepare_request(req: ChatRequest, limits: ServeLimits) -> Prepared:
    """Check the request's messages and open its images' headers (nothing decoded yet).

    System and developer turns become the system prompt; the single user turn becomes
    text + images. Runs in a worker thread (base64 decoding is CPU work).
    """
    system, users = [], []
    for m in req.messages:
        if m.role in ("system", "developer"):
            texts, urls = _parts(m)
            if urls:
                raise bad_request("images are accepted in the user turn only")
            system += texts
        elif m.role == "user":
            users.append(m)
        else:
            raise bad_request(f"messages with role {m.role!r} are not supported: this endpoint takes system turns "
                              "and exactly one user turn")
    if len(users) != 1:
        raise bad_request(f"expected exactly one user message, got {len(users)}")
    texts, urls = _parts(users[0])
    return Prepared("\n".join(texts), "\n".join(system) if system else None, open_images(urls, limits))


def request_to_sample(req: ChatRequest, limits: ServeLimits | None = None) -> Sample:
    """:func:`prepare_request` then :meth:`Prepared.decode`, without the server's image budget."""
    limits = limits or ServeLimits()
    return prepare_request(req, limits).decode(limits)


def check_supported(req: ChatRequest) -> None:
    """A 400 for a field this server would otherwise ignore (:data:`UNSUPPORTED`)."""
    extra = req.model_extra or {}
    for name, why in UNSUPPORTED.items():
        value = extra.get(name)
        if value not in (None, False, [], {}):
            raise bad_request(f"{name}: {why}", "unsupported_parameter")
    fmt = extra.get("response_format")
    if fmt not in (None, {"type": "text"}):
        raise bad_request("response_format: only {\"type\": \"text\"} is supported by this server (no JSON mode)",
                          "unsupported_parameter")


def stop_sequences(req: ChatRequest) -> list[str]:
    """The request's stop sequences (at most :data:`MAX_STOP`, none empty)."""
    stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    if len(stops) > MAX_STOP or any(not s for s in stops):
        raise bad_request(f"stop: give at most {MAX_STOP} non-empty stop sequences")
    return stops


def apply_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence (excluded), and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def request_params(req: ChatRequest, limits: ServeLimits) -> GenerationParams:
    """Decoding settings of a request, each checked against ``limits``; refuses what cannot be honoured."""
    check_supported(req)
    stop_sequences(req)
    if req.n != 1:
        raise bad_request("only n=1 is supported")
    if req.stream:
        raise bad_request("streaming is not supported; send stream=false")
    asked = req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens
    max_tokens = limits.default_max_tokens if asked is None else asked
    if not 1 <= max_tokens <= limits.max_tokens:
        raise bad_request(f"max_tokens must be in 1..{limits.max_tokens}, got {max_tokens}")
    if req.temperature is not None and not 0 <= req.temperature <= 2:
        raise bad_request(f"temperature must be in 0..2, got {req.temperature}")
    if req.top_p is not None and not 0 < req.top_p <= 1:
        raise bad_request(f"top_p must be in (0, 1], got {req.top_p}")
    return GenerationParams(max_new_tokens=max_tokens, temperature=1.0 if req.temperature is None else req.temperature,
                            top_p=1.0 if req.top_p is None else req.top_p, seed=req.seed)
