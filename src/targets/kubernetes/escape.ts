// Kubernetes expands `$(VAR)` in container command, args and env values; Berth passes them through
// literally (locally nothing is expanded), so `$(` is escaped as `$$(` to keep the meaning.
export function noExpand(text: string): string {
  return text.replaceAll('$(', () => '$$(');
}
