#!/usr/bin/env node
// The `berth` command: a thin launcher for the compiled CLI (run `npm run build` first). The quick
// commands (ls, ps) skip the full command-line parser.
import { fastPath } from '../dist/src/cli/fast.js';

if (!(await fastPath(process.argv.slice(2)))) await import('../dist/src/cli/main.js');
