// Dead letters of the building-block API in `berth events`: the node agent reads each instance's
// dead-letter file (written by its berth-proxy, see src/lib/dapr-dead-letters.ts) every second and
// appends an event per new record, attributed to the instance and its service — the pattern of
// log-buffer-events.ts: no new route for sidecars, fixed reasons, events kept while the control
// plane is down.
import type { NewEvent } from './event-log.js';
import type { Instance } from './instance.js';
import { SidecarFileWatcher, type Sidecar } from './sidecar-file-watcher.js';
import { deadLetterEvent, deadLetterFile, readDeadLetters } from '../lib/dapr-dead-letters.js';
import { PROXY_SIDECAR_NAME } from '../lib/mesh-protocol.js';

function daprProxyOf(inst: Instance): Sidecar | undefined {
  return inst.sidecars.find((s) => s.template.name === PROXY_SIDECAR_NAME && s.template.env.BERTH_DAPR !== undefined);
}

export class DeadLetterWatcher extends SidecarFileWatcher<{ startedAt: string; seq: number }> {
  protected sidecarOf(inst: Instance): Sidecar | undefined {
    return daprProxyOf(inst);
  }

  protected read(inst: Instance, proxy: Sidecar, prev: { startedAt: string; seq: number } | undefined): { events: NewEvent[]; state: { startedAt: string; seq: number } } | undefined {
    const file = readDeadLetters(deadLetterFile(proxy.template.env.BERTH_STATE_DIR ?? this.stateDir, inst.id));
    // A file older than the running proxy is a previous run's (same instance id after a restart): said already.
    if (!file || file.startedAt < proxy.startedAt!) return undefined;
    const after = prev && prev.startedAt === file.startedAt ? prev.seq : 0;
    let seq = after;
    const events: NewEvent[] = [];
    for (const r of file.records) {
      if (r.seq <= after) continue;
      events.push(deadLetterEvent(r));
      seq = Math.max(seq, r.seq);
    }
    return { events, state: { startedAt: file.startedAt, seq } };
  }
}
