// Timings that the mesh proxies and the control plane must agree on. The withdraw protocol keeps a
// withdrawn instance running until every proxy acknowledged a snapshot without it, or at most for the
// proxies' longest reconnect back-off plus a margin: a proxy that lost the control plane (restarting)
// must get the chance to reconnect and learn of the withdrawal before the instance stops.

/** Longest wait between a proxy's attempts to reach the control plane's snapshot watch stream. */
export const MESH_RECONNECT_MAX_MS = 2000;

/** Time a reconnected proxy needs to receive a snapshot and apply it, on a loaded machine. */
export const MESH_APPLY_MARGIN_MS = 1500;

/** Longest a withdrawn instance keeps running while proxies catch up (counted from when they can reach the control plane). */
export const MESH_WITHDRAW_MAX_MS = MESH_RECONNECT_MAX_MS + MESH_APPLY_MARGIN_MS;
