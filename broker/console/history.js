// The session history as the console shows it: end reasons in words, bytes in units, the average
// quality of the stream. Pure.

const END_REASONS = {
  user_logoff: 'logged off by the user',
  admin_logoff: 'logged off by an administrator',
  app_exited: 'the application exited',
  idle_timeout: 'idle for too long',
  disconnect_timeout: 'disconnected for too long',
  host_lost: 'its host was lost',
  host_shutdown: 'its host shut down',
  launch_failed: 'it did not start',
  error: 'an error on the host',
};

/** "logged off by an administrator" for "admin_logoff"; unknown codes as they are. */
export function endReasonText(code, by = '') {
  if (!code) return 'unknown';
  const text = END_REASONS[code] ?? code;
  return code === 'admin_logoff' && by ? `logged off by ${by}` : text;
}

/** 1536 -> "1.5 kB" (powers of 1000, as network figures are). */
export function bytesText(n) {
  if (!(n > 0)) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** "24 fps, 12 ms" from a session's averages; "–" when the host never reported them. */
export function qualityText(s) {
  const parts = [];
  if (s.avg_fps !== null && s.avg_fps !== undefined) parts.push(`${Math.round(s.avg_fps)} fps`);
  if (s.avg_rtt_ms !== null && s.avg_rtt_ms !== undefined) parts.push(`${Math.round(s.avg_rtt_ms)} ms RTT`);
  return parts.join(', ') || '–';
}
