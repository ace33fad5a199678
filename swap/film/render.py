"""Render a visitor's video: the film's frames with the visitor's face, the film's own audio, a byte cap.

Per visitor only what depends on the visitor is done. Everything about the film comes from its
`FilmTrack` (no landmark model runs here) and from its swap *fields* (`swap.film.fields`: per covered
frame the face crop's UV, light x expression detail, alpha and coverage), which the first render of a
film computes and caches beside it (`<film>.fields`) and every later render only reads; the shape
warp's rasters (`swap.film.warpcache`, `<film>.warp`) are cached the same way. The pipeline streams:

    decode (yuv420p planes) -> batches of `BATCH` frames -> fields (cached or computed) -> per face crop:
    yuv -> RGB, sample the visitor's texture, blend, RGB -> yuv of the changed rectangle -> shape warp
    (the visitor's offsets gathered over the cached raster, one remap per plane) -> H.264 encode on a
    second thread (+ the film's audio)

so memory stays flat whatever the film's length, frames without a swapped face reach the encoder byte
for byte as decoded, and the encoder is fed yuv420p (faster than RGB). `progress(done, total)` fires once
per batch; `time_budget_s` is checked between batches and a render that runs over raises
`RenderTimeout` (the partial file, and half-written caches, are removed).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from swap.errors import SwapError, TemplateError
from swap.film import fields, io, warpcache
from swap.film.glasses import DEFAULT_GLASSES, GlassesMode, check_glasses_mode
from swap.film.hands import hold_still
from swap.film.track import FilmTrack
from swap.shape import FilmShape, FilmWarp, WarpRaster, even_warp_box, warp_i420_field
from swap.threads import single_blas_thread

if TYPE_CHECKING:
    from swap.asset import FaceAsset
    from swap.shading import DrawnTexture

Progress = Callable[[int, int], None]
BATCH = 16
ENCODE_QUEUE = 2  # batches waiting for the encoder thread
COVER_AT = 0.3  # the cover is the first fully swapped frame from this share of the film on


class RenderTimeout(SwapError):
    """The render ran past its time budget (`code` = ``"render_timeout"``); no output file is left."""

    code = "render_timeout"


DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
# Machine-readable AI label in the MP4 (QuickTime keys): the IPTC digital source type, and the implicit
# label field of China's GB 45438-2025 ("AIGC", JSON) that platforms read.
AI_METADATA: dict[str, str] = {
    "comment": "AI生成 · AI-generated (face swap)",
    "description": "AI-generated face swap (Protagonist). DigitalSourceType: trainedAlgorithmicMedia",
    "DigitalSourceType": DIGITAL_SOURCE_TYPE,
    "AIGC": '{"Label":"1","ContentProducer":"Protagonist"}',
}


@dataclass(frozen=True)
class LabelStamp:
    """A visible label drawn once, as I420 planes plus alpha, blended into every yuv420p frame."""

    x: int
    y: int
    luma: npt.NDArray[np.float32]
    chroma_u: npt.NDArray[np.float32]
    chroma_v: npt.NDArray[np.float32]
    alpha: npt.NDArray[np.float32]
    alpha_half: npt.NDArray[np.float32]

    @classmethod
    def make(cls, label: str, position: str, width: int, height: int) -> LabelStamp:
        from PIL import Image

        from swap.poster import draw_label

        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        draw_label(canvas, label, position)
        rgba = np.asarray(canvas, dtype=np.uint8)
        ys, xs = np.nonzero(rgba[..., 3])
        x0, y0 = int(xs.min()) & ~1, int(ys.min()) & ~1
        x1, y1 = min(width, (int(xs.max()) + 2) & ~1), min(height, (int(ys.max()) + 2) & ~1)
        crop = rgba[y0:y1, x0:x1]
        h, w = crop.shape[:2]
        planes = io.rgb_to_yuv(crop[..., :3]).reshape(-1).astype(np.float32)
        n = h * w
        alpha = crop[..., 3].astype(np.float32) / 255.0
        return cls(
            x=x0,
            y=y0,
            luma=planes[:n].reshape(h, w),
            chroma_u=planes[n : n + n // 4].reshape(h // 2, w // 2),
            chroma_v=planes[n + n // 4 :].reshape(h // 2, w // 2),
            alpha=alpha,
            alpha_half=alpha.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)),
        )

    def apply(self, yuv: npt.NDArray[np.uint8]) -> None:
        """Blend into I420 planes (H*3/2, W) in place (same plane layout as `io.paste_rgb_region`)."""
        width = yuv.shape[1]
        height = yuv.shape[0] * 2 // 3
        flat = yuv.reshape(-1)
        n = height * width
        planes = (
            (yuv[:height], self.luma, self.alpha, self.y, self.x),
            (flat[n : n + n // 4].reshape(height // 2, width // 2), self.chroma_u, self.alpha_half, self.y // 2, self.x // 2),
            (flat[n + n // 4 :].reshape(height // 2, width // 2), self.chroma_v, self.alpha_half, self.y // 2, self.x // 2),
        )  # fmt: skip
        for plane, ink, alpha, top, left in planes:
            region = plane[top : top + ink.shape[0], left : left + ink.shape[1]]
            mixed = region * (1.0 - alpha) + ink * alpha
            region[...] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class FilmResult:
    """A finished video: where it is, its cover JPEG, duration, size and frame count."""

    path: Path
    cover_jpeg: bytes
    duration_s: float
    size_bytes: int
    frames: int


class _EncoderThread:
    """Encodes batches on a second thread so that x264 works while torch renders the next batch.

    Both release the GIL, so on CPU the render hides behind the encode (or vice versa) instead of adding
    to it. The queue is bounded (`ENCODE_QUEUE` batches) to keep memory flat; an encoder error is raised
    on the render thread at the next `put` or at `finish`.
    """

    def __init__(self, writer: io.FilmWriter) -> None:
        self._writer = writer
        self._queue: queue.Queue[list[npt.NDArray[np.uint8]] | None] = queue.Queue(maxsize=ENCODE_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="film-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # drain after a failure so the producer never blocks
            try:
                for data in item:
                    self._writer.write(data)
            except BaseException as exc:  # handed to the render thread
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, frames: list[npt.NDArray[np.uint8]]) -> None:
        self._raise()
        self._queue.put(frames)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise()

    def stop(self) -> None:
        """After a failure on the render thread: let the encoder drain and end (its output is discarded)."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("render stopped")
            self._queue.put(None)
            self._thread.join()


def _field_device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Torch on one intra-op thread for a block that runs beside x264 (process-wide, restored after).

    On CPU torch's intra-op threads and x264's fight for the cores: on 2 cores, fields for 282 frames of
    720p took 9.4-9.8 s next to the encoder with torch's default 2 threads and 2.3-3.0 s with one (whole
    render 15 s -> 7-9 s); the shape warp's raster costs 2.0-2.4 ms of CPU per frame with 2 threads and
    1.2 ms with one.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fields_beside_encoder(
    track: FilmTrack, indices: list[int], device: str, glasses: GlassesMode
) -> list[fields.FaceFields | None]:
    """Compute fields while x264 encodes on the other cores (a first render without cached fields)."""
    if device.startswith("cuda"):
        return fields.compute_fields(track, indices, device, glasses)
    with _one_torch_thread():
        return fields.compute_fields(track, indices, device, glasses)


def _film_shape(asset: FaceAsset, track: FilmTrack) -> FilmShape | None:
    """The visitor's shape against the actor's mean shape over the film (None: no covered frame)."""
    frames = [track.landmarks(int(i)) for i in np.flatnonzero(track.covered)]
    return FilmShape(asset.shape, frames) if frames else None


def face_motion(track: FilmTrack, index: int) -> tuple[float, float] | None:
    """The face's motion (px per frame) at frame `index`: central difference of the tracked landmarks'
    mean over the covered neighbours (None without one)."""
    lo, hi = max(index - 1, 0), min(index + 1, track.frames - 1)
    if hi - lo < 1 or not (track.covered[lo] and track.covered[hi]):
        return None
    d = track.landmarks(hi)[:468, :2].mean(axis=0) - track.landmarks(lo)[:468, :2].mean(axis=0)
    return float(d[0]) / (hi - lo), float(d[1]) / (hi - lo)


def face_texels_per_px(track: FilmTrack, index: int, texture_px: int) -> float:
    """Texels of the visitor's texture per pixel of frame `index`'s face (`swap.shading.texels_per_pixel`):
    how much the texture is prefiltered there."""
    from swap.mesh import render_mesh
    from swap.shading import texels_per_pixel
    from swap.uv import MESH_LEVEL

    mesh = render_mesh(MESH_LEVEL)
    return texels_per_pixel(mesh.positions(track.landmarks(index)), mesh.uv, texture_px)


def _warp_batch(shape: FilmShape, warps: _WarpSource, frames: list[io.Frame]) -> None:
    """The shape warp of the composited frames: per frame the film's raster (`_WarpSource`) and the
    visitor's offsets in that frame give the field (a gather, `FilmWarp.field`), then one remap
    per plane."""
    for f, raster in zip(frames, warps.batch(frames), strict=True):
        if raster is not None:
            offsets = shape.offsets(warps.track.landmarks(f.index), float(warps.track.strength[f.index]))
            field = hold_still(warps.warp.field(raster, offsets), warps.track.hands_at(f.index), raster.box)
            warp_i420_field(f.data, raster.box, field)


def _check_track(track: FilmTrack, info: io.FilmInfo) -> None:
    if (track.width, track.height) != (info.width & ~1, info.height & ~1) or abs(
        track.frames - info.frames
    ) > 1:
        raise TemplateError(
            "track_mismatch",
            f"the track was made for a {track.width}x{track.height} film of {track.frames} frames, "
            f"but {info.path.name} is {info.width}x{info.height} with {info.frames} frames: re-ingest the film",
        )


def _track_for(film_path: Path, info: io.FilmInfo, track: FilmTrack | None) -> FilmTrack:
    """The given track, else the one saved beside the film; either must match the film."""
    if track is None:
        try:
            track = FilmTrack.for_film(film_path)
        except FileNotFoundError as exc:
            raise TemplateError("not_ingested", str(exc)) from exc
    _check_track(track, info)
    return track


def _cover_index(track: FilmTrack, total: int) -> int:
    """The cover frame: the first covered frame from `COVER_AT` of the film on (else the first covered)."""
    covered = np.where(track.covered)[0]
    later = covered[covered >= int(COVER_AT * track.frames)]
    return int(later[0]) if later.size else (int(covered[0]) if covered.size else total // 2)


def _on_error(cleanup: Callable[[], object]) -> Callable[[type[BaseException] | None, object, object], bool]:
    """An `ExitStack.push` callback that runs `cleanup` only when the block is left by an exception."""

    def exit_(exc_type: type[BaseException] | None, exc: object, tb: object) -> bool:
        if exc_type is not None:
            cleanup()
        return False

    return exit_


@dataclass
class _FieldsSource:
    """Where a render's fields come from: the film's cache (`reader`), or computed per batch on
    `device` and written to a new cache as they come (`building`, None where it cannot be written)."""

    track: FilmTrack
    device: str
    glasses: GlassesMode
    reader: fields.FieldsReader | None
    building: fields.FieldsWriter | None

    @classmethod
    def open(
        cls, cleanup: ExitStack, film_path: Path, track: FilmTrack, device: str, glasses: GlassesMode
    ) -> _FieldsSource:
        """Open the cache or start building it; `cleanup` closes the reader, or drops a half-built cache."""
        key = fields.fields_key(track, glasses)
        cache = fields.fields_path(film_path)
        reader = fields.FieldsReader.open(cache, key, track.frames)
        if reader is not None:
            cleanup.callback(reader.close)
            return cls(track, device, glasses, reader, None)
        building = fields.FieldsWriter.open(cache, key, track.frames)
        if building is not None:
            cleanup.push(_on_error(building.abort))
        return cls(track, device, glasses, None, building)

    def batch(self, frames: list[io.Frame]) -> list[fields.FaceFields | None]:
        if self.reader is not None:
            return [self.reader.get(f.index) for f in frames]
        per_frame = _fields_beside_encoder(self.track, [f.index for f in frames], self.device, self.glasses)
        if self.building is not None:
            for f, ff in zip(frames, per_frame, strict=True):
                self.building.put(f.index, ff)
        return per_frame

    def commit(self) -> None:
        """Publish a cache built during this render."""
        if self.building is not None:
            self.building.commit()


@dataclass
class _WarpSource:
    """Where a render's shape-warp rasters come from: the film's warp cache (`reader`), or rasterised
    per batch (`FilmWarp.rasters`, on one torch thread beside x264) and written to a new cache as they
    come (`building`, None where it cannot be written). Film-only, like `_FieldsSource`: the first
    render of a film builds the cache and every later visitor only reads it."""

    track: FilmTrack
    warp: FilmWarp
    reader: warpcache.WarpReader | None
    building: warpcache.WarpWriter | None

    @classmethod
    def open(cls, cleanup: ExitStack, film_path: Path, track: FilmTrack, shape: FilmShape) -> _WarpSource:
        """Open the cache (with the film's triangulation) or start building it; `cleanup` closes the
        reader, or drops a half-built cache."""
        key = warpcache.warp_key(track, shape.mean)
        cache = warpcache.warp_path(film_path)
        reader = warpcache.WarpReader.open(cache, key, track.frames)
        if reader is not None:
            cleanup.callback(reader.close)
            return cls(track, FilmWarp(shape.mean, reader.triangles), reader, None)
        warp = FilmWarp(shape.mean)
        building = warpcache.WarpWriter.open(cache, key, track.frames, warp.triangles)
        if building is not None:
            cleanup.push(_on_error(building.abort))
        return cls(track, warp, None, building)

    def batch(self, frames: list[io.Frame]) -> list[WarpRaster | None]:
        """Each frame's raster; None where the warp leaves the frame alone (faded out, or a face box
        under 8 px)."""
        if self.reader is not None:
            return [self.reader.get(f.index) for f in frames]
        out: list[WarpRaster | None] = [None] * len(frames)
        todo = []
        for k, f in enumerate(frames):
            if float(self.track.strength[f.index]) <= 0.0:
                continue
            points = self.track.landmarks(f.index)
            box = even_warp_box(points, f.data.shape[1], f.data.shape[0] * 2 // 3)
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                todo.append((k, points, box))
        if todo:
            with _one_torch_thread():
                rasters = self.warp.rasters([t[1] for t in todo], [t[2] for t in todo])
            for (k, _, _), raster in zip(todo, rasters, strict=True):
                out[k] = raster
                if self.building is not None:
                    self.building.put(frames[k].index, raster)
        return out

    def commit(self) -> None:
        """Publish a cache built during this render."""
        if self.building is not None:
            self.building.commit()


@dataclass(frozen=True)
class _VisitorSwap:
    """What a batch of decoded frames gets: the visitor's texture composited through the film's fields,
    then (with shape transfer) the face moved to the visitor's proportions."""

    track: FilmTrack
    texture: DrawnTexture
    film_shape: FilmShape | None
    warps: _WarpSource | None

    def apply(self, batch: list[io.Frame], per_frame: list[fields.FaceFields | None]) -> None:
        for f, ff in zip(batch, per_frame, strict=True):
            if ff is not None:
                texture = self.texture.at(face_texels_per_px(self.track, f.index, self.texture.base.shape[0]))
                fields.composite_fields(f.data, ff, texture, motion=face_motion(self.track, f.index))
        if self.film_shape is not None and self.warps is not None:
            # render first, then move the face to the visitor's proportions (swap.shape)
            _warp_batch(
                self.film_shape,
                self.warps,
                [f for f, ff in zip(batch, per_frame, strict=True) if ff is not None],
            )


def render_film_frame(
    face_asset: FaceAsset,
    film_path: Path | str,
    track: FilmTrack,
    index: int,
    *,
    glasses: GlassesMode = DEFAULT_GLASSES,
    shape_transfer: bool = True,
) -> io.ImageArray | None:
    """Frame `index` of the film as `render_film` would draw it for `face_asset` (RGB), without
    touching the film's caches; None when the film has no such frame. For editors' previews: the
    film path itself (fields, the glasses choice, shape transfer), not a still's."""
    from swap.shading import DrawnTexture, visitor_detail

    film_path = Path(film_path)
    glasses = check_glasses_mode(glasses)
    frame = next(
        (f for f in islice(io.iter_frames(film_path, "yuv420p"), index + 1) if f.index == index), None
    )
    if frame is None:
        return None
    film_shape = _film_shape(face_asset, track) if shape_transfer else None
    warps = None if film_shape is None else _WarpSource(track, FilmWarp(film_shape.mean), None, None)
    texture = DrawnTexture(visitor_detail(face_asset.albedo, face_asset.low))
    per_frame = fields.compute_fields(track, [index], _field_device(None), glasses)
    _VisitorSwap(track, texture, film_shape, warps).apply([frame], per_frame)
    return io.yuv_to_rgb(frame.data)


def _batches(frames: Iterator[io.Frame], size: int) -> Iterator[list[io.Frame]]:
    """The decoded frames in lists of `size` (the last one shorter)."""
    batch: list[io.Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_budget(
    film_path: Path, started: float, time_budget_s: float | None, done: int, total: int
) -> None:
    if time_budget_s is not None and time.perf_counter() - started > time_budget_s:
        raise RenderTimeout(
            f"rendering {film_path.name} took more than {time_budget_s:.0f} s ({done} of {total} frames done)"
        )


def render_film(
    face_asset: FaceAsset | bytes,
    film_path: Path | str,
    track: FilmTrack | None = None,
    out_path: Path | str | None = None,
    progress: Progress | None = None,
    *,
    target_size_bytes: int = io.DEFAULT_TARGET_SIZE,
    time_budget_s: float | None = None,
    device: str | None = None,
    batch_size: int = BATCH,
    label: str | None = None,
    label_position: str = "bottom-right",
    metadata: dict[str, str] | None = None,
    shape_transfer: bool = True,
    glasses: GlassesMode = DEFAULT_GLASSES,
) -> FilmResult:
    """Render `face_asset` into every covered frame of `film_path` and encode to `out_path` (required).

    `track` defaults to the `<film>.track.npz` beside the film. Raises `TemplateError` (film unreadable,
    track missing or made for another film) and `RenderTimeout`. `label` is burned into every frame
    (and the cover) in a corner; the file always carries the machine-readable AI label
    (`AI_METADATA`, merged with `metadata`), as the deep-synthesis labelling rules require. On any
    error the partial video and half-built fields and warp caches are removed. `glasses` is the
    editor's choice for the actor's glasses (`swap.film.glasses`: ``removed`` or ``kept`` in front).
    """
    single_blas_thread()
    from swap.asset import FaceAsset
    from swap.shading import DrawnTexture, visitor_detail

    started = time.perf_counter()
    if out_path is None:
        raise ValueError("out_path is required: where to write the video")
    glasses = check_glasses_mode(glasses)
    out_path = Path(out_path)
    film_path = Path(film_path)
    asset = FaceAsset.from_bytes(face_asset) if isinstance(face_asset, bytes | bytearray) else face_asset
    info = io.probe(film_path)
    track = _track_for(film_path, info, track)
    film_shape = _film_shape(asset, track) if shape_transfer else None
    texture = DrawnTexture(visitor_detail(asset.albedo, asset.low))
    total = info.frames
    cover_index = _cover_index(track, total)
    cover: bytes | None = None
    done = 0
    with ExitStack() as cleanup:
        source = _FieldsSource.open(cleanup, film_path, track, _field_device(device), glasses)
        warps = _WarpSource.open(cleanup, film_path, track, film_shape) if film_shape is not None else None
        visitor_swap = _VisitorSwap(track, texture, film_shape, warps)
        writer = io.writer_for(
            info, out_path, target_size_bytes, metadata={**AI_METADATA, **(metadata or {})}
        )
        cleanup.push(_on_error(lambda: out_path.unlink(missing_ok=True)))
        cleanup.push(_on_error(writer.abort))
        stamp = LabelStamp.make(label, label_position, writer.width, writer.height) if label else None
        encoder = _EncoderThread(writer)
        cleanup.push(_on_error(encoder.stop))
        for batch in _batches(io.iter_frames(film_path, "yuv420p"), batch_size):
            visitor_swap.apply(batch, source.batch(batch))
            for f in batch:
                if stamp is not None:
                    stamp.apply(f.data)
                if f.index == cover_index:
                    cover = io.cover_jpeg(io.yuv_to_rgb(f.data))
            encoder.put([f.data for f in batch])
            done += len(batch)
            if progress is not None:
                progress(min(done, total), total)
            _check_budget(film_path, started, time_budget_s, done, total)
        encoder.finish()
        size = writer.close()
        source.commit()
        if warps is not None:
            warps.commit()
    if cover is None:  # the film had fewer frames than its header said
        cover = io.cover_jpeg(np.zeros((info.height, info.width, 3), np.uint8))
    return FilmResult(out_path, cover, writer.frames / float(info.fps), size, writer.frames)
