// What `require('berth')` gives a CommonJS berth.config.ts (a project without "type": "module") that
// has no Berth installed: defineApp, which only gives the spec its type (see self-resolve-hook.ts).
export function defineApp<T>(spec: T): T {
  return spec;
}
