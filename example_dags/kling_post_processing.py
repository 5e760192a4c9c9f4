"""Post-process Kling renders: a thumbnail and a short preview of each video, plus a manifest.

Scheduled on the Asset ``kling://marketing-renders``: every time ``kling_marketing_renders``
publishes, this DAG runs with that event. For each video listed in the event's ``extra["videos"]``:

* ``<name>.png``: the first frame, as a PNG thumbnail;
* ``<name>-preview.mp4``: the first ~2 seconds, re-encoded (H.264, plus AAC audio when the clip has
  sound) at a lower bit rate, for review tools and chat previews;

and ``manifest.json`` next to them, listing every source video (product, aspect ratio, path,
sha256) with its thumbnail, preview, duration and size. Outputs go to
``KLING_POST_PROCESSING_DIR/<run id>/`` (default ``<temp dir>/kling-post-processing``).

Which videos, in order of precedence:

1. the triggering Asset events (the normal, Asset-scheduled run);
2. ``videos`` in the run's conf (a manual run: ``{"videos": [{"path": "/data/a.mp4"}, ...]}``);
3. otherwise (a manual run without conf) the *latest* event of the Asset, read through ``inlets``.

Paths may be local or object-storage URIs (``s3://...``, opened with ``ObjectStoragePath``).

Needs PyAV (``pip install av``) on the workers; it is imported inside the tasks only, so parsing
this file stays cheap. Processing is mapped: one task instance per video.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Asset, task

MARKETING_RENDERS = Asset("kling://marketing-renders")
OUTPUT_DIR = os.environ.get("KLING_POST_PROCESSING_DIR") or os.path.join(
    tempfile.gettempdir(), "kling-post-processing"
)
#: Length of the preview clip, in seconds.
PREVIEW_SECONDS = 2.0


def _run_dir(run_id: str | None) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id or "manual")
    return os.path.join(OUTPUT_DIR, safe)


def _open_source(path: str) -> Any:
    """A binary file object for a local path or an object-storage URI."""
    if "://" in path and not path.startswith("file://"):
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(path).open("rb")
    return open(path.removeprefix("file://"), "rb")  # closed by the caller


def _write_png(frame: Any, path: str) -> None:
    """Encode one frame as PNG with PyAV's own encoder (no Pillow needed)."""
    import av

    rgb = frame.reformat(format="rgb24")
    with av.open(path, "w", format="image2") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = rgb.width, rgb.height, "rgb24"
        rgb.pts = 0
        out.mux(stream.encode(rgb))
        out.mux(stream.encode(None))


with DAG(
    dag_id="kling_post_processing",
    description="Thumbnails, previews and a manifest for every video of kling://marketing-renders",
    schedule=[MARKETING_RENDERS],
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["kling", "example"],
    doc_md=__doc__,
) as dag:

    @task(inlets=[MARKETING_RENDERS])
    def collect_videos(
        triggering_asset_events: Any = None, inlet_events: Any = None, dag_run: Any = None
    ) -> list[dict[str, Any]]:
        """The videos to process (see the DAG's documentation for where they come from)."""
        videos: list[dict[str, Any]] = []
        source = ""
        if triggering_asset_events:
            for event in triggering_asset_events[MARKETING_RENDERS]:
                videos.extend((event.extra or {}).get("videos", []))
            source = "the triggering asset events"
        elif dag_run is not None and (dag_run.conf or {}).get("videos"):
            videos = list(dag_run.conf["videos"])
            source = "the run's conf"
        elif inlet_events is not None:
            events = inlet_events[MARKETING_RENDERS]
            if len(events):
                videos = list((events[-1].extra or {}).get("videos", []))
            source = f"the latest event of {MARKETING_RENDERS.uri}"
        missing = [v for v in videos if not isinstance(v, dict) or not v.get("path")]
        if missing:
            raise ValueError(f"videos without a 'path' in {source}: {missing}")
        print(f"{len(videos)} video(s) from {source}")
        return videos

    @task(map_index_template="{{ video_name }}")
    def make_previews(video: dict[str, Any], run_id: str | None = None) -> dict[str, Any]:
        """Thumbnail (first frame, PNG) and preview (first ~2 s, re-encoded MP4) of one video."""
        from fractions import Fraction

        import av
        from airflow.sdk import get_current_context

        stem = os.path.splitext(os.path.basename(video["path"].rstrip("/")))[0] or "video"
        get_current_context()["video_name"] = stem  # shown as the map index in the UI
        out_dir = _run_dir(run_id)
        os.makedirs(out_dir, exist_ok=True)
        thumbnail = os.path.join(out_dir, f"{stem}.png")
        preview = os.path.join(out_dir, f"{stem}-preview.mp4")

        with _open_source(video["path"]) as fh, av.open(fh) as src:
            vin = src.streams.video[0]
            ain = src.streams.audio[0] if src.streams.audio else None
            duration = float(src.duration / av.time_base) if src.duration else None
            width, height = vin.codec_context.width, vin.codec_context.height
            fps = vin.average_rate or Fraction(24, 1)

            with av.open(preview, "w", format="mp4") as dst:
                vout = dst.add_stream("libx264", rate=fps)
                vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
                vout.options = {"crf": "28", "preset": "veryfast"}
                aout = None
                if ain is not None:
                    aout = dst.add_stream("aac", rate=ain.codec_context.sample_rate)
                    aout.layout = ain.codec_context.layout.name
                streams = [vin] if ain is None else [vin, ain]
                wrote_thumbnail = False
                frame_index = 0
                done: set[int] = set()
                for frame in src.decode(*streams):
                    kind = 0 if isinstance(frame, av.VideoFrame) else 1
                    if frame.time is not None and frame.time >= PREVIEW_SECONDS:
                        done.add(kind)
                        if len(done) == len(streams):
                            break
                        continue  # the other stream has not reached the cut yet
                    if kind == 0:
                        if not wrote_thumbnail:
                            _write_png(frame, thumbnail)
                            wrote_thumbnail = True
                        frame = frame.reformat(format="yuv420p")
                        frame.pts, frame.time_base = frame_index, Fraction(1, 1) / fps
                        frame_index += 1
                        dst.mux(vout.encode(frame))
                    elif aout is not None:
                        frame.pts = None
                        dst.mux(aout.encode(frame))
                dst.mux(vout.encode(None))
                if aout is not None:
                    dst.mux(aout.encode(None))
        if not wrote_thumbnail:
            raise ValueError(f"{video['path']} has no decodable video frame")
        return {
            **video,
            "duration": duration,
            "width": width,
            "height": height,
            "has_audio": ain is not None,
            "thumbnail": thumbnail,
            "preview": preview,
            "preview_size": os.path.getsize(preview),
        }

    @task
    def write_manifest(items: list[dict[str, Any]], run_id: str | None = None) -> str:
        """``manifest.json`` next to the thumbnails and previews; returns its path."""
        import json

        out_dir = _run_dir(run_id)
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "manifest.json")
        manifest = {
            "run_id": run_id,
            "created_at": datetime.now(timezone.utc).isoformat(),
            "count": len(items),
            "videos": list(items),
        }
        tmp = f"{path}.part"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, indent=2)
        os.replace(tmp, path)
        print(f"Wrote {path} ({len(items)} videos)")
        return path

    write_manifest(make_previews.expand(video=collect_videos()))
