"""Picture checks for bench_display.py: PSNR of every delivered video frame against the clip
frame it shows, and whether a client's screen is painted at all.

A delivered frame is matched to the clip frame it represents by content, not by time: testsrc2
draws a moving clock and counter, so every clip frame differs from the others, and the clip
frame that minimises the error is the one the player had on screen (a frame in transit between
two clip frames, or degraded by the encoder, still matches its own far better than any other).
The match runs on 1/8-scale grey thumbnails against every clip frame; the PSNR (over RGB, all
pixels) is then computed at full resolution against the two nearest candidates and the best
is kept. Needs numpy and Pillow (deploy/install-deps.sh --bench).

Luma PSNR is reported beside it: on this clip the RGB figure is mostly the 4:2:0 colour round
trip every H.264 stream makes (the screen's colours subsampled by the sender, interpolated by the
receiver: ~36 dB before any encoding), so it hardly moves with the encoder's quality; luma
(BT.601 weights of the RGB error) follows the encoder."""

import subprocess

import numpy as np

THUMB = 8          # thumbnail step: every 8th pixel of every 8th row
CANDIDATES = 2     # clip frames compared at full resolution per delivered frame
NOT_THE_CLIP_DB = 20.0  # below this the frame shows something else (the terminal before the player started)


def psnr(a, b):
    """PSNR in dB over all RGB samples; 99 for identical pictures."""
    d = a.astype(np.int16) - b.astype(np.int16)
    mse = float(np.mean(np.square(d, dtype=np.int32)))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 * 255.0 / mse)


def luma_psnr(a, b):
    """PSNR in dB of the luma (BT.601 weights) of the RGB difference; 99 when it is zero."""
    d = a.astype(np.int32) - b.astype(np.int32)
    y = d[..., 0] * 299 + d[..., 1] * 587 + d[..., 2] * 114  # thousandths
    mse = float(np.mean(np.square(y, dtype=np.int64))) / 1e6
    return 99.0 if mse == 0 else 10 * np.log10(255.0 * 255.0 / mse)


def thumb(frame):
    return frame[::THUMB, ::THUMB].mean(axis=2, dtype=np.float32)


def read_frames(stream, w, h):
    """Yields rgb24 frames (h, w, 3 uint8 arrays) from a raw stream until it ends."""
    size = w * h * 3
    while True:
        buf = stream.read(size)
        if not buf or len(buf) < size:
            return
        yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)


class ClientColour:
    """YUV 4:2:0 to rgb24 exactly as Portico's client converts a decoded picture (libyuv's
    I420ToARGBMatrix, BT.601 limited range: codec/h264_decoder.cpp), so that every stream's frames
    are scored through the same conversion. ffmpeg's default one, which the DIY stream's frames
    went through before, scores the same YUV 0.03 dB higher in RGB but 3.4 dB lower in luma (its
    rounding is coarser), which would have made the luma figures compare decoders."""

    def __init__(self):
        import ctypes
        import ctypes.util
        self._ct = ctypes
        self.lib = ctypes.CDLL(ctypes.util.find_library("yuv") or "libyuv.so.0")
        self.lib.I420ToARGBMatrix.restype = ctypes.c_int
        self.constants = ctypes.byref(ctypes.c_char.in_dll(self.lib, "kYuvI601Constants"))

    def rgb(self, yuv, w, h):
        """rgb24 (h, w, 3) of one yuv420p picture (bytes: the Y plane, then U, then V; w, h even)."""
        ct, cw, ch = self._ct, w // 2, h // 2
        planes = np.frombuffer(yuv, dtype=np.uint8)
        y, u, v = planes[:w * h], planes[w * h:w * h + cw * ch], planes[w * h + cw * ch:w * h + 2 * cw * ch]
        out = np.empty((h, w, 4), dtype=np.uint8)  # libyuv's ARGB: bytes B, G, R, A
        ptr = lambda a: a.ctypes.data_as(ct.c_void_p)  # noqa: E731
        if self.lib.I420ToARGBMatrix(ptr(y), w, ptr(u), cw, ptr(v), cw, ptr(out), w * 4, self.constants, w, h) != 0:
            raise RuntimeError("libyuv I420ToARGBMatrix failed")
        return out[..., 2::-1].copy()


def read_yuv_frames(stream, w, h):
    """Yields yuv420p pictures (bytes) from a raw stream until it ends."""
    size = w * h * 3 // 2
    while True:
        buf = stream.read(size)
        if not buf or len(buf) < size:
            return
        yield buf


class Clip:
    """Every frame of the clip as the player shows it (decoded to rgb24 by ffmpeg as SDL does)."""

    def __init__(self, path, w, h):
        # ffplay shows HD through SDL, which converts with BT.709 (SDL_YUV_CONVERSION_AUTOMATIC);
        # ffmpeg's default would be BT.601 (red bars 2 dB off, PSNR capped near 20 dB). With
        # BT.709 and full chroma interpolation the held last frame as grabbed from the screen
        # matches its clip frame at about 43 dB: the ceiling, the same for every system.
        p = subprocess.Popen(["ffmpeg", "-loglevel", "error", "-i", path, "-vf",
                              "scale=in_color_matrix=bt709:flags=bicubic+accurate_rnd+full_chroma_int+full_chroma_inp",
                              "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE)
        self.frames = [f.copy() for f in read_frames(p.stdout, w, h)]
        p.wait()
        if not self.frames:
            raise RuntimeError(f"cannot decode the clip {path}")
        self.thumbs = np.stack([thumb(f) for f in self.frames])

    def match(self, frame):
        """(index of the clip frame this frame shows, PSNR against it, luma PSNR against it)."""
        d = np.mean(np.square(self.thumbs - thumb(frame)), axis=(1, 2))
        best = max(((psnr(frame, self.frames[i]), int(i)) for i in np.argsort(d)[:CANDIDATES]))
        return best[1], best[0], luma_psnr(frame, self.frames[best[1]])


class FrameScores:
    """Accumulates the per-frame matches of one system's delivered frames in a time window."""

    def __init__(self):
        self.scores, self.luma, self.indices, self.before_clip = [], [], [], 0

    def add(self, index, db, luma_db):
        if db < NOT_THE_CLIP_DB and not self.scores:
            self.before_clip += 1  # the player had not drawn yet: not a frame of the clip
            return
        self.scores.append(db)
        self.luma.append(luma_db)
        self.indices.append(index)

    def result(self, seconds):
        v = sorted(self.scores)
        if not v:
            return {"n": 0, "error": "no delivered frame showed the clip"}
        return {"mean_psnr_db": round(float(np.mean(v)), 2), "median_psnr_db": round(v[len(v) // 2], 2),
                "min_psnr_db": round(v[0], 2), "p5_psnr_db": round(v[int(0.05 * (len(v) - 1))], 2),
                "mean_luma_psnr_db": round(float(np.mean(self.luma)), 2), "n": len(v),
                "distinct_clip_frames": len(set(self.indices)),
                "distinct_clip_frames_per_s": round(len(set(self.indices)) / seconds, 1) if seconds > 0 else None,
                "frames_before_the_clip": self.before_clip,
                "clip_frames_spanned": max(self.indices) - min(self.indices) + 1}


def painted(path, before_path=None):
    """(ok, why) for a screenshot of a client's display: it must show more than one colour and,
    when a grab from before the workload is given, differ from it (a client that stopped
    drawing shows the first picture forever)."""
    from PIL import Image, ImageChops
    img = Image.open(path).convert("RGB")
    colours = img.getcolors(maxcolors=4096)
    if colours is not None and len(colours) <= 1:
        return False, "the client's display is blank (one colour)"
    if before_path:
        before = Image.open(before_path).convert("RGB")
        if before.size == img.size and ImageChops.difference(img, before).getbbox() is None:
            return False, "the client's display did not change during the workload"
    return True, "painted"
