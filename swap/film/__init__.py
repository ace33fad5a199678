"""The film (video) path of the engine.

A film template is ingested once (`ingest_film`: landmarks of the protagonist in every frame, smoothed,
with lighting, expression detail and occlusion maps) and saved beside the film as `<film>.track.npz`.
Each visitor's video is then `render_film`: stream decode, render the visitor's face into the covered
frames with the track (no landmark model at this stage), encode H.264 with the film's own audio.
"""
