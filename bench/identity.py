"""Is the visitor recognisable? The engine's swaps judged by an independent face recogniser.

    python bench/identity.py [--set tune|held|all] [--pairs SUBSTR] [--limit N] [--out DIR]
                             [--compare-ref REF] [--engine-ref REF] [--side-light DARK]
    python bench/identity.py --films [--pairs SUBSTR] [--frames 40] [--quality-frames 150]
                             [--film-glasses removed|kept]

Stills mode (the default): gender-matched (visitor photo, film frame) pairs from the shared media
(`PROTAGONIST_SHARED_MEDIA`, else ../shared/media): each photo meets `--per-photo` films of the
visitor's gender, one of the two most frontal frames of each (chosen by Face Mesh, cached under
var/bench/identity/cache). Per pair it renders "ours" through the engine's public still path (the CLI
`python -m swap`, see bench/ours_driver.py) and a classic swap written in the bench
(bench/classic_swap.py), and judges both with dlib's ResNet descriptor (bench/judge.py):

* d_vis  = distance of the output to the visitor photo (lower = more like the visitor),
* d_orig = distance of the output to the untouched frame (higher = less of the actor left),
* recognised = d_vis < 0.6 (dlib's "same person"), transferred = d_vis < d_orig.

The pairs are split by visitor into a tune set and a fixed held set (about a third of the photos,
never to be tuned on) and summarised separately. `--compare-ref REF` renders "ours" a second time
with the engine of another git ref (a temporary `git worktree`) as a "before" column.
`--side-light DARK` lights every visitor photo through a window first (`window_lit`: the face's
left half at DARK x the light), and judges the swaps against the original photo: the engine's
side-light evening measured on every photo, not only the one window-lit sample. Each run
writes a contact sheet (photo | target | ours | classic [| before], faces at phone size) and the
figures as JSON under `--out` (default var/bench/identity/).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from classic_swap import classic_swap, face_mesh, mesh_box  # noqa: E402
from judge import SAME_PERSON, FaceJudge, Judgement  # noqa: E402
from media import media_root  # noqa: E402

ImageArray = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]

DEFAULT_OUT = ROOT / "var" / "bench" / "identity"
CACHE_VERSION = 1  # bump when the frame choice changes

# The visitor chooses the gender on the platform; the bench pairs as the campaign would. Read from
# ../shared/media/SOURCES.md. Tags say which hard cases a photo stands for (the held set must have
# each of smiling, glasses, east_asian, older, low_light, and so must the tune set).
PHOTOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "obama_official_portrait.jpg": ("m", ()),
    "einstein_bw_historic.jpg": ("m", ("low_res",)),
    "older_man_glasses_low_light.jpg": ("m", ("older", "glasses", "low_light")),
    "east_asian_man_glasses_dim.jpg": ("m", ("east_asian", "glasses", "low_light", "smiling")),
    "east_asian_older_man_glasses.png": ("m", ("east_asian", "older", "glasses", "smiling")),
    "older_man_black_glasses.jpg": ("m", ("older", "glasses", "smiling")),
    "older_man_smiling_teeth.jpg": ("m", ("older", "smiling")),
    "man_side_lit_textured_wall.jpeg": ("m", ("side_light",)),
    "man_curly_hair_glasses.jpg": ("m", ("glasses",)),  # the judge finds no face in it: skipped
    "woman_shouting_yellow_wall.jpg": ("f", ("expression", "hard_light")),
    "teen_girl_black_fairface.jpg": ("f", ("low_res",)),
    "business_woman.png": ("f", ()),
    "woman_neutral_frown.png": ("f", ("expression",)),
    "asian_woman_hand_on_chin.png": ("f", ("east_asian", "hand")),
    "east_asian_woman_beauty_filtered.jpg": ("f", ("east_asian",)),
    "east_asian_woman_phone_selfie.jpeg": ("f", ("east_asian", "turned")),
    "east_asian_woman_smiling_blurry_lowres.png": ("f", ("east_asian", "smiling", "older", "low_res")),
    "woman_open_smile_teeth_small.jpg": ("f", ("smiling", "low_res")),
}
HELD = frozenset(
    {
        "east_asian_man_glasses_dim.jpg",
        "older_man_black_glasses.jpg",
        "man_side_lit_textured_wall.jpeg",
        "teen_girl_black_fairface.jpg",
        "east_asian_woman_beauty_filtered.jpg",
        "woman_open_smile_teeth_small.jpg",
    }
)
FILMS: dict[str, str] = {
    "woman_indoor_720p.mp4": "f",
    "woman_outdoor_dusk_720p.mp4": "f",
    "woman_walking_vertical.mp4": "f",
    "woman_head_turns.mp4": "f",
    "woman_talking_big_expressions.mp4": "f",
    "east_asian_woman_winks_expressions.mp4": "f",
    "man_glasses_vertical_selfie.mp4": "m",
    "obama_address_256px.mp4": "m",
    "hamilton_stage_clip_360p_hard.mp4": "m",
    "man_suit_speech.mp4": "m",
    "man_glasses_smiling_grey_bg.mp4": "m",
    "east_asian_man_outdoor_warm_brightening.mp4": "m",
    "east_asian_man_glasses_talking_bedroom.mp4": "m",
}
# The same person in photo and film: "transferred" means nothing there.
SAME_IDENTITY = frozenset(
    {
        ("obama_official_portrait.jpg", "obama_address_256px.mp4"),
        ("east_asian_man_glasses_dim.jpg", "east_asian_man_glasses_talking_bedroom.mp4"),
    }
)


@dataclass(frozen=True)
class Pair:
    photo: str
    film: str
    frame: int  # 0 or 1: which of the film's two frontal frames
    held: bool

    @property
    def name(self) -> str:
        return f"{Path(self.photo).stem}->{Path(self.film).stem}#{self.frame}"


def gender_pairs(per_photo: int) -> list[Pair]:
    """Each photo with `per_photo` films of its gender, rotating so every film is used about equally."""
    pairs: list[Pair] = []
    uses: dict[str, int] = {}  # a film's two frames are used in turn
    for gender in ("f", "m"):
        photos = [p for p, (g, _) in PHOTOS.items() if g == gender]
        films = [f for f, g in FILMS.items() if g == gender]
        k = 0
        for photo in photos:
            chosen: list[str] = []
            while len(chosen) < min(per_photo, len(films) - 1):
                film = films[k % len(films)]
                k += 1
                if (photo, film) not in SAME_IDENTITY and film not in chosen:
                    chosen.append(film)
            for film in chosen:
                uses[film] = uses.get(film, -1) + 1
                pairs.append(Pair(photo, film, uses[film] % 2, photo in HELD))
    return pairs


# --- media -------------------------------------------------------------------------------------


def load_photo(path: Path) -> ImageArray:
    """The photo upright (EXIF orientation applied), RGB."""
    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def window_lit(rgb: ImageArray, points: Points, dark: float) -> ImageArray:
    """The photo as if lit through a window on its right (`--side-light`): everything left of the
    face's midline (forehead 10 -> chin 152) at `dark` x the light, in linear light, with a terminator
    10 % of the face width wide. A known answer for the engine's side-light evening on every photo,
    not only the one window-lit sample."""
    a, b = points[10, :2], points[152, :2]
    normal = np.array([b[1] - a[1], a[0] - b[0]], np.float32)
    normal /= max(float(np.linalg.norm(normal)), 1e-6)
    if normal[0] < 0:
        normal = -normal  # positive toward the image's right
    h, w = rgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    width = float(np.ptp(points[:, 0]))
    side = ((xs - a[0]) * normal[0] + (ys - a[1]) * normal[1]) / max(width, 1.0)
    x = np.clip((side + 0.05) / 0.10, 0.0, 1.0)
    light = dark + (1.0 - dark) * x * x * (3 - 2 * x)
    linear = np.power(rgb.astype(np.float32) / 255.0, 2.2) * light[..., None]
    return np.clip(np.power(linear, 1 / 2.2) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def decode_frames(path: Path, keep: Callable[[int], bool] | None = None) -> list[tuple[int, ImageArray]]:
    """Decoded upright RGB frames of a film (those whose index `keep` accepts), with their indices."""
    import av

    frames: list[tuple[int, ImageArray]] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if keep is not None and not keep(i):
                continue
            rgb = frame.to_ndarray(format="rgb24")
            turns = round(float(getattr(frame, "rotation", 0) or 0) / 90) % 4
            if turns:
                rgb = np.ascontiguousarray(np.rot90(rgb, turns))
            frames.append((i, rgb))
    return frames


def frontal_score(points: Points) -> float:
    """0 for a face looking into the camera, larger for yaw (nose off the eye midline) and roll."""
    left, right, nose = points[33, :2], points[263, :2], points[1, :2]
    iod = float(np.linalg.norm(right - left))
    mid = (left + right) / 2
    yaw = abs(float(nose[0] - mid[0])) / iod
    roll = abs(float(np.arctan2(right[1] - left[1], right[0] - left[0])))
    return yaw + 0.5 * roll


@dataclass(frozen=True)
class Target:
    """One film frame to swap into: its file (for the CLI), pixels and Face Mesh landmarks."""

    film: str
    index: int
    path: Path
    rgb: ImageArray
    points: Points


def film_targets(film: Path, cache: Path, samples: int = 24) -> list[Target]:
    """The film's two most frontal frames at least a third of the film apart (cached on disk)."""
    st = film.stat()
    folder = cache / "targets" / f"{film.stem}-{st.st_size}-{st.st_mtime_ns}-v{CACHE_VERSION}"
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        import av

        with av.open(str(film)) as container:
            n = container.streams.video[0].frames or 0
        if n <= 0:
            n = sum(1 for _ in decode_frames(film, keep=lambda i: False)) or 1
        wanted = {round(i * (n - 1) / (samples - 1)) for i in range(samples)}
        scored = []
        for index, rgb in decode_frames(film, keep=wanted.__contains__):
            pts = face_mesh(rgb)
            if pts is None or mesh_box(pts)[2] - mesh_box(pts)[0] < 80:
                continue
            scored.append((frontal_score(pts), index, rgb, pts))
        if not scored:
            raise RuntimeError(f"{film.name}: no frontal face in {samples} sampled frames")
        scored.sort(key=lambda s: s[0])
        best = scored[0]
        far = [s for s in scored[1:] if abs(s[1] - best[1]) >= n / 3] or scored[1:2] or [best]
        folder.mkdir(parents=True, exist_ok=True)
        meta = []
        for k, (_, index, rgb, pts) in enumerate((best, far[0])):
            Image.fromarray(rgb).save(folder / f"frame{k}.png")
            np.save(folder / f"frame{k}.npy", pts)
            meta.append(index)
        meta_path.write_text(json.dumps({"indices": meta}))
    indices = json.loads(meta_path.read_text())["indices"]
    return [
        Target(
            film.name,
            index,
            folder / f"frame{k}.png",
            np.asarray(Image.open(folder / f"frame{k}.png").convert("RGB")),
            np.load(folder / f"frame{k}.npy"),
        )
        for k, index in enumerate(indices)
    ]


# --- scoring -----------------------------------------------------------------------------------


@dataclass
class Score:
    d_vis: float
    d_orig: float
    found_by: str

    @property
    def recognised(self) -> bool:
        return self.d_vis < SAME_PERSON

    @property
    def transferred(self) -> bool:
        return self.d_vis < self.d_orig


@dataclass
class Row:
    pair: Pair
    target: Target
    images: dict[str, ImageArray] = field(default_factory=dict)
    scores: dict[str, Score] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def score(judge: FaceJudge, out: ImageArray, box: Box, visitor: Judgement, original: Judgement) -> Score:
    """Judge one output: its face is where the target's was (`box`, from the target's Face Mesh)."""
    got = judge.descriptor(out, box)
    assert got is not None  # a box hint always yields a descriptor
    return Score(judge.distance(got, visitor), judge.distance(got, original), got.found_by)


def render_ours_ref(ref: str, jobs: list[dict[str, str]]) -> tuple[str, list[dict[str, Any]]]:
    """Render `jobs` with the engine of git ref `ref`: a temporary worktree, the same venv, a subprocess."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if sha.returncode != 0:
        raise SystemExit(f"--compare-ref: {ref!r} is not a commit here ({sha.stderr.strip()})")
    tmp = Path(tempfile.mkdtemp(prefix="identity-ref-"))
    worktree = tmp / "tree"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "--quiet", str(worktree), sha.stdout.strip()],
        cwd=ROOT,
        check=True,
    )
    try:
        jobs_path, results_path = tmp / "jobs.json", tmp / "results.json"
        jobs_path.write_text(json.dumps(jobs))
        env = {**os.environ, "PYTHONPATH": str(worktree)}
        proc = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "ours_driver.py"), str(jobs_path), str(results_path)],
            env=env,
            cwd=worktree,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(f"--compare-ref {ref}: the engine at that ref failed:\n{proc.stderr[-3000:]}")
        answer = json.loads(results_path.read_text())
        if not Path(answer["engine"]).is_relative_to(worktree.resolve()):
            raise SystemExit(f"--compare-ref: rendered with {answer['engine']}, not the worktree of {ref}")
        return sha.stdout.strip()[:10], answer["results"]
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def run_stills(args: argparse.Namespace) -> dict[str, Any]:
    media = media_root()
    if not (media / "photos").is_dir():
        raise SystemExit(f"no shared media at {media} (set PROTAGONIST_SHARED_MEDIA)")
    out: Path = args.out
    cache = out / "cache"
    pairs = [p for p in gender_pairs(args.per_photo) if args.set == "all" or p.held == (args.set == "held")]
    if args.pairs:
        pairs = [p for p in pairs if matches(args.pairs, p.name)]
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        raise SystemExit("no pair matches the filters")
    judge = FaceJudge()

    t0 = time.perf_counter()
    photos: dict[str, tuple[ImageArray, Points, Judgement]] = {}
    photo_files: dict[str, Path] = {}  # what the engine is given: the photo, or its lit copy
    for name in sorted({p.photo for p in pairs}):
        rgb = load_photo(media / "photos" / name)
        pts = face_mesh(rgb)
        got = judge.descriptor(rgb, mesh_box(pts)) if pts is not None else None
        if pts is None or got is None or got.found_by != "hog":
            print(f"skip {name}: the judge finds no face in it (dlib HOG)")
            continue
        photo_files[name] = media / "photos" / name
        if args.side_light:  # the engine and the classic get the lit photo, the judge the original
            rgb = window_lit(rgb, pts, args.side_light)
            photo_files[name] = out / "lit" / f"{Path(name).stem}.png"
            photo_files[name].parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(photo_files[name])
        photos[name] = (rgb, pts, got)
    targets: dict[str, list[Target]] = {}
    originals: dict[tuple[str, int], Judgement] = {}
    for film in sorted({p.film for p in pairs}):
        targets[film] = film_targets(media / "films" / film, cache)
        for k, t in enumerate(targets[film]):
            got = judge.descriptor(t.rgb, mesh_box(t.points))
            assert got is not None
            originals[film, k] = got
    print(f"prepared {len(photos)} photos, {len(targets)} films in {time.perf_counter() - t0:.1f} s")

    rows = [Row(p, targets[p.film][p.frame]) for p in pairs if p.photo in photos]
    render_dir = out / "renders"
    render_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        {
            "photo": str(photo_files[r.pair.photo]),
            "target": str(r.target.path),
            "out": str(render_dir / f"{r.pair.name.replace('->', '__').replace('#', '_')}.png"),
        }
        for r in rows
    ]
    methods = ["ours", "classic"]
    if args.engine_ref:
        sha, ours = render_ours_ref(args.engine_ref, jobs)
        print(f"ours = the engine of {args.engine_ref} ({sha}), not the working tree")
    else:
        ours = _render_here(jobs)
    results = {"ours": ours}
    if args.compare_ref:
        ref_jobs = [{**j, "out": j["out"].replace(".png", ".before.png")} for j in jobs]
        sha, results["before"] = render_ours_ref(args.compare_ref, ref_jobs)
        print(f"before = {args.compare_ref} ({sha})")
        methods.append("before")
        jobs_by_method = {"ours": jobs, "before": ref_jobs}
    else:
        jobs_by_method = {"ours": jobs}

    refused: dict[str, str] = {}
    kept: list[Row] = []
    for i, row in enumerate(rows):
        res = results["ours"][i]
        if res["rc"] == 2:
            refused.setdefault(row.pair.photo, res["stderr"].splitlines()[-1])
            continue
        if res["rc"] != 0:
            print(f"{row.pair.name}: the engine failed (exit {res['rc']}): {res['stderr'][-300:]}")
            continue
        prgb, ppts, pdesc = photos[row.pair.photo]
        box = mesh_box(row.target.points)
        original = originals[row.pair.film, row.pair.frame]
        for method in results:
            r = results[method][i]
            if r["rc"] != 0:
                print(f"{row.pair.name}: {method} exit {r['rc']}: {r['stderr'][-200:]}")
                continue
            row.images[method] = load_photo(Path(jobs_by_method[method][i]["out"]))
            row.seconds[method] = r["seconds"]
        t1 = time.perf_counter()
        row.images["classic"] = classic_swap(prgb, ppts, row.target.rgb, row.target.points)
        row.seconds["classic"] = time.perf_counter() - t1
        for method, img in row.images.items():
            row.scores[method] = score(judge, img, box, pdesc, original)
        kept.append(row)
    for photo, reason in refused.items():
        print(f"skip {photo}: the engine refuses it: {reason}")

    print_rows(kept, methods)
    summary = {}
    for label, subset in (
        ("tune", [r for r in kept if not r.pair.held]),
        ("held", [r for r in kept if r.pair.held]),
    ):
        if subset:
            summary[label] = summarise(subset, methods)
            print_summary(label, summary[label], methods)
    print(f"judge: {judge.found_by['hog']} faces found by HOG, {judge.found_by['hint']} by the Face Mesh box")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sheet = out / f"stills-{stamp}.png"
    contact_sheet(kept, photos, ["photo", "target", *methods], sheet)
    figures = {
        "rows": [
            {
                "pair": r.pair.name,
                "set": "held" if r.pair.held else "tune",
                "frame": r.target.index,
                **{
                    m: {"d_vis": s.d_vis, "d_orig": s.d_orig, "found_by": s.found_by}
                    for m, s in r.scores.items()
                },
                "seconds": r.seconds,
            }
            for r in kept
        ],
        "summary": summary,
        "refused": refused,
        "judge_found_by": dict(judge.found_by),
    }
    (out / f"stills-{stamp}.json").write_text(json.dumps(figures, indent=1))
    print(f"wrote {sheet} and its .json ({time.perf_counter() - t0:.0f} s in all)")
    return figures


def _render_here(jobs: list[dict[str, str]]) -> list[dict[str, Any]]:
    from ours_driver import render_jobs

    return render_jobs(jobs)


def summarise(rows: Sequence[Row], methods: Sequence[str]) -> dict[str, Any]:
    """Per method: mean/median d_vis and d_orig, shares recognised/transferred, mean render time."""
    out: dict[str, Any] = {"pairs": len(rows)}
    for m in methods:
        s = [r.scores[m] for r in rows if m in r.scores]
        if not s:
            continue
        out[m] = {
            "mean_d_vis": statistics.fmean(x.d_vis for x in s),
            "median_d_vis": statistics.median(x.d_vis for x in s),
            "mean_d_orig": statistics.fmean(x.d_orig for x in s),
            "median_d_orig": statistics.median(x.d_orig for x in s),
            "recognised": sum(x.recognised for x in s) / len(s),
            "transferred": sum(x.transferred for x in s) / len(s),
            "seconds": statistics.median(
                r.seconds[m] for r in rows if m in r.seconds
            ),  # the first includes start-up
        }
    for m in methods:
        if m != "classic" and m in out and "classic" in out:
            out[m]["median_minus_classic"] = out[m]["median_d_vis"] - out["classic"]["median_d_vis"]
            out[m]["beats_classic"] = sum(
                r.scores[m].d_vis < r.scores["classic"].d_vis for r in rows if m in r.scores
            )
    if "before" in out and "ours" in out:
        out["ours"]["beats_before"] = sum(
            r.scores["ours"].d_vis < r.scores["before"].d_vis for r in rows if "before" in r.scores
        )
    return out


def print_rows(rows: Sequence[Row], methods: Sequence[str]) -> None:
    head = f"{'pair':<62} {'set':<4}"
    for m in methods:
        head += f" | {m + ' d_vis':>13} {'d_orig':>6} rec tra {'s':>5}"
    print(head)
    for r in rows:
        line = f"{r.pair.name:<62} {'held' if r.pair.held else 'tune':<4}"
        for m in methods:
            if m not in r.scores:
                line += " | " + " " * 34
                continue
            s = r.scores[m]
            mark = "*" if s.found_by == "hint" else " "
            line += (
                f" | {s.d_vis:>12.3f}{mark} {s.d_orig:>6.3f} {'yes' if s.recognised else ' no'}"
                f" {'yes' if s.transferred else ' no'} {r.seconds[m]:>5.2f}"
            )
        print(line)
    print("(* = output face not found by HOG, scored in the Face Mesh box; s = seconds per render)")


def print_summary(label: str, summary: dict[str, Any], methods: Sequence[str]) -> None:
    n = summary["pairs"]
    print(f"\n{label}: {n} pairs")
    print(
        f"{'':<8} {'mean d_vis':>10} {'med d_vis':>9} {'mean d_orig':>11} {'med d_orig':>10}"
        f" {'recognised':>10} {'transferred':>11} {'s/render':>8}  vs classic (s = median)"
    )
    for m in methods:
        if m not in summary:
            continue
        s = summary[m]
        vs = ""
        if "median_minus_classic" in s:
            vs = f"median {s['median_minus_classic']:+.3f}, better on {s['beats_classic']}/{n}"
        if "beats_before" in s:
            vs += f"; better than before on {s['beats_before']}/{n}"
        print(
            f"{m:<8} {s['mean_d_vis']:>10.3f} {s['median_d_vis']:>9.3f} {s['mean_d_orig']:>11.3f}"
            f" {s['median_d_orig']:>10.3f} {s['recognised']:>10.0%} {s['transferred']:>11.0%}"
            f" {s['seconds']:>8.2f}  {vs}"
        )


# --- contact sheet -----------------------------------------------------------------------------

CELL = 256


def face_crop(rgb: ImageArray, box: Box, size: int = CELL) -> ImageArray:
    """A square crop around a face (1.6x its mesh box), resized to `size`: the face as a phone shows it."""
    import cv2

    x0, y0, x1, y1 = box
    side = 1.6 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    m = np.float32(
        [[size / side, 0, size / 2 - cx * size / side], [0, size / side, size / 2 - cy * size / side]]
    )
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def draw_sheet(
    rows: Sequence[tuple[str, list[tuple[ImageArray, str]]]], columns: Sequence[str], path: Path
) -> None:
    """Rows of labelled cells under a header naming the columns; PNG or JPEG by the suffix."""
    strip = 20
    width = CELL * len(columns)
    sheet = Image.new("RGB", (width, strip + len(rows) * (CELL + strip)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = _font(14)
    for c, name in enumerate(columns):
        draw.text((c * CELL + 6, 2), name, fill=(255, 255, 255), font=font)
    for r, (title, cells) in enumerate(rows):
        y = strip + r * (CELL + strip)
        draw.text((6, y + 2), title, fill=(255, 220, 120), font=font)
        for c, (img, caption) in enumerate(cells):
            sheet.paste(Image.fromarray(img), (c * CELL, y + strip))
            if caption:
                tw = draw.textlength(caption, font=font)
                draw.rectangle(
                    (c * CELL, y + strip + CELL - 18, c * CELL + tw + 8, y + strip + CELL), fill=(0, 0, 0)
                )
                draw.text((c * CELL + 4, y + strip + CELL - 17), caption, fill=(255, 255, 255), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        sheet.save(path, "JPEG", quality=82)
    else:
        sheet.save(path, optimize=True)


def contact_sheet(
    rows: Sequence[Row],
    photos: dict[str, tuple[ImageArray, Points, Judgement]],
    columns: Sequence[str],
    path: Path,
) -> None:
    sheet_rows = []
    for r in rows:
        prgb, ppts, _ = photos[r.pair.photo]
        box = mesh_box(r.target.points)
        cells = [(face_crop(prgb, mesh_box(ppts)), ""), (face_crop(r.target.rgb, box), "")]
        for m in columns[2:]:
            if m in r.images:
                s = r.scores[m]
                cells.append((face_crop(r.images[m], box), f"d_vis {s.d_vis:.3f}  d_orig {s.d_orig:.3f}"))
            else:
                cells.append((np.zeros((CELL, CELL, 3), np.uint8), "no render"))
        sheet_rows.append((f"{r.pair.name} [{'held' if r.pair.held else 'tune'}]", cells))
    draw_sheet(sheet_rows, columns, path)


# --- films -------------------------------------------------------------------------------------

# A few (photo, film) pairs run by default in films mode (each ingests once, then minutes per run);
# `--pairs SUBSTR` picks from all gender-matched pairs instead.
DEFAULT_FILM_PAIRS = (
    ("woman_neutral_frown.png", "woman_talking_big_expressions.mp4"),
    ("obama_official_portrait.jpg", "man_suit_speech.mp4"),
    ("older_man_black_glasses.jpg", "man_glasses_smiling_grey_bg.mp4"),  # held
)


def matches(pattern: str, name: str) -> bool:
    """`--pairs`: any of its comma-separated substrings is in the pair's name (photo->film#k)."""
    return any(part in name for part in pattern.split(",") if part)


def film_pairs(substr: str) -> list[Pair]:
    """Gender-matched (photo, film) pairs; the default few unless `substr` filters all of them."""
    if not substr:
        return [Pair(p, f, 0, p in HELD) for p, f in DEFAULT_FILM_PAIRS]
    return [
        Pair(p, f, 0, p in HELD)
        for p, (g, _) in PHOTOS.items()
        for f, fg in FILMS.items()
        if g == fg and (p, f) not in SAME_IDENTITY and matches(substr, f"{Path(p).stem}->{Path(f).stem}")
    ]


def engine_formats() -> dict[str, int]:
    """The engine's on-disk format versions of film tracks and cached fields: a change means re-ingest."""
    from dataclasses import fields as dataclass_fields

    from swap.film import fields, track

    return {
        "track": int(track.FORMAT_VERSION),
        "fields": int(fields.FORMAT_VERSION),
        # a track that gains an array (glasses_q) reads old files without it: ingest those again here
        "track_arrays": sorted(f.name for f in dataclass_fields(track.FilmTrack)),
    }


def cached_film(film: Path, cache: Path) -> tuple[Path, Any]:
    """A copy of `film` under the cache (../shared is read-only; ingest writes beside the film) and its
    track, ingested once and reused while the film and the engine's track/fields formats are unchanged."""
    from swap.film import FilmTrack, ingest_film

    st = film.stat()
    folder = cache / f"{film.stem}-{st.st_size}-{st.st_mtime_ns}"
    copy = folder / film.name
    stamp = folder / "formats.json"
    formats = engine_formats()
    if copy.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == formats:
        try:
            return copy, FilmTrack.for_film(copy)
        except (OSError, ValueError) as exc:
            print(f"{film.name}: cached track unreadable ({exc}): ingesting again")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copyfile(film, copy)
    t0 = time.perf_counter()
    track = ingest_film(copy)
    stamp.write_text(json.dumps(formats))
    print(f"ingested {film.name} in {time.perf_counter() - t0:.1f} s (cached in {folder})")
    return copy, track


@dataclass
class FilmRow:
    pair: Pair
    frames: list[int]
    scores: dict[str, list[Score]]
    quality: dict[str, float]
    render_s: float
    sheet_cells: list[tuple[str, list[tuple[ImageArray, str]]]]


def _share(scores: Sequence[Score], what: str) -> float:
    return sum(getattr(s, what) for s in scores) / len(scores) if scores else float("nan")


def run_films(args: argparse.Namespace) -> dict[str, Any]:
    """Films mode: whole swaps, N frames judged, the classic swap on the same frames, motion fidelity."""
    from swap.analysis import analyze_photo
    from swap.asset import build_face_asset
    from swap.errors import PhotoRejected
    from swap.film import render_film
    from swap.film.quality import film_quality

    media = media_root()
    if not (media / "films").is_dir():
        raise SystemExit(f"no shared media at {media} (set PROTAGONIST_SHARED_MEDIA)")
    out: Path = args.out
    pairs = [p for p in film_pairs(args.pairs) if args.set == "all" or p.held == (args.set == "held")]
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        raise SystemExit("no film pair matches the filters")
    judge = FaceJudge()
    t_start = time.perf_counter()
    rows: list[FilmRow] = []
    for pair in pairs:
        photo_rgb = load_photo(media / "photos" / pair.photo)
        photo_pts = face_mesh(photo_rgb)
        visitor = judge.descriptor(photo_rgb, mesh_box(photo_pts)) if photo_pts is not None else None
        if photo_pts is None or visitor is None or visitor.found_by != "hog":
            print(f"skip {pair.name}: the judge finds no face in {pair.photo}")
            continue
        try:
            asset = build_face_asset(analyze_photo((media / "photos" / pair.photo).read_bytes()))
        except PhotoRejected as exc:
            print(f"skip {pair.name}: the engine refuses {pair.photo} ({exc.code}): {exc.message}")
            continue
        film, track = cached_film(media / "films" / pair.film, out / "films")
        rendered = out / "films" / f"{Path(pair.photo).stem}__{Path(pair.film).stem}.mp4"
        t0 = time.perf_counter()
        render_film(asset, film, track, rendered, glasses=args.film_glasses)
        render_s = time.perf_counter() - t0
        covered = np.flatnonzero(track.covered)
        picks = sorted({int(covered[round(j)]) for j in np.linspace(0, len(covered) - 1, args.frames)})
        wanted = set(picks)
        film_frames = dict(decode_frames(film, keep=wanted.__contains__))
        out_frames = dict(decode_frames(rendered, keep=wanted.__contains__))
        scores: dict[str, list[Score]] = {"ours": [], "classic": []}
        cells = []
        show = {picks[len(picks) // 6], picks[len(picks) // 2], picks[5 * len(picks) // 6]}
        for i in picks:
            if i not in out_frames or i not in film_frames:
                continue
            pts = track.landmarks(i)
            box = mesh_box(pts)
            original = judge.descriptor(film_frames[i], box)
            assert original is not None
            classic = classic_swap(photo_rgb, photo_pts, film_frames[i], pts)
            s_ours = score(judge, out_frames[i], box, visitor, original)
            s_classic = score(judge, classic, box, visitor, original)
            scores["ours"].append(s_ours)
            scores["classic"].append(s_classic)
            if i in show:
                cells.append(
                    (
                        f"{pair.name.split('#')[0]} frame {i}",
                        [
                            (face_crop(photo_rgb, mesh_box(photo_pts)), ""),
                            (face_crop(film_frames[i], box), ""),
                            (
                                face_crop(out_frames[i], box),
                                f"d_vis {s_ours.d_vis:.3f}  d_orig {s_ours.d_orig:.3f}",
                            ),
                            (
                                face_crop(classic, box),
                                f"d_vis {s_classic.d_vis:.3f}  d_orig {s_classic.d_orig:.3f}",
                            ),
                        ],
                    )
                )
        quality = film_quality(film, rendered, track, max_frames=args.quality_frames or None)
        row = FilmRow(pair, picks, scores, quality, render_s, cells)
        rows.append(row)
        print_film_row(row)
    if not rows:
        raise SystemExit("no film pair could be scored")
    print(f"judge: {judge.found_by['hog']} faces found by HOG, {judge.found_by['hint']} by the track's box")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    sheet = out / f"films-{stamp}.png"
    draw_sheet([c for r in rows for c in r.sheet_cells], ["photo", "film frame", "ours", "classic"], sheet)
    figures = {
        "rows": [
            {
                "pair": r.pair.name.split("#")[0],
                "set": "held" if r.pair.held else "tune",
                "frames": r.frames,
                "render_s": r.render_s,
                "quality": r.quality,
                **{
                    m: {
                        "recognised": _share(s, "recognised"),
                        "transferred": _share(s, "transferred"),
                        "median_d_vis": statistics.median(x.d_vis for x in s),
                        "median_d_orig": statistics.median(x.d_orig for x in s),
                        "d_vis": [x.d_vis for x in s],
                        "d_orig": [x.d_orig for x in s],
                    }
                    for m, s in r.scores.items()
                    if s
                },
            }
            for r in rows
        ],
        "judge_found_by": dict(judge.found_by),
    }
    (out / f"films-{stamp}.json").write_text(json.dumps(figures, indent=1))
    print(f"wrote {sheet} and its .json ({time.perf_counter() - t_start:.0f} s in all)")
    return figures


def print_film_row(row: FilmRow) -> None:
    q = row.quality
    print(
        f"\n{row.pair.name.split('#')[0]} [{'held' if row.pair.held else 'tune'}]: {len(row.scores['ours'])} frames"
        f" judged, render {row.render_s:.1f} s"
    )
    print(f"  {'':<8} {'recognised':>10} {'transferred':>11} {'med d_vis':>9} {'med d_orig':>10}  pass")
    for m, s in row.scores.items():
        if not s:
            continue
        rec, tra = _share(s, "recognised"), _share(s, "transferred")
        ok = "yes" if rec >= 0.95 and tra >= 0.95 else "no"
        print(
            f"  {m:<8} {rec:>10.0%} {tra:>11.0%} {statistics.median(x.d_vis for x in s):>9.3f}"
            f" {statistics.median(x.d_orig for x in s):>10.3f}  {ok}"
        )
    print(
        f"  motion (ours, first {int(q['frames_measured'])} covered frames): eye corr {q['eye_corr']:.3f}"
        f" (range {q['eye_range']:.3f}), mouth corr {q['mouth_corr']:.3f} (range {q['mouth_range']:.3f}),"
        f" flicker {q['flicker_ratio']:.2f}x the film, pose error {q['pose_error_mean']:.4f} IOD"
    )
    print(
        f"  opening slope vs the film (1 = as wide): eye {q['eye_slope']:.2f}, mouth {q['mouth_slope']:.2f};"
        f" the track's own corr (the ceiling): eye {q['track_eye_corr']:.3f}, mouth {q['track_mouth_corr']:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", choices=("tune", "held", "all"), default="all")
    ap.add_argument(
        "--pairs", default="", help="only pairs whose name contains this (photo->film#k; a,b: either)"
    )
    ap.add_argument("--limit", type=int, default=0, help="at most this many pairs")
    ap.add_argument("--per-photo", type=int, default=3, help="films per visitor photo (stills)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--compare-ref", default="", help="also render ours with the engine of this git ref")
    ap.add_argument(
        "--engine-ref", default="", help="render ours with the engine of this git ref, not the working tree"
    )
    ap.add_argument(
        "--side-light",
        type=float,
        default=0.0,
        help="stills: light every visitor photo through a window, its left half at this share (0 = off)",
    )
    ap.add_argument("--films", action="store_true", help="whole films instead of stills")
    ap.add_argument("--frames", type=int, default=40, help="frames judged per film (films mode)")
    ap.add_argument(
        "--film-glasses",
        choices=("removed", "kept"),
        default="removed",
        help="the film actor's glasses (films mode; swap.film.glasses)",
    )
    ap.add_argument(
        "--quality-frames", type=int, default=150, help="motion fidelity over the first N frames (0 = all)"
    )
    args = ap.parse_args(argv)
    if args.films:
        if args.compare_ref or args.engine_ref:
            raise SystemExit("--compare-ref and --engine-ref work in stills mode only")
        run_films(args)
    else:
        run_stills(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
