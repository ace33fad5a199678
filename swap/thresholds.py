"""Every limit the engine applies to a visitor's photo, in one place, each with why and how it was chosen.

Measured (2026-11-25, mediapipe 0.10.21) with `swap.analysis.measure_face` on the shared sample photos
(`../shared/media/photos`, `badinputs`) and scikit-image's astronaut. "face px" is the mesh's bounding-box
width in the analysed image (<= 2048 px long side); luma is 0-255 sRGB over the face's skin triangles;
pose in degrees with `swap.pose`'s signs (yaw + = subject turns to their left).

| photo                        | face px | yaw   | pitch | roll  | luma med/p95 | sharp | foreign | mouth open/width |
|------------------------------|---------|-------|-------|-------|--------------|-------|---------|------------------|
| obama_official_portrait      | 241     |  +1.2 |  +3.8 |  -0.3 | 158 / 188    | 7.6   | 0.000   | 0.21 / 1.13      |
| man_curly_hair_glasses       | 228     |  -6.7 |  -5.2 |  +4.0 | 109 / 164    | 9.6   | 0.011   | 0.00 / 0.68      |
| woman_shouting_yellow_wall   | 226     |  +8.0 | -12.1 |  -1.1 | 135 / 182    | 3.5   | 0.000   | 0.78 / 0.93      |
| teen_girl_black_fairface     | 155     | -13.7 | +14.7 |  -3.4 |  59 / 113    | 1.84  | 0.006   | 0.00 / 0.81      |
| business_woman               | 258     |  +8.2 |  -8.4 |  -3.3 | 211 / 232    | 5.4   | 0.005   | 0.00 / 0.85      |
| woman_neutral_frown          | 255     |  -1.8 |  -1.7 |  -0.9 | 184 / 230    | 3.5   | 0.000   | 0.00 / 0.74      |
| older_man_glasses_low_light  | 148     | +10.2 |  -0.8 |  -0.7 | 132 / 179    | 11.0  | 0.031   | 0.00 / 0.68      |
| asian_woman_hand_on_chin     | 425     | -21.8 |  +7.0 | +14.8 | 194 / 209    | 7.4   | 0.000   | 0.13 / 0.70      |
| einstein_bw_historic         | 130     | -11.8 |  -0.8 |  -3.1 | 183 / 210    | 6.8   | 0.003   | 0.00 / 0.73      |
| astronaut (skimage)          | 92      |  -0.8 |  -3.3 |  +3.2 | 186 / 218    | 3.4   | 0.000   | 0.16 / 1.00      |
| badinputs/profile_left       | 293     | -53.8 |  -0.4 |  -4.0 | 200 / 220    | 4.4   | 0.000   | 0.01 / 0.96      |
| badinputs/partial_face_cut   | 233     |  -1.5 |  +1.6 |  -0.7 | 155 / 188    | 7.3   | 0.000   | 0.21 / 1.15      |
| badinputs/group_selfie (main)| 135     | -32.1 |  +3.9 | -13.3 | 162 / 216    | 4.0   | 0.000   | 0.22 / 1.07      |
| badinputs/tiny_image_128px   |  21     | (detector + crop mesh)                                             |

Synthetic variants of the nine photos + astronaut (see `tests/swap/test_analysis.py`): pixels x0.25 ->
luma p95 28-58; x0.4 -> p95 45-93; x1.6 -> blown-out share 0.00-0.91; Gaussian blur sigma = 2 % of the
eye distance -> sharpness 0.72-1.38, 5 % -> 0.24-0.32; a rectangle (light blue, white, black or grey) from the nose tip to below the lower lip
-> foreign 0.109-0.192. ("foreign" in the table is the colour-occluder share with the final rule.)
"""

from __future__ import annotations

# ---- decoding (swap.imageio) ---------------------------------------------------------------------

# Largest upload accepted. Phone JPEGs are 2-12 MB, HEIC 1-5 MB, a 48-MP PNG about 40 MB; anything
# larger is not a photo from a phone and only costs upload time and memory.
MAX_INPUT_BYTES = 40_000_000
# Largest pixel count decoded. 48-/50-MP phone sensors are the biggest in common use; below Pillow's own
# bomb warning (89.5 MP), so a decompression bomb (tiny file, huge header) is refused from its header
# before any pixel is allocated.
MAX_INPUT_PIXELS = 80_000_000
# Longest side accepted: no camera makes a 20 000-px side; absurd strips (1 x 60 000 000) are bombs too.
MAX_INPUT_SIDE = 20_000
# The analysed image is downsized to this long side. A face filling a phone selfie is then ~600-1000 px
# wide, far more than a face texture needs, and Face Mesh itself runs on a 192-px crop; more
# pixels only cost decode and memory (a 48-MP photo is 144 MB as RGB).
MAX_ANALYSIS_SIDE = 2048

# ---- face count and size --------------------------------------------------------------------------

# Smallest face (mesh bounding-box width, px) accepted. scikit-image's astronaut (92 px, a sharp studio
# portrait) must pass and is the smallest good face measured; the group selfie's faces are 86-135 px and
# tiny_image_128px's face is 21 px. Below ~80 px the eye region is under 15 px tall and a poster face
# (300-500 px wide) would be a 4-6x upscale.
MIN_FACE_WIDTH_PX = 80
# Images whose short side cannot hold such a face are refused as "image too small" before any face
# search. Deliberately the same number: a smaller image can never pass, a larger one (noface_dark_tiny,
# 140 px) gets the more useful "no face" answer.
MIN_IMAGE_SIDE = MIN_FACE_WIDTH_PX
# Faces below this width pass with the warning "face_small" (einstein 130 px and older_man 148 px do not
# get it; astronaut 92 px does): the posters will be visibly softer than with a closer photo.
SMALL_FACE_WARN_PX = 120
# The face detector's box is wider than the mesh's bounding box: 287/241 (obama), 282/258 (business),
# 313/255 (frown), 150/130 (einstein), 176/148 (older man): median 1.19. A detector-only face is divided
# by this before it is compared with the main face.
DETECTOR_TO_MESH_WIDTH = 1.19
# A second face counts as a second person when it is at least this fraction of the main face's width.
# Measured second faces: children 386/431 = 0.90, couple 531/566 = 0.94, group selfie 86..124/135 =
# 0.64-0.92. A passer-by far behind the visitor (a third of the size or less) cannot be mistaken for
# the visitor and does not enter the texture, so it does not refuse the photo.
SECOND_FACE_MIN_RATIO = 0.35

# ---- framing and pose -----------------------------------------------------------------------------

# How far (fraction of face width) the face outline may reach outside the image. partial_face_cut_off
# reaches 0.17 outside; every good photo 0.00. 2 % tolerates a chin or ear touching the border (the
# texture's outer rim is trimmed anyway) but not a missing cheek.
MAX_CUT_OFF = 0.02
# Yaw limit. Face Mesh under-reads turns: a strict profile reads -54, not -90. Good photos read up to
# |22| (asian_woman 21.8, couple 22.5); the group selfie's main face, visibly three-quarter, reads 32.
# At a reading of 30 (about 40 true) the nose hides the far cheek's inner half, which the texture
# would then have to invent by mirroring.
MAX_ABS_YAW_DEG = 30.0
# Pitch limit (nodding). Good photos span -13.4 (children) .. +14.7 (teen girl, shot from below). Beyond
# 25 the forehead or the underside of the chin and nose dominate the view.
MAX_ABS_PITCH_DEG = 25.0
# Roll (in-plane tilt) hides nothing: rotating obama's portrait by 15-60 degrees kept the landmarks
# within 0.02-0.05 of the eye distance of the upright ones and read the roll to +-0.6 degrees. The
# limit only catches photos held sideways (an upright head at 90 degrees: rotate the photo).
MAX_ABS_ROLL_DEG = 45.0
# A face counts as upside down when the face detector is this much more confident with the photo
# turned 180 degrees than as it is. Upright sample photos: 0.84-0.98 as they are vs <= 0.78 turned
# (smallest gap 0.15, asian_woman 0.93 vs 0.78); upside_down.jpg: 0.65 vs 0.90; the frown photo turned
# over (which Face Mesh meshes anyway): 0.70 vs 0.91.
UPSIDE_DOWN_MARGIN = 0.05
# Warning "head_turned" above these readings: the result stays good, a straighter photo is better.
WARN_ABS_YAW_DEG = 20.0
WARN_ABS_PITCH_DEG = 18.0

# ---- exposure (on the face's skin only: a dark background is fine) ------------------------------

# Too dark when even the brightest 5 % of the face's skin is below this luma. The darkest good faces:
# teen_girl (dark skin, dim light) p95 113 and older_man_glasses_low_light, whose *whole image* has mean
# luma 46 but whose lit face has p95 179: a low-key portrait is fine, and this measure accepts it
# because it looks at the face, not the frame. The good photos x0.25 give p95 28-58 (refused); x0.4 give
# 45-93. 75 sits between the darkest good face (113) and the too-dark ones, with room for dark skin in
# dimmer light than the teen photo.
TOO_DARK_P95 = 75.0
# A skin pixel at or above this luma has lost its detail (blown out).
CLIPPED_LUMA = 250
# Overexposed when more than this share of the skin is blown out... (good photos: 0.000-0.005, business
# woman on a white background being the brightest; the good photos x1.6: 0.10-0.91, except the two
# darkest, teen_girl 0.00 and man_curly_hair 0.03, which x1.6 merely brightens and are rightly kept)
MAX_CLIPPED_FRACTION = 0.10
# ...or when the skin's median luma is above this (washed out without hard clipping; good: 59-211).
OVEREXPOSED_MEDIAN = 235.0

# ---- sharpness ------------------------------------------------------------------------------------

# The face is rescaled to this many pixels between the eye centres before sharpness is measured, so the
# figure does not depend on the photo's resolution (48 px ~ a 110-px-wide face: the scale at which blur
# that would show on a poster face is still measurable on the smallest accepted faces).
SHARPNESS_INTEROCULAR_PX = 48.0
# Sharpness = Laplacian energy / difference-of-Gaussians energy (see `swap.analysis._sharpness`). Good
# photos: 1.84 (teen girl, a soft 448-px JPEG) .. 11.0. Blur of sigma 2 % of the eye distance (slight
# defocus) gives 0.72-1.38, 5 % (clearly blurred) 0.24-0.32. Refuse below 0.6 (between the two), warn
# "soft_focus" below 1.5 (catches every 2 % blur, no good photo).
MIN_SHARPNESS = 0.6
WARN_SHARPNESS = 1.5

# ---- a photographed screen ----------------------------------------------------------------------

# `analysis._screen_pattern`: the strongest peak of the face's fine-detail spectrum over its local
# level (natural log). badinputs/photo_of_laptop_screen.jpg: 3.5 (3.2 at 3/4 size, 2.6-2.9 at half
# size or JPEG q70 at 3/4; at half size and q70 the raster is gone, 2.0); the 18 shared visitor photos
# 1.06-1.57, one 2.04 (east_asian_older_man_glasses, a resampled PNG). Only one screen sample exists:
# the limit sits halfway between it at 3/4 size as JPEG q70 (2.86) and the highest real photo (2.04).
# A recapture shrunk to half size or less shows no raster any more and passes.
MAX_SCREEN_PATTERN = 2.45

# ---- a drawing, not a photo -----------------------------------------------------------------------

# `swap.photo_kind.flat_patch_share`: share of the face inside squares of one exact luma value.
FLAT_PATCH_SIZE = 0.06  # the square's side, x face width (at 0.04: photos up to 0.03, film frames 0.065)
FLAT_PATCH_MIN_PX = 5  # ...but at least this many samples
FLAT_PATCH_FACE_PX = 200  # the face is subsampled (nearest) to at most this many samples wide
FLAT_PATCH_DARK_LUMA = 5  # luma at or below this is crushed black and never counts
# No painting or cartoon sample exists: the drawings are synthesised. Photos (236 images, none refused
# by this, 77 film frames neither): the 18 shared photos, upside_down.jpg turned upright and
# the astronaut, each as is, as JPEG q40/55/70, at 1/2 and 0.3 size (also re-saved q50), at 1280 px
# q85, and x0.6 / x1.3 / x1.6 brightness (also re-saved q60): 0.000-0.0085 (the highest: the phone
# selfie at half size, q50; the beauty-filtered faces 0.000-0.0055). 64 frames of the 13 films
# 0.000-0.003, the same frames re-saved q50 up to 0.0175. Synthesised drawings (19 shared photos +
# the astronaut; as made / re-saved q80): cartoon filter (edge-preserving blur, k-means 6-16
# colours, dark outlines) 0.02-0.58, posterised 4-6 levels 0.00-0.30, a flat-filled cartoon face
# drawn with OpenCV 0.28-0.57. 0.06 is 7x the highest photo and 3.4x the highest re-compressed film
# frame. Oil-painting and stylisation filters keep a photo's gradients (0.00-0.07), pencil sketches are
# white paper (clipped, 0): not caught (detection rates in docs/identity.md).
MAX_FLAT_PATCH_SHARE = 0.06

# ---- something covering the face ------------------------------------------------------------------

# MediaPipe Hands' detection confidence: its default. It also "finds" hands on obama's flag/suit and on
# business_woman's raised hand, all outside the face: only overlap with the face counts.
HAND_MIN_CONFIDENCE = 0.5
# Hand landmarks sit on the joints; the hand's region is their hull grown by this x palm length (wrist
# to middle knuckle), about half a finger's width.
HAND_MARGIN = 0.15
# Hands are searched in a crop this many face widths around the face mesh (swap.analysis._hand_cover).
HAND_SEARCH = 1.0
# A hand over an eye, the nose or the mouth (`swap.analysis.FEATURE_POINTS` inside it) is always refused.
# Elsewhere it is accepted up to this share of the face mesh, and the asset fills the skin under it from
# the mirrored side (`swap.asset`): asian_woman_hand_on_chin's index finger touches the chin's outline
# (0.5 % of the mesh); a hand flat on one cheek covers 10-30 %, and beyond ~30 % the hand reaches the
# midline, where the mirrored side is hidden too.
MAX_HAND_COVER = 0.3
# Warning "hand_near_face" when a hand comes within this fraction of the face width of the mesh.
HAND_NEAR_GAP = 0.05
# Colour occluders (masks, scarves, phones, coloured hair over the face): a mesh triangle is foreign when
# its mean CIELAB (a*, b*) is more than this far from the skin's median...
FOREIGN_CHROMA_DELTA = 12.0
# ...and its hue differs by more than this many degrees. Shadows and highlights change chroma but keep
# the skin's hue; lips and lipstick are redder (~25-50 degrees); the man_glasses_vertical_selfie film,
# lit by a window on one side and warm light on the other, has a cheek ~30-45 degrees cooler (25
# degrees refused 12 % of its frames' area, 45 left 0.5 %, 60 leaves 0 %). A blue mask is ~180 away.
FOREIGN_HUE_DEG = 60.0
# A triangle is also foreign (white, grey or black object) when its chroma is below this fraction of
# the skin's. Specular highlights (stage light in the hamilton clip, a shiny cheek in woman_indoor) keep
# 35-75 % of the skin's chroma, shadows and dark skin more; saturation (chroma / L*) was tried first and
# flagged those highlights (up to 0.10 of the face) as foreign.
FOREIGN_NEUTRAL_CHROMA_RATIO = 0.2
# Below this skin chroma the photo is black-and-white or near grey: colour cannot tell skin from
# anything else and the colour check is skipped (einstein, a sepia scan, has 9.3 and is checked).
FOREIGN_MIN_SKIN_CHROMA = 5.0
# Refuse when more than this share of the checked face area is foreign. Clean photos: 0.000-0.031 (the
# highest: older_man's glasses frames and beard shadow); 100 frames of the eight films (mixed window
# light, stage light, dusk): 0.000-0.018. A rectangle from the nose tip to below the lower lip, painted
# light blue / white / black / grey on each clean photo: 0.109-0.192. 0.07 sits between the two.
MAX_FOREIGN_FRACTION = 0.07

# ---- expression -----------------------------------------------------------------------------------

# Mouth opening = inner-lip gap (landmarks 13-14) / mouth width (61-291). Closed: 0.00-0.01; obama's
# official smile with teeth 0.21, astronaut 0.16, group selfie 0.22; woman_shouting 0.78. The open mouth
# is a hole in the mesh (the film's own mouth shows through), but the stretched lips and cheeks stay in
# the texture, so a wide-open mouth would shout through the whole film: refuse above 0.45, warn
# "expression_moderate" above 0.30.
MAX_MOUTH_OPEN = 0.45
WARN_MOUTH_OPEN = 0.30
# Smile width = mouth width / distance between the eye centres. Neutral faces 0.68-0.85, obama's smile
# 1.13, partial_face (same smile) 1.15. No big-smile photo is in the sample set, so a wide smile only
# warns ("expression_moderate") and is never refused on width alone.
WARN_MOUTH_WIDTH = 1.25
