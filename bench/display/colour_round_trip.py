#!/usr/bin/python3
"""How much of the video workload's PSNR is the encoder, and how much the 4:2:0 colour round trip.

Takes a screen grab of the player (a kept `source.png` of the video workload: the clip's last
frame, held), finds the clip frame it shows, and scores against that frame, in RGB and in luma:
- the grab itself (the player's conversion: the ceiling of every system);
- the grab subsampled to 4:2:0 and back with no encoding, for two senders' conversions: libyuv's
  ARGBToI420 (the host's until 2026-12-05; its chroma is half a step low on average, see
  codec/color.hpp) and ffmpeg's default (the DIY stream's); back to RGB as Portico's client does it
  (framecompare.ClientColour), which the bench uses for both systems' frames. The host's own
  conversion now is measured by bench_display.py itself;
- the same with x264 in between (Portico's settings: veryfast, zerolatency, baseline, 2 threads) at
  each CRF given, with the coded size of that one picture.

    /usr/bin/python3 bench/display/colour_round_trip.py /tmp/portico-bench-display-artifacts-*/run0/video-portico/source.png

Prints JSON. Needs ffmpeg, numpy and Pillow (deploy/install-deps.sh --bench)."""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import framecompare  # noqa: E402

W, H = 1920, 1080
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "baseline", "-threads", "2"]


def ffmpeg(*args, stdin=None):
    return subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], input=stdin, capture_output=True,
                          check=True).stdout


def libyuv_420(grab, colour):
    """libyuv's ARGBToI420 of the BGRX screen."""
    ct = colour._ct
    bgra = np.ascontiguousarray(np.dstack([grab[..., ::-1], np.full((H, W), 255, np.uint8)]))
    y, u, v = np.empty(W * H, np.uint8), np.empty(W * H // 4, np.uint8), np.empty(W * H // 4, np.uint8)
    ptr = lambda a: a.ctypes.data_as(ct.c_void_p)  # noqa: E731
    if colour.lib.ARGBToI420(ptr(bgra), W * 4, ptr(y), W, ptr(u), W // 2, ptr(v), W // 2, W, H) != 0:
        raise RuntimeError("libyuv ARGBToI420 failed")
    return y.tobytes() + u.tobytes() + v.tobytes()


def ffmpeg_420(grab):
    """The DIY stream's conversion: ffmpeg's default rgb24 -> yuv420p."""
    return ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-i", "-", "-f", "rawvideo", "-pix_fmt",
                  "yuv420p", "-", stdin=grab.tobytes())


def scores(frame, ref):
    return {"rgb_db": round(framecompare.psnr(frame, ref), 2), "luma_db": round(framecompare.luma_psnr(frame, ref), 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source_png")
    ap.add_argument("--clip", default=os.path.expanduser("~/.cache/portico-bench/testsrc2-1080p30-9s.mp4"))
    ap.add_argument("--crf", default="18,20,22,24")
    args = ap.parse_args()
    grab = np.asarray(Image.open(args.source_png).convert("RGB"))
    if grab.shape != (H, W, 3):
        sys.exit(f"colour_round_trip: {args.source_png} is not {W}x{H}")
    clip = framecompare.Clip(args.clip, W, H)
    index, _, _ = clip.match(grab)
    ref = clip.frames[index]
    colour = framecompare.ClientColour()
    out = {"source": args.source_png, "clip_frame": index, "player_grab": scores(grab, ref)}
    with tempfile.TemporaryDirectory() as tmp:
        coded = os.path.join(tmp, "one.h264")
        for sender, yuv in (("libyuv", libyuv_420(grab, colour)), ("ffmpeg_diy", ffmpeg_420(grab))):
            side = out[sender + "_conversion"] = {"round_trip_420_no_encoding": scores(colour.rgb(yuv, W, H), ref),
                                                  "x264": []}
            for crf in [int(c) for c in args.crf.split(",") if c]:
                ffmpeg("-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{W}x{H}", "-i", "-", *X264, "-crf", str(crf),
                       "-f", "h264", coded, stdin=yuv)
                decoded = ffmpeg("-i", coded, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-")
                side["x264"].append({"crf": crf, "bytes": os.path.getsize(coded), **scores(colour.rgb(decoded, W, H), ref)})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
