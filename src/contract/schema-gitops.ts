// `gitops:` in a spec: the GitOps sources `berth up` / `berth apply` register with the control plane,
// the same as `berth gitops add` (docs/gitops.md). Typically the spec in the repository names its own
// repository, so `berth up` once bootstraps it and git is the source of truth from then on.
import { z } from 'zod';
import { Label } from './label.js';

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A poll interval: seconds as a number, or "500ms", "30s", "2m", "1h"; compiled to milliseconds. */
const Interval = z
  .union([z.number().positive({ message: 'must be greater than 0 (seconds)' }), z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, { message: 'must be seconds (a number) or a string like "30s", "2m" or "1h"' })])
  .transform((v) => (typeof v === 'number' ? v * 1000 : Number(/^[\d.]+/.exec(v)![0]) * UNITS[/(ms|s|m|h)$/.exec(v)![1] as keyof typeof UNITS]))
  .pipe(z.number().min(100, { message: 'must be at least 100 ms' }).max(86_400_000, { message: 'must be at most one day' }));

export const GitopsSource = z
  .strictObject({
    name: Label.describe('Name of the source (`berth gitops status NAME`).'),
    repo: z.string().min(1).describe('The repository: any URL git understands, or a local path (relative to the spec).'),
    branch: z.string().min(1).default('main').describe('Branch to follow.'),
    path: z.string().default('').describe('Folder (or spec file) inside the repository.'),
    env: Label.optional().describe('Environment overlay applied to the repository\'s spec.'),
    interval: Interval.default(30_000).describe('How often the repository is fetched.'),
    autoSync: z.boolean().default(false).describe('Apply each new commit of the branch.'),
    selfHeal: z.boolean().default(false).describe('Revert changes made outside git (berth scale/apply/restart) within one interval.'),
    prune: z.boolean().default(false).describe('Remove services deleted in git.'),
  })
  .describe('A GitOps source: a git repository whose spec is applied, checked against policies first.');

export const GitopsSources = z
  .array(GitopsSource)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `GitOps source "${s.name}" is declared twice` });
      seen.add(s.name);
    });
  })
  .optional()
  .describe('GitOps sources registered with the control plane by `berth up` and `berth apply` (as `berth gitops add`).');

export type GitopsSourceSpec = z.output<typeof GitopsSource>;
