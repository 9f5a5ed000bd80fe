#!/usr/bin/env node
// First, before the rest loads (a dynamic import: a static one would load the whole graph before running any of it),
// a cluster worker catches SIGTERM/SIGINT from its first moment (src/cli/stop-signals.ts).
import '../dist/cli/stop-signals.js';

const { run } = await import('../dist/cli/main.js');
await run(process.argv.slice(2));
