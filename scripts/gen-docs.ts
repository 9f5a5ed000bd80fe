/**
 * Generates docs/result-codes.md from the catalogue and docs/configuration.md from the config schema.
 * `npm run docs` writes them; the test suite checks they are current (test/docs/generated.test.ts).
 */
import { writeFileSync } from 'node:fs';
import { resultCodes } from '../src/engine/result-codes.js';
import { configSchema, optionDocs } from '../src/config/schema.js';
import { envName } from '../src/config/load.js';

export function resultCodesMarkdown(): string {
  const rows = Object.entries(resultCodes).map(([code, text]) => `| \`${code}\` | ${text.replace(/\|/g, '\\|')} |`);
  return `# Result codes\n\nEvery engine Result carries a stable \`resultCode\` (for callers and logs) and a human \`resultMessage\`.\nGenerated from \`src/engine/result-codes.ts\` by \`npm run docs\`; codes are never renumbered.\n\n| code | meaning |\n|---|---|\n${rows.join('\n')}\n`;
}

export function configurationMarkdown(): string {
  const defaults = configSchema.parse({});
  const rows = Object.entries(optionDocs).map(([key, doc]) => {
    const d = (defaults as Record<string, unknown>)[key];
    return `| \`${key}\` | \`${envName(key)}\` | ${d === undefined ? '—' : `\`${JSON.stringify(d)}\``} | ${doc.replace(/\|/g, '\\|')} |`;
  });
  return `# Configuration\n\nOptions come from, lowest precedence first: defaults, \`latchkey.config.json\` (or the file named by \`LATCHKEY_CONFIG\` / \`--config\`), \`LATCHKEY_*\` environment variables, command-line flags. A bad value stops the start with one line naming the option.\n\nIn the environment, a variable that is set but empty is such an error (unset it to get the default): an empty value is what a deployment template leaves when the value it meant to substitute is missing, and taking it as unset would start on defaults (a loopback issuer, a \`master.key\` of its own on each instance). Any option can also be read from a file: \`LATCHKEY_<NAME>_FILE=/run/secrets/…\` (Docker and Kubernetes secrets) sets it to the file's contents without its trailing line breaks (all of them, \`\\n\` or \`\\r\\n\`: no option's value ends with one, and a second newline left by \`echo >>\` or an editor would otherwise end up in a key or a password; the CLI's \`--password-file\` / \`--secret-file\` follow the same rule, \`src/config/secret-file.ts\`); setting both \`LATCHKEY_<NAME>\` and \`LATCHKEY_<NAME>_FILE\`, an unreadable file or an empty one is an error.\n\nGenerated from \`src/config/schema.ts\` by \`npm run docs\`.\n\n| option | environment variable | default | meaning |\n|---|---|---|---|\n${rows.join('\n')}\n`;
}

if (process.argv[1]?.endsWith('gen-docs.ts')) {
  writeFileSync('docs/result-codes.md', resultCodesMarkdown());
  writeFileSync('docs/configuration.md', configurationMarkdown());
  console.log('wrote docs/result-codes.md and docs/configuration.md');
}
