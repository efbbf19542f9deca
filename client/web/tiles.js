// Decoding the tiles of a TileFrame: palette tiles of both forms (what the host sends for text and flat UI) here
// with palette.js, PNG tiles of the kinds png.js covers here too, everything else by the browser
// (WebCodecs' ImageDecoder, createImageBitmap where that is missing). Painting them is the frame painter's job (frames.js).

import { TILE_PALETTE, TILE_PALETTE_COMPACT, TILE_PNG } from './protocol.js';
import { decodePalette, decodePaletteCompact } from './palette.js';
import { decodePng } from './png.js';
import { displayStats } from './stats.js';

// Tiles decode with WebCodecs' ImageDecoder where the page has it (secure contexts in current
// Chromium and Firefox): it takes the bytes directly, while createImageBitmap(Blob) first hands the
// Blob to the browser process and back, which made a small PNG tile take ~4x as long (bench/web).
let imageDecoderWorks = typeof ImageDecoder === 'function';

/**
 * Decodes one tile: palette tiles, and PNG tiles of the kinds png.js covers, to an ImageData on this
 * thread (no hop to a decoder thread, which is most of a typing echo's time on a busy CPU),
 * anything else to something drawImage takes and close() frees (VideoFrame or ImageBitmap).
 */
export async function decodeTile(t) {
  if (t.encoding === TILE_PALETTE) {
    displayStats().paletteTiles++;
    return decodePalette(t.data, t.w, t.h); // throws on a malformed tile: no other decoder reads it
  }
  if (t.encoding === TILE_PALETTE_COMPACT) {
    displayStats().paletteTiles++;
    return decodePaletteCompact(t.data, t.w, t.h);
  }
  if (t.encoding === TILE_PNG) {
    let image = null;
    try {
      image = decodePng(t.data); // null: not a kind png.js covers, or malformed
    } catch (e) {
      console.warn('PNG tile: decoding here failed, the browser decodes it:', e);
    }
    if (image && image.width === t.w && image.height === t.h) {
      displayStats().pngTilesHere++;
      return image;
    }
  }
  displayStats().tilesByBrowser++;
  return decodeWithBrowser(t);
}

function decodeWithBrowser(t) {
  const type = t.encoding === TILE_PNG ? 'image/png' : 'image/jpeg';
  if (imageDecoderWorks) {
    let d;
    try {
      d = new ImageDecoder({ data: t.data, type });
    } catch (e) {
      // Not for this type here (NotSupportedError): the Blob path works everywhere.
      if (e?.name !== 'NotSupportedError') return Promise.reject(e);
      imageDecoderWorks = false;
    }
    if (d) {
      return d.decode().then((r) => r.image, (e) => {
        if (e?.name !== 'NotSupportedError') throw e; // a broken tile
        imageDecoderWorks = false;
        return createImageBitmap(new Blob([t.data], { type }));
      }).finally(() => d.close());
    }
  }
  return createImageBitmap(new Blob([t.data], { type }));
}
