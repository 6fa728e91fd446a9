/**
 * The operator-facing files, checked without a Docker engine: Dockerfile, .dockerignore,
 * docker-compose.yml, deploy/nginx.conf, and the three lists of configuration variables
 * (src/config/env.schema.ts, .env.example, the README's configuration table), which must agree.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { ConfigError, Env, validateEnv } from '../../src/config/env.schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(ROOT + path, 'utf8');
const sorted = (values: Iterable<string>): string[] => [...values].sort();
const duplicatesOf = (values: string[]): string[] => sorted(new Set(values.filter((v, i) => values.indexOf(v) !== i)));

// ---------------------------------------------------------------------------------------
// The schema: names parsed from the class source (optional ones included), defaults from an instance.

/** Property declarations of `class Env`: `  NAME = …`, `  NAME: T = …` or `  NAME?: T`. */
function schemaDeclarations(): { name: string; optional: boolean }[] {
  const source = read('src/config/env.schema.ts');
  const start = source.indexOf('export class Env {');
  const end = source.indexOf('\n}', start);
  if (start < 0 || end < 0) throw new Error('`export class Env { … }` not found in src/config/env.schema.ts');
  return [...source.slice(start, end).matchAll(/^ {2}([A-Z][A-Z0-9_]*)(\?)?\s*[:=]/gm)].map((m) => ({
    name: m[1],
    optional: m[2] === '?',
  }));
}

const DECLARED = schemaDeclarations();
const SCHEMA_VARS = sorted(DECLARED.map((d) => d.name));
const OPTIONAL_VARS = sorted(DECLARED.filter((d) => d.optional).map((d) => d.name));
const DEFAULTS = new Env() as unknown as Record<string, unknown>;
const hasDefault = (name: string): boolean => DEFAULTS[name] !== undefined;

/** Runs `fn`, expecting a ConfigError; answers its message. */
function configErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('src/config/env.schema.ts', () => {
  it('declares each variable once, and the parsed declarations agree with an Env instance', () => {
    expect(SCHEMA_VARS.length).toBeGreaterThanOrEqual(20);
    expect(duplicatesOf(DECLARED.map((d) => d.name))).toEqual([]);
    // The parser misses no property of an instance (optional ones may be own keys holding undefined)...
    expect(Object.keys(DEFAULTS).filter((k) => !SCHEMA_VARS.includes(k))).toEqual([]);
    // ...and every non-optional declaration has a default, and only those do.
    expect(SCHEMA_VARS.filter(hasDefault)).toEqual(sorted(DECLARED.filter((d) => !d.optional).map((d) => d.name)));
    expect(OPTIONAL_VARS).toEqual(expect.arrayContaining(['REDIS_CLUSTER_NODES', 'REDIS_URL', 'STORE', 'TRUST_PROXY']));
    expect(OPTIONAL_VARS.filter(hasDefault)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// .env.example

interface ExampleEntry {
  name: string;
  value: string;
  commented: boolean;
  /** The line just above the entry. */
  above: string;
}

function exampleEntries(): ExampleEntry[] {
  const lines = read('.env.example').split('\n');
  const entries: ExampleEntry[] = [];
  lines.forEach((line, i) => {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) entries.push({ name: m[2], value: m[3], commented: m[1] !== undefined, above: lines[i - 1] ?? '' });
  });
  return entries;
}

describe('.env.example', () => {
  const entries = exampleEntries();
  const byName = new Map(entries.map((e) => [e.name, e]));

  it('lists exactly the schema variables, each once (commented out or not)', () => {
    const names = entries.map((e) => e.name);
    expect({
      missingFromEnvExample: SCHEMA_VARS.filter((v) => !byName.has(v)),
      notInSchema: sorted(new Set(names.filter((n) => !SCHEMA_VARS.includes(n)))),
      listedTwice: duplicatesOf(names),
    }).toEqual({ missingFromEnvExample: [], notInSchema: [], listedTwice: [] });
  });

  it('sets each variable that has a default to exactly that default, and comments out the others', () => {
    const wrong: string[] = [];
    for (const name of SCHEMA_VARS) {
      const entry = byName.get(name);
      if (!entry) continue; // reported by the test above
      if (hasDefault(name)) {
        const expected = String(DEFAULTS[name]);
        if (entry.commented) wrong.push(`${name} is commented out but has the default ${expected}`);
        else if (entry.value !== expected) wrong.push(`${name}=${entry.value}, default is ${expected}`);
      } else if (!entry.commented) {
        wrong.push(`${name} has no default and must be commented out`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has a one-line description comment directly above each variable', () => {
    const undescribed = entries
      .filter((e) => !/^#\s*\S/.test(e.above) || /^#\s*[A-Z][A-Z0-9_]*=/.test(e.above))
      .map((e) => e.name);
    expect(undescribed).toEqual([]);
  });

  it('loads, as a .env file, to exactly the built-in defaults', () => {
    const parsed = parseEnv(read('.env.example'));
    expect(sorted(Object.keys(parsed))).toEqual(SCHEMA_VARS.filter(hasDefault));
    expect(validateEnv(parsed)).toEqual(validateEnv({}));
  });

  it('gives each optional variable a valid example value that validateEnv reads', () => {
    expect(OPTIONAL_VARS.length).toBeGreaterThan(0);
    const problems: string[] = [];
    for (const name of OPTIONAL_VARS) {
      const sample = byName.get(name)?.value ?? '';
      if (sample.trim() === '') {
        problems.push(`${name}: no example value`);
        continue;
      }
      try {
        const env = validateEnv({ [name]: sample }) as unknown as Record<string, unknown>;
        if (env[name] !== sample) problems.push(`${name}: set to ${sample} but validateEnv gave ${String(env[name])}`);
      } catch (err) {
        problems.push(`${name}=${sample}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// README.md: the configuration table

interface DocRow {
  name: string;
  /** The backticked default, or null when the cell has none ("unset"). */
  defaultValue: string | null;
  defaultCell: string;
  description: string;
}

function docRows(): { header: string[] | null; rows: DocRow[]; badRows: string[] } {
  const tableLines = read('README.md')
    .split('\n')
    .filter((l) => l.trim().startsWith('|'));
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const headerIndex = tableLines.findIndex((l) => cells(l)[0] === 'Variable');
  if (headerIndex < 0) return { header: null, rows: [], badRows: [] };
  const rows: DocRow[] = [];
  const badRows: string[] = [];
  for (const line of tableLines.slice(headerIndex + 2)) {
    const [first, defaultCell, description, ...extra] = cells(line);
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(first)?.[1];
    if (!name || description === undefined || extra.length > 0) {
      badRows.push(line);
      continue;
    }
    rows.push({ name, defaultValue: /^`([^`]*)`/.exec(defaultCell)?.[1] ?? null, defaultCell, description });
  }
  return { header: cells(tableLines[headerIndex]), rows, badRows };
}

/** `Integer \`min\`–\`max\`` in a description. */
function documentedRange(row: DocRow): { min: number; max: number } | null {
  const m = /Integer `(-?\d+)`–`(-?\d+)`/.exec(row.description);
  return m ? { min: Number(m[1]), max: Number(m[2]) } : null;
}

/** `One of \`a\`, \`b\`` in a description. */
function documentedChoices(row: DocRow): string[] | null {
  const m = /One of ((?:`[^`]+`(?:, )?)+)/.exec(row.description);
  return m ? [...m[1].matchAll(/`([^`]+)`/g)].map((c) => c[1]) : null;
}

describe('README.md configuration table', () => {
  const { header, rows, badRows } = docRows();
  const rowOf = new Map(rows.map((r) => [r.name, r]));

  it('has a | Variable | Default | Description | table listing exactly the schema variables, each once', () => {
    expect(header).toEqual(['Variable', 'Default', 'Description']);
    expect(badRows).toEqual([]);
    const names = rows.map((r) => r.name);
    expect({
      missingFromDocs: SCHEMA_VARS.filter((v) => !rowOf.has(v)),
      notInSchema: sorted(new Set(names.filter((n) => !SCHEMA_VARS.includes(n)))),
      listedTwice: duplicatesOf(names),
    }).toEqual({ missingFromDocs: [], notInSchema: [], listedTwice: [] });
  });

  it('shows each default exactly as the schema has it, and "unset" for the optional ones', () => {
    const wrong: string[] = [];
    for (const row of rows) {
      if (hasDefault(row.name)) {
        const expected = String(DEFAULTS[row.name]);
        if (row.defaultValue !== expected) wrong.push(`${row.name}: docs say ${row.defaultCell}, default is ${expected}`);
      } else if (row.defaultCell !== 'unset') {
        wrong.push(`${row.name}: has no default, docs say ${row.defaultCell}`);
      }
      if (row.description.length < 10) wrong.push(`${row.name}: no description`);
    }
    expect(wrong).toEqual([]);
  });

  it('documents the range of every integer variable, and validateEnv enforces exactly that range', () => {
    const integerVars = SCHEMA_VARS.filter((v) => typeof DEFAULTS[v] === 'number');
    expect(integerVars.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const name of integerVars) {
      const row = rowOf.get(name);
      const range = row && documentedRange(row);
      if (!range) {
        problems.push(`${name}: no "Integer \`min\`–\`max\`" in its description`);
        continue;
      }
      for (const ok of [range.min, range.max]) {
        try {
          const got = (validateEnv({ [name]: String(ok) }) as unknown as Record<string, unknown>)[name];
          if (got !== ok) problems.push(`${name}=${ok} read as ${String(got)}`);
        } catch (err) {
          problems.push(`${name}=${ok} (documented as allowed) refused: ${(err as Error).message}`);
        }
      }
      for (const bad of [range.min - 1, range.max + 1]) {
        try {
          const message = configErrorOf(() => validateEnv({ [name]: String(bad) }));
          if (!message.includes(name)) problems.push(`${name}=${bad}: the error does not name the variable`);
        } catch {
          problems.push(`${name}=${bad} (outside the documented range) accepted`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('lists values validateEnv accepts wherever it says "One of", and validateEnv refuses others', () => {
    const withChoices = rows.filter((r) => documentedChoices(r) !== null);
    expect(withChoices.map((r) => r.name)).toEqual(expect.arrayContaining(['NODE_ENV', 'LOG_LEVEL', 'STORE']));
    // A Redis URL, so that NODE_ENV=production and STORE=redis are valid on their own.
    const base = { REDIS_URL: 'redis://127.0.0.1:6379' };
    const problems: string[] = [];
    for (const row of withChoices) {
      for (const value of documentedChoices(row) ?? []) {
        try {
          const got = (validateEnv({ ...base, [row.name]: value }) as unknown as Record<string, unknown>)[row.name];
          if (got !== value) problems.push(`${row.name}=${value} read as ${String(got)}`);
        } catch (err) {
          problems.push(`${row.name}=${value} (documented) refused: ${(err as Error).message}`);
        }
      }
      try {
        configErrorOf(() => validateEnv({ ...base, [row.name]: 'not-a-listed-value' }));
      } catch {
        problems.push(`${row.name}: a value outside the documented list is accepted`);
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  image: string;
  name: string | null;
  body: Instruction[];
}

/** Instructions with line continuations joined and comments dropped, grouped by FROM. */
function dockerStages(): Stage[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of read('Dockerfile').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\S+)\s+(.*)$/.exec(full);
    if (!m) throw new Error(`Dockerfile: cannot read instruction ${JSON.stringify(full)}`);
    instructions.push({ op: m[1].toUpperCase(), args: m[2].trim() });
  }
  if (pending !== '') throw new Error('Dockerfile ends inside a line continuation');
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile: cannot read FROM ${ins.args}`);
      stages.push({ image: m[1], name: m[2] ?? null, body: [] });
    } else if (stages.length === 0) {
      if (ins.op !== 'ARG') throw new Error(`Dockerfile: ${ins.op} before the first FROM`);
    } else {
      stages[stages.length - 1].body.push(ins);
    }
  }
  return stages;
}

/** The argv of an exec-form `CMD [...]` (also after HEALTHCHECK options). */
function execForm(args: string): string[] {
  const json = args.replace(/^(?:--\S+\s+)*CMD\s+/, '');
  const argv: unknown = JSON.parse(json);
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) throw new Error(`not an exec form: ${args}`);
  return argv as string[];
}

/** Whether .dockerignore excludes a build-context path (patterns as Docker reads them, `!` re-includes). */
function dockerignored(path: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const source = pattern
      .split('**/')
      .map((part) =>
        part
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*'),
      )
      .join('(?:.*/)?');
    if (new RegExp(`^${source}(?:/.*)?$`).test(path)) ignored = !negated;
  }
  return ignored;
}

/** Answers the healthcheck probes: records the paths asked, answers `status`. */
async function probeServer(status: number): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

/** Runs an argv (its first element `node`) and answers the exit code. */
function runNode(argv: string[], env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, argv.slice(1), { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('Dockerfile', () => {
  const stages = dockerStages();
  const runtime = stages[stages.length - 1];
  const builders = stages.slice(0, -1);
  const runs = (stage: Stage) => stage.body.filter((i) => i.op === 'RUN').map((i) => i.args);
  const last = (stage: Stage, op: string) => [...stage.body].reverse().find((i) => i.op === op);

  it('has at least two stages, all on node:20-bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages.map((s) => s.image)).toEqual(stages.map(() => 'node:20-bookworm-slim'));
  });

  it('builds in an earlier stage: npm ci with dev dependencies, then npm run build', () => {
    const buildRuns = builders.flatMap(runs);
    expect(buildRuns.some((r) => /\bnpm ci\b/.test(r) && !/--omit[= ]dev/.test(r))).toBe(true);
    expect(buildRuns.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('installs production dependencies only in the last stage (npm ci --omit=dev from package.json + lock)', () => {
    const installs = runs(runtime).filter((r) => /\bnpm (ci|install|i)\b/.test(r));
    expect(installs.length).toBeGreaterThan(0);
    expect(installs.filter((r) => !/\bnpm ci\b/.test(r) || !/--omit[= ]dev\b/.test(r))).toEqual([]);
    const copies = runtime.body.filter((i) => i.op === 'COPY' && !/--from=/.test(i.args)).map((i) => i.args);
    expect(copies.some((c) => /\bpackage\.json\b/.test(c) && /\bpackage-lock\.json\b/.test(c))).toBe(true);
    const copyIndex = runtime.body.findIndex((i) => i.op === 'COPY' && /\bpackage-lock\.json\b/.test(i.args));
    const installIndex = runtime.body.findIndex((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(copyIndex).toBeGreaterThanOrEqual(0);
    expect(copyIndex).toBeLessThan(installIndex);
  });

  it('copies dist/ from a build stage into the last stage', () => {
    const names = builders.map((s) => s.name).filter((n): n is string => n !== null);
    const fromBuild = runtime.body.filter((i) => i.op === 'COPY' && /--from=(\S+)/.exec(i.args) !== null);
    expect(fromBuild.length).toBeGreaterThan(0);
    for (const copy of fromBuild) expect(names).toContain(/--from=(\S+)/.exec(copy.args)?.[1]);
    expect(fromBuild.some((c) => /\/dist\/?\s+(\.\/)?dist\/?$/.test(c.args))).toBe(true);
  });

  it('runs as a non-root user, with NODE_ENV=production and PORT=8000, exposing 8000', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0', 'root:root']).not.toContain(user);
    const userIndex = runtime.body.findIndex((i) => i.op === 'USER' && i.args === user);
    expect(userIndex).toBeLessThan(runtime.body.findIndex((i) => i.op === 'CMD'));
    const env: Record<string, string> = {};
    for (const ins of runtime.body.filter((i) => i.op === 'ENV')) {
      for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]] = m[2].replace(/^"|"$/g, '');
    }
    expect(env).toMatchObject({ NODE_ENV: 'production', PORT: '8000' });
    expect(runtime.body.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/))).toContain('8000');
  });

  it('starts with CMD ["node", "dist/main.js"]', () => {
    const cmd = last(runtime, 'CMD');
    expect(cmd).toBeDefined();
    expect(execForm(cmd?.args ?? '')).toEqual(['node', 'dist/main.js']);
  });

  it('has a HEALTHCHECK that asks GET /health through node and fails when it does not answer 2xx', async () => {
    const check = last(runtime, 'HEALTHCHECK');
    expect(check).toBeDefined();
    const argv = execForm(check?.args ?? '');
    expect(argv[0]).toBe('node');
    expect(argv.join(' ')).toContain('127.0.0.1');
    for (const [status, exitCode] of [
      [200, 0],
      [503, 1],
    ] as const) {
      const probe = await probeServer(status);
      try {
        expect(await runNode(argv, { PORT: String(probe.port) })).toBe(exitCode);
        expect(probe.paths).toEqual(['/health']);
      } finally {
        probe.server.close();
      }
    }
  });

  it('copies only build-context paths that exist and that .dockerignore lets through', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const sources = stages
      .flatMap((s) => s.body)
      .filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src']));
    const problems = sources
      .map((s) => s.replace(/^\.\//, '').replace(/\/$/, ''))
      .flatMap((s) => [
        ...(existsSync(ROOT + s) ? [] : [`${s} does not exist`]),
        ...(dockerignored(s, patterns) ? [`${s} is excluded by .dockerignore`] : []),
      ]);
    expect(problems).toEqual([]);
  });
});

describe('.dockerignore', () => {
  it('keeps node_modules, dist, .git, test, bench, coverage, logs and .env out of the build context', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    const mustIgnore = ['node_modules', 'dist', '.git', 'test', 'bench', 'coverage', 'server.log', '.env'];
    expect(mustIgnore.filter((p) => !dockerignored(p, patterns))).toEqual([]);
    expect(['src', 'package.json', 'package-lock.json'].filter((p) => dockerignored(p, patterns))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// docker-compose.yml (block-style YAML subset: maps, sequences, plain/quoted scalars, JSON-style flow sequences)

type Yaml = string | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

function parseYamlSubset(text: string, file: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw, i) => ({ raw: raw.replace(/\s+$/, ''), no: i + 1 }))
    .filter(({ raw }) => raw.trim() !== '' && !raw.trimStart().startsWith('#'));
  const fail = (no: number, why: string): never => {
    throw new Error(`${file}:${no}: ${why} (outside the YAML subset this test reads)`);
  };
  const indentOf = (raw: string) => raw.length - raw.trimStart().length;
  const KEY = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/;
  let i = 0;

  const scalar = (s: string, no: number): Yaml => {
    if (s.startsWith('"') || s.startsWith('[')) {
      try {
        return JSON.parse(s) as Yaml;
      } catch {
        return fail(no, `cannot read ${s}`);
      }
    }
    if (s.startsWith("'")) {
      if (!s.endsWith("'") || s.length < 2) fail(no, `unterminated ${s}`);
      return s.slice(1, -1).replace(/''/g, "'");
    }
    if (/^[{|>&*!%@`]/.test(s)) fail(no, `unsupported value ${s}`);
    return s.replace(/\s+#.*$/, '');
  };

  const block = (indent: number): Yaml => (lines[i].raw.trimStart().startsWith('- ') ? seq(indent) : map(indent));

  const map = (indent: number): YamlMap => {
    const out: YamlMap = {};
    while (i < lines.length && indentOf(lines[i].raw) >= indent) {
      const { raw, no } = lines[i];
      if (indentOf(raw) > indent) fail(no, 'unexpected indentation');
      const m = KEY.exec(raw.trim());
      if (!m) return fail(no, `expected "key: value", got ${raw.trim()}`);
      if (Object.hasOwn(out, m[1])) fail(no, `duplicate key ${m[1]}`);
      i++;
      if (m[2] !== undefined) out[m[1]] = scalar(m[2], no);
      else if (i < lines.length && indentOf(lines[i].raw) > indent) out[m[1]] = block(indentOf(lines[i].raw));
      else out[m[1]] = null;
    }
    return out;
  };

  const seq = (indent: number): Yaml[] => {
    const out: Yaml[] = [];
    while (i < lines.length && indentOf(lines[i].raw) === indent && lines[i].raw.trimStart().startsWith('- ')) {
      const { raw, no } = lines[i];
      const item = raw.trimStart().slice(2).trim();
      if (KEY.test(item)) {
        // "- key: value" opens a map whose keys sit two columns further in.
        lines[i] = { raw: ' '.repeat(indent + 2) + item, no };
        out.push(map(indent + 2));
      } else {
        out.push(scalar(item, no));
        i++;
      }
    }
    if (i < lines.length && indentOf(lines[i].raw) > indent) fail(lines[i].no, 'unexpected indentation');
    return out;
  };

  const doc = map(0);
  if (i < lines.length) fail(lines[i].no, 'unexpected line');
  return doc;
}

const isMap = (v: Yaml | undefined): v is YamlMap => typeof v === 'object' && v !== null && !Array.isArray(v);
const asMap = (v: Yaml | undefined): YamlMap => (isMap(v) ? v : {});
const asList = (v: Yaml | undefined): Yaml[] => (Array.isArray(v) ? v : []);
const words = (v: Yaml | undefined): string[] =>
  Array.isArray(v) ? v.map((x) => String(x)) : typeof v === 'string' ? v.split(/\s+/) : [];

/** A service's `environment`, map or `KEY=value` list form. */
function environmentOf(service: YamlMap): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((e) => {
        const [k, ...v] = String(e).split('=');
        return [k, v.join('=')];
      }),
    );
  }
  return Object.fromEntries(Object.entries(asMap(env)).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

const seconds = (duration: string | undefined): number => {
  const m = /^(\d+)(ms|s|m)?$/.exec(duration ?? '');
  if (!m) return NaN;
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60 } as Record<string, number>)[m[2] ?? 's'];
};

describe('docker-compose.yml', () => {
  const compose = asMap(parseYamlSubset(read('docker-compose.yml'), 'docker-compose.yml'));
  const services = asMap(compose.services);
  const parleyNames = Object.keys(services).filter((n) => isMap(services[n]) && services[n].build !== undefined);
  const parley = parleyNames.map((n) => asMap(services[n]));
  const redisName = Object.keys(services).find((n) => /^redis:/.test(String(asMap(services[n]).image)));
  const redis = asMap(redisName === undefined ? undefined : services[redisName]);
  const proxyName = Object.keys(services).find((n) =>
    asList(asMap(services[n]).ports).some((p) => String(p).split(':').at(-2) === '8000'),
  );
  const proxy = asMap(proxyName === undefined ? undefined : services[proxyName]);

  it('runs redis:7 with append-only persistence on a named volume, with a healthcheck', () => {
    expect(redisName).toBeDefined();
    expect(String(redis.image)).toMatch(/^redis:7(\b|$)/);
    const command = words(redis.command);
    expect(command[command.indexOf('--appendonly') + 1]).toBe('yes');
    const dataVolume = asList(redis.volumes)
      .map(String)
      .find((v) => v.split(':')[1] === '/data');
    expect(dataVolume).toBeDefined();
    expect(Object.keys(asMap(compose.volumes))).toContain(dataVolume?.split(':')[0]);
    expect(words(asMap(redis.healthcheck).test)).toEqual(expect.arrayContaining(['redis-cli', 'ping']));
  });

  it('runs two Parley instances built from ./Dockerfile, in production, on that Redis', () => {
    expect(parleyNames).toHaveLength(2);
    for (const service of parley) {
      const build = service.build;
      const context = isMap(build) ? build.context : build;
      expect(context).toBe('.');
      expect(isMap(build) ? (build.dockerfile ?? 'Dockerfile') : 'Dockerfile').toBe('Dockerfile');
      const env = environmentOf(service);
      expect(env.NODE_ENV).toBe('production');
      expect(env.REDIS_URL).toBe(`redis://${redisName}:6379`);
      expect(service.ports).toBeUndefined();
    }
  });

  it('gives Parley only variables of the Env schema, with values validateEnv accepts', () => {
    const problems: string[] = [];
    parleyNames.forEach((name, k) => {
      const env = environmentOf(parley[k]);
      for (const key of Object.keys(env)) if (!SCHEMA_VARS.includes(key)) problems.push(`${name}: ${key} is not in the Env schema`);
      try {
        validateEnv(env);
      } catch (err) {
        problems.push(`${name}: ${(err as Error).message}`);
      }
    });
    expect(parleyNames.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('sets TRUST_PROXY to the range of the compose network the instances and the proxy share', () => {
    const networks = asMap(compose.networks);
    const subnets = new Map(
      Object.entries(networks).flatMap(([net, def]) =>
        asList(asMap(asMap(def).ipam).config).map((c) => [String(asMap(c).subnet), net] as const),
      ),
    );
    expect(subnets.size).toBeGreaterThan(0);
    expect(parley.length).toBeGreaterThan(0);
    for (const service of parley) {
      const range = environmentOf(service).TRUST_PROXY;
      expect([...subnets.keys()]).toContain(range);
      const network = subnets.get(range);
      expect(asList(service.networks)).toContain(network);
      expect(asList(proxy.networks)).toContain(network);
    }
  });

  it('health-checks the instances, starts them after a healthy Redis, and gives them time to shut down', async () => {
    for (const service of parley) {
      expect(asMap(asMap(service.depends_on)[redisName ?? 'redis']).condition).toBe('service_healthy');
      expect(seconds(service.stop_grace_period as string | undefined)).toBeGreaterThan(Number(DEFAULTS.SHUTDOWN_TIMEOUT));
      const test = words(asMap(service.healthcheck).test);
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      // The probe inside the container (port 8000), pointed at a stand-in server here.
      const script = test[3] ?? '';
      expect(script).toContain('http://127.0.0.1:8000/health');
      for (const [status, exitCode] of [
        [200, 0],
        [503, 1],
      ] as const) {
        const probe = await probeServer(status);
        try {
          const local = script.replace('127.0.0.1:8000', `127.0.0.1:${probe.port}`);
          expect(await runNode(['node', '-e', local], {})).toBe(exitCode);
          expect(probe.paths).toHaveLength(1);
          expect(probe.paths[0]).toMatch(/^\/health(\/ready)?$/);
        } finally {
          probe.server.close();
        }
      }
    }
    expect(parley.length).toBeGreaterThan(0);
  });

  it('publishes port 8000 only on an nginx proxy that mounts deploy/nginx.conf and waits for healthy instances', () => {
    expect(proxyName).toBeDefined();
    expect(String(proxy.image)).toMatch(/^nginx[:@]/);
    expect(asList(proxy.ports).map(String)).toContain('8000:8000');
    expect(asList(proxy.volumes).map(String)).toContain('./deploy/nginx.conf:/etc/nginx/nginx.conf:ro');
    const dependsOn = asMap(proxy.depends_on);
    expect(sorted(parleyNames.filter((n) => asMap(dependsOn[n]).condition === 'service_healthy'))).toEqual(
      sorted(parleyNames),
    );
    const publishing = Object.keys(services).filter((n) => asMap(services[n]).ports !== undefined);
    expect(publishing).toEqual([proxyName]);
  });
});

// ---------------------------------------------------------------------------------------
// deploy/nginx.conf

describe('deploy/nginx.conf', () => {
  const conf = read('deploy/nginx.conf')
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '')
    .join('\n');
  const compose = asMap(parseYamlSubset(read('docker-compose.yml'), 'docker-compose.yml'));
  const services = asMap(compose.services);
  const parleyNames = Object.keys(services).filter((n) => asMap(services[n]).build !== undefined);
  const directive = (name: string) => [...conf.matchAll(new RegExp(`^${name}\\s+([^;]*);`, 'gm'))].map((m) => m[1].trim());

  it('listens on 8000 and balances over every Parley instance of docker-compose.yml on its PORT', () => {
    expect(directive('listen')).toEqual(['8000']);
    const upstream = /^upstream\s+(\S+)\s*\{([^}]*)\}/m.exec(conf);
    expect(upstream).not.toBeNull();
    const servers = [...(upstream?.[2] ?? '').matchAll(/^server\s+(\S+)/gm)].map((m) => m[1]);
    expect(parleyNames.length).toBe(2);
    expect(sorted(servers)).toEqual(sorted(parleyNames.map((n) => `${n}:${String(DEFAULTS.PORT)}`)));
    expect(directive('proxy_pass')).toEqual([`http://${upstream?.[1]}`]);
  });

  it('passes WebSocket upgrades: HTTP/1.1 with the Upgrade and Connection headers', () => {
    expect(directive('proxy_http_version')).toEqual(['1.1']);
    const headers = Object.fromEntries(
      directive('proxy_set_header').map((h) => {
        const [name, ...value] = h.split(/\s+/);
        return [name.toLowerCase(), value.join(' ')];
      }),
    );
    expect(headers.upgrade).toBe('$http_upgrade');
    const connection = headers.connection ?? '';
    // Either the literal "upgrade" or a variable mapped from $http_upgrade that yields it.
    const mapped = new RegExp(`^map\\s+\\$http_upgrade\\s+\\${connection}\\s*\\{[^}]*\\bdefault\\s+upgrade;`, 'm');
    expect(connection.toLowerCase() === 'upgrade' || mapped.test(conf)).toBe(true);
    // Sockets stay open across the server's pings.
    expect(seconds(directive('proxy_read_timeout')[0])).toBeGreaterThan(Number(DEFAULTS.WS_PING_INTERVAL));
  });

  it('replaces a client-supplied X-Forwarded-For with the address nginx saw, and lets Parley judge body size', () => {
    const xff = directive('proxy_set_header').find((h) => /^x-forwarded-for\s/i.test(h));
    expect(xff?.split(/\s+/)[1]).toBe('$remote_addr');
    const size = /^(\d+)([kmg]?)$/i.exec(directive('client_max_body_size')[0] ?? '');
    const unit: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
    const bytes = size ? Number(size[1]) * unit[size[2].toLowerCase()] : 0;
    const bodyLimitMax = /Integer `\d+`–`(\d+)`/.exec(docRows().rows.find((r) => r.name === 'BODY_LIMIT')?.description ?? '');
    expect(bodyLimitMax).not.toBeNull();
    expect(bytes).toBeGreaterThanOrEqual(Number(bodyLimitMax?.[1]));
  });
});
