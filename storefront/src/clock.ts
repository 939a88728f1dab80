/**
 * The server's clock, as the API tells it (`serverTime` of the flash-sale answers):
 * countdowns use it, never the device's own clock, which may be minutes off. Each answer
 * gives a sample, offset = serverTime + half the round trip − the local time it arrived;
 * the sample with the shortest round trip is the most exact one and is kept.
 */
let offsetMs = 0;
let bestRttMs = Number.POSITIVE_INFINITY;
let sampledAt = 0;

/** Records a sample from an answer carrying serverTime, sent at `sentAt` and received at `receivedAt` (Date.now()). */
export function sampleServerTime(serverTime: string, sentAt: number, receivedAt: number): void {
  const server = Date.parse(serverTime);
  if (Number.isNaN(server)) return;
  const rtt = Math.max(0, receivedAt - sentAt);
  // A better round trip wins; an old best gives way after a minute (clocks drift, networks change).
  if (rtt <= bestRttMs || receivedAt - sampledAt > 60_000) {
    bestRttMs = rtt;
    sampledAt = receivedAt;
    offsetMs = server + rtt / 2 - receivedAt;
  }
}

/** Now, on the server's clock (ms since the epoch). */
export function serverNow(): number {
  return Date.now() + offsetMs;
}

/** "1:02:03" or "4:05" for a duration in ms (0 and below: "0:00"). */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}
