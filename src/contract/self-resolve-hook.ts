// A module resolution hook (node:module register) for berth.config.ts: `import { defineApp } from
// 'berth'` resolves as usual when the project has Berth installed, and otherwise to the installation
// of the CLI that loads the config, so a fresh project needs no `npm install`/`npm link`.
interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
  format?: string | null;
}
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

let selfUrl = '';

export function initialize(data: { url: string }): void {
  selfUrl = data.url;
}

export async function resolve(specifier: string, context: unknown, next: NextResolve): Promise<ResolveResult> {
  if (specifier !== 'berth') return next(specifier, context);
  try {
    return await next(specifier, context);
  } catch {
    return { url: selfUrl, shortCircuit: true, format: 'module' };
  }
}
