// Two one-liners every display module uses: the page clock and clamping.

/** This page's monotonic clock in milliseconds (performance.now). */
export const now = () => performance.now();

/** v limited to lo..hi. */
export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
