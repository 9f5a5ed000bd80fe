import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALWAYS, COMMAND_OPTIONS, USAGE } from '../../src/cli/main.js';
import { envName, validateConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { resultCodes } from '../../src/engine/result-codes.js';

const DOCS = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = (file: string) => readFileSync(file, 'utf8');

/** One mention of the CLI: where it is, and what follows `latchkey `. */
interface Mention {
  where: string;
  line: string;
}

/**
 * Every `latchkey …` command a document shows: inline code spans that begin with it, and lines of shell or plain
 * code blocks that run it (a trailing `\` or an indented `[--option]` line continues the line above).
 */
export function cliMentions(file: string, markdown: string): Mention[] {
  const out: Mention[] = [];
  const lines = markdown.split('\n');
  let fence: string | undefined;
  let joined: { n: number; line: string } | undefined;
  const flush = () => {
    if (joined) out.push(...fromLine(`${file}:${joined.n}`, joined.line));
    joined = undefined;
  };
  lines.forEach((raw, i) => {
    const f = /^```(\w*)/.exec(raw);
    if (f) {
      flush();
      fence = fence === undefined ? f[1]! : undefined;
      return;
    }
    if (fence === undefined) {
      for (const m of raw.matchAll(/`(?:npx )?latchkey ([a-z][^`]*)`/g)) out.push({ where: `${file}:${i + 1}`, line: m[1]! });
      return;
    }
    if (!['', 'sh', 'bash', 'shell', 'console'].includes(fence)) return;
    if (joined && (joined.line.endsWith('\\') || /^\s+[[(]?--/.test(raw))) {
      joined.line = joined.line.replace(/\\$/, '') + ' ' + raw.trim();
      return;
    }
    flush();
    joined = { n: i + 1, line: raw };
  });
  flush();
  return out;
}

function fromLine(where: string, line: string): Mention[] {
  // At the start of the line (after a prompt and VAR=value assignments), or after ; && | ( $(.
  const run = /(?:^\s*(?:\$\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*|[;&|(]\s*)(?:npx\s+)?latchkey (?=[a-z])([^#\n]*)/g;
  return [...line.matchAll(run)].map((m) => ({ where, line: m[1]! }));
}

/** The options a command allows, or why it is wrong. */
function allowedOptions(cmd: string, sub: string | undefined): string[] | string {
  if (!Object.hasOwn(COMMAND_OPTIONS, cmd)) return `unknown command ${cmd}`;
  const entry = COMMAND_OPTIONS[cmd]!;
  if (Array.isArray(entry)) return entry;
  if (sub === undefined) return [];
  if (!Object.hasOwn(entry, sub)) return `unknown subcommand ${cmd} ${sub}`;
  return (entry as Record<string, string[]>)[sub]!;
}

/**
 * What a mention names: [command, subcommand, option] triples (option '' for the command itself), and errors for
 * the names the CLI does not know. `a | b` alternatives of subcommands (`keys list | rotate [--now]`) and `a/b`
 * shorthands (`client create/update`) are each checked; a pipe into another program ends the mention.
 */
export function checkMention(line: string): { named: Array<[string, string | undefined, string]>; errors: string[] } {
  const named: Array<[string, string | undefined, string]> = [];
  const errors: string[] = [];
  // A run of spaces ends the command: what follows is its description (the usage text, README's command list).
  const tokens = line.trim().split(/ {3,}/)[0]!.split(/\s+/);
  const cmds = tokens[0]!.split('/');
  const hasSubs = cmds.every((c) => Object.hasOwn(COMMAND_OPTIONS, c) && !Array.isArray(COMMAND_OPTIONS[c]));
  let i = 1;
  let subs: Array<string | undefined> = [undefined];
  const takeSubs = () => {
    const word = tokens[i]?.replace(/^[([]/, '');
    if (!hasSubs || word === undefined || !/^[a-z][a-z/|-]*$/.test(word)) return false;
    subs = word.split(/[/|]/);
    i++;
    return true;
  };
  takeSubs();
  for (const c of cmds) for (const s of subs) named.push([c, s, '']);
  const check = (option: string) => {
    for (const c of cmds) {
      for (const s of subs) {
        const allowed = allowedOptions(c, s);
        if (typeof allowed === 'string') errors.push(allowed);
        else if (!ALWAYS.has(option) && !allowed.includes(option)) errors.push(`${c}${s ? ' ' + s : ''} has no --${option}`);
        else named.push([c, s, option]);
      }
    }
  };
  for (const c of cmds) for (const s of subs) if (typeof allowedOptions(c, s) === 'string') errors.push(allowedOptions(c, s) as string);
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (['&&', ';', '||', '>', '2>', '<'].includes(t)) break;
    if (t === '|') {
      i++;
      const next = tokens[i]?.replace(/^[([]/, '');
      if (next?.startsWith('--')) {
        i--;
        continue;
      }
      // `| list`: another subcommand; `| jq`: a pipe into another program, which ends the command.
      const word = tokens[i]?.replace(/^[([]/, '');
      if (!word || !cmds.every((c) => typeof allowedOptions(c, word.split(/[/|]/)[0]) !== 'string') || !takeSubs()) break;
      for (const c of cmds) for (const s of subs) {
        if (typeof allowedOptions(c, s) === 'string') errors.push(allowedOptions(c, s) as string);
        else named.push([c, s, '']);
      }
      i--;
      continue;
    }
    const m = /^[[(]*--([a-z][a-z0-9-]*)/.exec(t);
    if (m) check(m[1]!);
  }
  return { named, errors: [...new Set(errors)] };
}

describe('the documents name only commands, options and settings that exist', () => {
  it('every `latchkey …` command and option in README.md and docs/ is one the CLI has (src/cli/main.ts COMMAND_OPTIONS)', () => {
    const errors: string[] = [];
    let count = 0;
    for (const file of DOCS) {
      for (const m of cliMentions(file, text(file))) {
        count++;
        for (const e of checkMention(m.line).errors) errors.push(`${m.where}: latchkey ${m.line.trim()}: ${e}`);
      }
    }
    expect(count).toBeGreaterThan(40);
    expect(errors).toEqual([]);
  });

  it('latchkey --help names every command, subcommand and option the CLI has, and nothing else', () => {
    const documented = new Set<string>();
    const errors: string[] = [];
    const commands: string[] = [];
    for (const line of USAGE.split('\n').slice(1)) {
      if (/^ {2}[a-z]/.test(line)) commands.push(line.trim());
      else if (/^ {4,}[[(]--/.test(line) && commands.length) commands.push(`${commands.pop()!.split(/ {3,}/)[0]} ${line.trim()}`);
    }
    for (const line of commands) {
      const r = checkMention(line);
      errors.push(...r.errors.map((e) => `${line.trim()}: ${e}`));
      for (const [c, s, o] of r.named) documented.add(`${c} ${s ?? ''} ${o}`);
    }
    // `resource update … [same options as create]`
    for (const o of (COMMAND_OPTIONS.resource as Record<string, string[]>).create!) if (documented.has(`resource create ${o}`)) documented.add(`resource update ${o}`);
    expect(errors).toEqual([]);
    const missing: string[] = [];
    for (const [cmd, entry] of Object.entries(COMMAND_OPTIONS)) {
      const table: Record<string, string[]> = Array.isArray(entry) ? { '': entry } : (entry as Record<string, string[]>);
      for (const [sub, options] of Object.entries(table)) {
        if (!documented.has(`${cmd} ${sub} `)) missing.push(`${cmd} ${sub}`);
        // --tenant is one of the "Common options" of the usage text.
        for (const o of options) if (o !== 'tenant' && !documented.has(`${cmd} ${sub} ${o}`)) missing.push(`${cmd} ${sub} --${o}`);
      }
    }
    expect(missing).toEqual([]);
    // … and names exactly the commands that take --tenant.
    const named = /for ([a-z, -]+?)(?:,| and) ([a-z-]+) commands --tenant ID/.exec(USAGE.replace(/\s+/g, ' '));
    expect(named, 'the usage text names the commands that take --tenant').not.toBeNull();
    const withTenant = Object.entries(COMMAND_OPTIONS)
      .filter(([, e]) => (Array.isArray(e) ? e : Object.values(e as Record<string, string[]>).flat()).includes('tenant'))
      .map(([c]) => c);
    expect([...named![1]!.split(/, /), named![2]!].sort()).toEqual(withTenant.sort());
  });

  it('every LATCHKEY_* variable the documents name is a configuration option (src/config/schema.ts)', () => {
    const names = new Set(Object.keys(configSchema.shape).map(envName));
    // Not options: the config file's name, and the test script's switch (scripts/test.sh).
    const others = new Set(['LATCHKEY_CONFIG', 'LATCHKEY_SKIP_POSTGRES']);
    expect(readFileSync('scripts/test.sh', 'utf8')).toContain('LATCHKEY_SKIP_POSTGRES');
    const errors: string[] = [];
    for (const file of DOCS) {
      for (const m of text(file).matchAll(/LATCHKEY_[A-Z0-9_]+/g)) {
        const name = m[0].replace(/_FILE$/, '');
        if (/_$/.test(name) || others.has(name)) continue; // LATCHKEY_<NAME>: a pattern
        if (!names.has(name)) errors.push(`${file}: ${m[0]}`);
      }
    }
    expect(errors).toEqual([]);
  });

  it('every option the documents name ("option `x`", a configuration file in a json block) is in the schema', () => {
    const keys = new Set(Object.keys(configSchema.shape));
    const errors: string[] = [];
    let count = 0;
    for (const file of DOCS) {
      const md = text(file);
      for (const m of md.matchAll(/\boptions? `([A-Za-z]+)`/g)) {
        count++;
        if (!keys.has(m[1]!)) errors.push(`${file}: option ${m[1]}`);
      }
      // A json block introduced as configuration ("… configuration:", "latchkey.config.json:").
      for (const m of md.matchAll(/(configuration|latchkey\.config\.json):?\n\n```json\n([\s\S]*?)\n```/g)) {
        count++;
        const options = JSON.parse(m[2]!) as Record<string, unknown>;
        for (const k of Object.keys(options)) if (!keys.has(k)) errors.push(`${file}: config file key ${k}`);
        try {
          validateConfig(options);
        } catch (e) {
          errors.push(`${file}: the configuration shown is refused: ${(e as Error).message}`);
        }
      }
    }
    expect(count).toBeGreaterThan(5);
    expect(errors).toEqual([]);
  });
});

/** [option, default] of the rows of tables whose second column is headed "Default": `| \`key\` | \`value\` |`. */
function tableDefaults(md: string): string[][] {
  const out: string[][] = [];
  let header: string | undefined;
  for (const line of md.split('\n')) {
    if (!line.startsWith('|')) {
      header = undefined;
      continue;
    }
    header ??= line;
    const m = /^\| `([A-Za-z]+)` \| `([^`]*)` \|/.exec(line);
    if (m && /^default$/i.test(header.split('|')[2]!.trim())) out.push([m[1]!, m[2]!]);
  }
  return out;
}

describe('the defaults the documents state are the schema\'s', () => {
  it('"| `key` | `default` |" table rows, "`key` (N s)", "`key` (true)" and "`key` (default `V`)" match configSchema', () => {
    const defaults = configSchema.parse({}) as Record<string, unknown>;
    const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    const errors: string[] = [];
    let count = 0;
    for (const file of DOCS.filter((f) => f !== 'docs/configuration.md')) {
      const md = text(file);
      const claims = [
        ...tableDefaults(md),
        ...[...md.matchAll(/`([A-Za-z]+)` \((\d+|true|false)(?: s)?[;)]/g)].map((m) => [m[1]!, m[2]!]),
        ...[...md.matchAll(/`([A-Za-z]+)` \(default `([^`]+)`/g)].map((m) => [m[1]!, m[2]!]),
      ];
      for (const [key, value] of claims) {
        if (!Object.hasOwn(defaults, key!)) continue;
        count++;
        if (shown(defaults[key!]) !== value) errors.push(`${file}: ${key} is said to default to ${value}, the schema says ${shown(defaults[key!])}`);
      }
    }
    expect(count).toBeGreaterThan(10);
    expect(errors).toEqual([]);
  });
});

describe('the result codes the documents name exist', () => {
  it('every LKnnnn in README.md and docs/ is in src/engine/result-codes.ts', () => {
    const errors: string[] = [];
    for (const file of DOCS) for (const m of text(file).matchAll(/\bLK\d+\b/g)) if (!Object.hasOwn(resultCodes, m[0])) errors.push(`${file}: ${m[0]}`);
    expect(errors).toEqual([]);
  });
});

describe('docs/operations.md lists every log event', () => {
  it('each `event: \'name\'` a log line in src/ carries is named in the Logs section', () => {
    const events = new Set<string>();
    for (const f of readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
      for (const m of readFileSync(`src/${f}`, 'utf8').matchAll(/\bevent: '([a-z_]+)'/g)) events.add(m[1]!);
    }
    expect(events.size).toBeGreaterThan(10);
    const logs = text('docs/operations.md').split('## Logs')[1]!.split('\n## ')[0]!;
    expect([...events].filter((e) => !logs.includes('`' + e + '`')).sort()).toEqual([]);
  });
});

/** The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces as '-', repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/```[\s\S]*?```/g, '').matchAll(/^#+\s+(.*)$/gm)) {
    const slug = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');
    const n = seen.get(slug);
    seen.set(slug, (n ?? -1) + 1);
    out.add(n === undefined ? slug : `${slug}-${n + 1}`);
  }
  return out;
}

describe('links between the documents resolve', () => {
  it('every relative link in README.md and docs/ names a file that exists, and an anchor its headings have', () => {
    const errors: string[] = [];
    let count = 0;
    for (const file of DOCS) {
      for (const m of text(file).replace(/```[\s\S]*?```/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/.test(target)) continue;
        count++;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const to = path ? normalize(join(dirname(file), path)) : file;
        if (!existsSync(to)) {
          errors.push(`${file}: ${target}: no such file`);
          continue;
        }
        if (anchor === undefined) continue;
        if (statSync(to).isDirectory() || !to.endsWith('.md')) errors.push(`${file}: ${target}: an anchor on a non-Markdown target`);
        else if (!anchorsOf(readFileSync(to, 'utf8')).has(anchor)) errors.push(`${file}: ${target}: no such heading`);
      }
    }
    expect(count).toBeGreaterThan(30);
    expect(errors).toEqual([]);
  });
  it('anchorsOf follows GitHub: `may_act` (RFC 8693 §4.4) is #may_act-rfc-8693-44', () => {
    expect(anchorsOf('## may_act (RFC 8693 §4.4)\n## A\n## A\n')).toEqual(new Set(['may_act-rfc-8693-44', 'a', 'a-1']));
  });
});

describe('the checks above can fail', () => {
  it('cliMentions finds commands in code spans and shell blocks, continued lines included', () => {
    const md = 'Run `latchkey keys rotate --now`.\n\n```sh\nnpx latchkey client create --name a \\\n  --bogus\necho latchkey rocks\n```\n\n```js\nrun("latchkey serve --x")\n```\n';
    expect(cliMentions('x.md', md).map((m) => [m.where, m.line])).toEqual([
      ['x.md:1', 'keys rotate --now'],
      ['x.md:4', 'client create --name a  --bogus'],
    ]);
  });
  it('checkMention reports an unknown command, subcommand or option', () => {
    expect(checkMention('frobnicate --now').errors).toEqual(['unknown command frobnicate']);
    expect(checkMention('keys spin KID').errors).toEqual(['unknown subcommand keys spin']);
    expect(checkMention('keys list | rotate --forever').errors).toEqual(['keys rotate has no --forever']);
    expect(checkMention('admin-token create --tenant acme').errors).toEqual(['admin-token create has no --tenant']);
    expect(checkMention('client create --bogus X').errors).toEqual(['client create has no --bogus']);
    expect(checkMention('keys list | rotate [--alg RS256|ES256] [--now] | retire KID [--force]').errors).toEqual([]);
    expect(checkMention('client list --json | jq .').errors).toEqual([]);
    expect(checkMention('client list --json | jq --raw-output .').errors).toEqual([]);
  });
});
