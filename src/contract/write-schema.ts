// Regenerates schema/berth.schema.json from the zod schema: node dist/src/contract/write-schema.js
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { jsonSchema } from './json-schema.js';

export function schemaFileText(): string {
  return `${JSON.stringify(jsonSchema(), null, 2)}\n`;
}

const target = resolve(process.argv[2] ?? 'schema/berth.schema.json');
if (process.argv[1] !== undefined && /write-schema\.(js|ts)$/.test(process.argv[1])) {
  writeFileSync(target, schemaFileText());
  console.log(`wrote ${target}`);
}
