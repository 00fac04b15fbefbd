// Kubernetes expands `$(VAR)` in container command, args and env values. Locally nothing is
// expanded in commands, and in env values only the per-instance variables (HOST, BERTH_INSTANCE,
// BERTH_NODE, BERTH_VARIANT — Kubernetes' dependent variables). Everything else is escaped as
// `$$(` so it stays literal on the cluster too.

/** Per-instance variables an env value may refer to as `$(NAME)`, in the order they are defined. */
export const INSTANCE_VARS = ['HOST', 'BERTH_INSTANCE', 'BERTH_NODE', 'BERTH_VARIANT'] as const;

export function noExpand(text: string): string {
  return text.replaceAll('$(', () => '$$(');
}

/** For env values: `$(HOST)` and the other per-instance variables expand, as locally; the rest stays literal. */
export function envValue(text: string): string {
  return text.replace(/\$\((?!(?:HOST|BERTH_INSTANCE|BERTH_NODE|BERTH_VARIANT)\))/g, () => '$$(');
}
