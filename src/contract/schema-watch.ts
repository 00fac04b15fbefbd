// A service's `watch:` — the development loop (`berth up --watch`): which files make a new revision
// when saved, which are ignored, and how the new revision replaces the running one. The digest of
// the watched files is part of the revision, so `berth apply` sees a code edit as a change too.
import { z } from 'zod';

export const WATCH_ACTIONS = ['restart', 'rollout'] as const;
/** Always ignored, whatever `ignore:` says (with the patterns of the `.gitignore` beside each watched path). */
export const DEFAULT_WATCH_IGNORE = ['.git', 'node_modules', '.berth'] as const;

export const Watch = z
  .strictObject({
    paths: z
      .array(z.string().min(1, { message: 'must not be empty' }))
      .min(1, { message: 'name at least one path, or leave `paths` out (the service\'s cwd)' })
      .optional()
      .describe("Files or folders whose changes make a new revision, relative to the spec file's directory (default: the service's cwd)."),
    ignore: z
      .array(z.string().min(1, { message: 'must not be empty' }))
      .default([])
      .describe('.gitignore-style patterns never watched, added to .git, node_modules, .berth and the patterns of .gitignore.'),
    action: z
      .enum(WATCH_ACTIONS)
      .default('rollout')
      .describe('rollout: the new revision replaces the old one with no failed request (the service\'s rollout budget); restart: the old instances stop as the new ones start (quicker, with a short gap).'),
    debounceMs: z
      .number()
      .int({ message: 'must be a whole number of milliseconds' })
      .min(0, { message: 'must be 0 or more' })
      .max(60_000, { message: 'must be at most 60000 (one minute)' })
      .default(200)
      .describe('Milliseconds without further changes before a new revision is made (a save that writes several files makes one revision).'),
  })
  .describe('Development: with `berth up --watch`, a saved file under `paths` makes a new revision of this service; `berth apply` also takes such changes into account.');

export type WatchSpec = z.output<typeof Watch>;
