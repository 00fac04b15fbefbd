// The recommended app.kubernetes.io/* labels on every object Berth renders. `berth deploy` prunes
// by `part-of` + `managed-by`, and selectors use only the labels that never change (no version).
import { createHash } from 'node:crypto';

export const MANAGED_BY = 'berth';
/** Server-side apply field manager: the cluster records Berth as the owner of the fields it sets. */
export const FIELD_MANAGER = 'berth';

/** `<app>-<service>`, shortened with a hash when it would pass a label value's 63 characters. */
export function instanceName(app: string, service: string): string {
  const full = `${app}-${service}`;
  if (full.length <= 63) return full;
  return `${full.slice(0, 52).replace(/-+$/, '')}-${createHash('sha256').update(full).digest('hex').slice(0, 10)}`;
}

export function selectorLabels(app: string, service: string): Record<string, string> {
  return { 'app.kubernetes.io/name': service, 'app.kubernetes.io/instance': instanceName(app, service) };
}

/** The variant of a pod (`default` for the service's own instances): Istio subsets select on it. */
export const VARIANT_LABEL = 'berth.dev/variant';

export function serviceLabels(app: string, service: string, revision: string): Record<string, string> {
  return {
    ...selectorLabels(app, service),
    'app.kubernetes.io/part-of': app,
    'app.kubernetes.io/managed-by': MANAGED_BY,
    'app.kubernetes.io/version': revision,
  };
}

/** Labels for objects that belong to the app as a whole (GitOps objects, shared routes). */
export function appLabels(app: string): Record<string, string> {
  return { 'app.kubernetes.io/part-of': app, 'app.kubernetes.io/managed-by': MANAGED_BY };
}

/** The label selector that finds everything Berth applied for an app (used to prune). */
export function pruneSelector(app: string): string {
  return `app.kubernetes.io/part-of=${app},app.kubernetes.io/managed-by=${MANAGED_BY}`;
}
