// bindings.cron (input): fires on `schedule` — a cron expression with optional seconds
// ("*/5 * * * * *", "0 30 * * * *", "15 * * * *"), a descriptor (@hourly, @daily, @weekly,
// @monthly, @yearly), or "@every <duration>" ("@every 15s", "@every 1h30m") as Dapr accepts.
import { Cron } from 'croner';
import type { ComponentSpec } from '../component.js';
import { ComponentConfigError, MetadataReader, parseDuration } from '../metadata.js';
import type { BindingEvent, InputBinding } from './types.js';

export type CronSchedule = { every: number } | { cron: string };

export function parseSchedule(component: string, schedule: string): CronSchedule {
  const s = schedule.trim();
  const every = /^@every\s+(.+)$/i.exec(s);
  if (every) {
    const ms = parseDuration(every[1]);
    if (ms === undefined || ms <= 0 || /^\d+(\.\d+)?$/.test(every[1].trim())) {
      throw new ComponentConfigError(component, `schedule "${schedule}": @every needs a duration such as "15s" or "1m"`);
    }
    return { every: ms };
  }
  try {
    new Cron(s, { paused: true }).stop();
  } catch (err) {
    throw new ComponentConfigError(component, `schedule "${schedule}" is not a valid cron expression: ${(err as Error).message}`);
  }
  return { cron: s };
}

export class CronBinding implements InputBinding {
  readonly type = 'bindings.cron';
  readonly name: string;
  readonly schedule: CronSchedule;
  private readonly stops = new Set<() => void>();

  constructor(spec: ComponentSpec) {
    this.name = spec.name;
    this.schedule = parseSchedule(spec.name, new MetadataReader(spec).required('schedule'));
  }

  async read(handler: (event: BindingEvent) => Promise<void>): Promise<{ close(): Promise<void> }> {
    const fire = (): void => {
      const now = new Date();
      // A failed delivery (the app answered non-2xx or could not be reached) is not retried: a tick has nothing to redeliver, the next one comes on schedule.
      void handler({ data: Buffer.alloc(0), metadata: { readTimeUTC: now.toISOString(), timeZone: 'UTC' } }).catch(() => undefined);
    };
    let stop: () => void;
    if ('every' in this.schedule) {
      const t = setInterval(fire, this.schedule.every);
      stop = () => clearInterval(t);
    } else {
      const job = new Cron(this.schedule.cron, { timezone: 'UTC', protect: true }, fire);
      stop = () => job.stop();
    }
    this.stops.add(stop);
    return {
      close: async () => {
        stop();
        this.stops.delete(stop);
      },
    };
  }

  async close(): Promise<void> {
    for (const s of this.stops) s();
    this.stops.clear();
  }
}
