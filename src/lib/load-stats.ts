// What a sidecar proxy reports about the traffic its instance received, over a short sliding
// window: the autoscaler's request metrics. Served as JSON by the proxy's admin listener at
// GET /stats/inbound. Shared by the proxy (which measures) and the control plane (which reads).

export const INBOUND_STATS_PATH = '/stats/inbound';

export interface InboundStats {
  /** Length of the window the figures cover, in seconds (default 3). */
  windowSeconds: number;
  /** Requests completed in the window. */
  requests: number;
  /** requests / windowSeconds. */
  rps: number;
  /** Average number of requests in flight over the window (Little's law: summed durations / window). */
  concurrency: number;
  /** 99th-percentile duration of the window's requests, in ms; null without requests. */
  p99Ms: number | null;
  /** Monotonic age of the last request in ms (Infinity-safe: null when none since start) — for idle detection. */
  lastRequestAgoMs: number | null;
}
