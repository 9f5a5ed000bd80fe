import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that run the CLI as a process (bin/latchkey.js, or an installed package's node_modules/.bin/latchkey).
 * Every CLI run starts Node and opens the database: seconds each on a loaded machine (two cores shared with
 * benchmarks, load average 10+), so a test of several runs outlasts 30 s while asserting nothing about time. Their
 * tests and hooks get 90 s. Found by content, so a new such file is covered without being listed here. A timeout a
 * test passes itself (`it(name, fn, ms)`) still takes precedence.
 */
const runsTheCli = (readdirSync('test', { recursive: true, encoding: 'utf8' }) as string[])
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', f))
  .filter((f) => readFileSync(f, 'utf8').includes('bin/latchkey'))
  .sort();

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: run two files at a time.
    maxWorkers: 2,
    // Each worker keeps its module graph from one test file to the next instead of importing the whole server again
    // per file: importing was ~2 s a file (577 s of a 1,205 s SQLite pass; 22 s without isolation, the pass 471 s).
    // The test files share no module state that matters: none mocks a module, stubs a global or writes process.env,
    // and each opens its own Latchkey (store, keys, metrics) and closes it in afterAll.
    isolate: false,
    fileParallelism: true,
    projects: [
      // include per project: with extends, a root include would be added to each project's.
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...runsTheCli] } },
      { extends: true, test: { name: 'cli', include: runsTheCli, testTimeout: 90_000, hookTimeout: 90_000 } },
    ],
  },
});
