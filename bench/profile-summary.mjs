#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time summed by
// callFrame functionName + url (+ line), top N, optionally only inside measurement
// windows written by bench/run.mjs (BENCH_PROF_DIR=<dir> -> <dir>/windows.json).
//
//   node bench/profile-summary.mjs <dir-or-file.cpuprofile>... [--window rest:post] [--top 30]
//
// With a directory, every *.cpuprofile in it is read, and windows.json next to them
// is used when --window is given (a window name prefix: "rest:post", "fanout", ...).
// Also prints self time grouped by package (node_modules/<pkg>, node: internals, dist/).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const args = process.argv.slice(2);
let top = 30;
let windowName = '';
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--window') windowName = args[++i];
  else inputs.push(args[i]);
}
if (inputs.length === 0) {
  console.error('usage: node bench/profile-summary.mjs <dir-or-file.cpuprofile>... [--window name] [--top N]');
  process.exit(2);
}

const files = [];
for (const input of inputs) {
  if (statSync(input).isDirectory()) {
    for (const f of readdirSync(input)) if (f.endsWith('.cpuprofile')) files.push(join(input, f));
  } else files.push(input);
}

function loadWindows(dir) {
  for (const d of [dir, dirname(dir)]) {
    try {
      return JSON.parse(readFileSync(join(d, 'windows.json'), 'utf8'));
    } catch {
      /* try the parent */
    }
  }
  return [];
}

function shortUrl(url) {
  if (!url) return '(native)';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  const d = u.indexOf('/dist/');
  if (d >= 0) return u.slice(d + 1);
  const snap = u.indexOf('/.dist-snapshot-');
  if (snap >= 0) return `dist${u.slice(u.indexOf('/', snap + 1))}`;
  return u;
}

function packageOf(url) {
  if (!url) return '(native / VM: GC, program, idle)';
  const u = url.replace(/^file:\/\//, '');
  if (u.startsWith('node:')) return 'node: internals';
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (u.includes('/dist/') || u.includes('/.dist-snapshot-')) return 'parley (dist/)';
  return u;
}

const self = new Map();
const inclusive = new Map();
const byPkg = new Map();
let total = 0;
let idle = 0;
for (const file of files) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  // The servers take turns within a window (bench/run.mjs interleaves them): a window named
  // "…@parley" is one of Parley's slices, so a profile in <dir>/parley/ counts only those.
  const server = basename(dirname(file));
  const ours = (w) => !w.name.includes('@') || w.name.endsWith(`@${server}`);
  const windows = windowName
    ? loadWindows(dirname(file)).filter((w) => w.name.startsWith(windowName) && ours(w))
    : [];
  if (windowName && windows.length === 0) {
    console.error(`${basename(file)}: no window named ${windowName}* in windows.json; using the whole profile`);
  }
  const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (cf) =>
    `${cf.functionName || '(anonymous)'}  ${shortUrl(cf.url)}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (windows.length && !windows.some((w) => t >= w.startUs && t <= w.endUs)) continue;
    const node = nodes.get(prof.samples[i]);
    const cf = node.callFrame;
    // Self time of a sample is the interval to the next sample.
    const next = prof.timeDeltas[i + 1] ?? dt;
    if (cf.functionName === '(idle)') {
      idle += next;
      continue;
    }
    total += next;
    const key = keyOf(cf);
    self.set(key, (self.get(key) ?? 0) + next);
    // Inclusive ("total") time: every distinct function on the sampled stack.
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const f = nodes.get(id).callFrame;
      if (!f.url) continue;
      const k = keyOf(f);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + next);
    }
    const pkg = packageOf(cf.url);
    byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + next);
  }
}

const pct = (x) => ((100 * x) / total).toFixed(1).padStart(5);
const ms = (x) => (x / 1000).toFixed(1).padStart(8);
console.log(
  `${files.length} profile(s)${windowName ? `, window ${windowName}*` : ''}: ` +
    `${(total / 1000).toFixed(0)} ms busy (self time), ${(idle / 1000).toFixed(0)} ms idle`,
);
console.log(`\nTop ${top} functions by self time\n   ms      %   function  location`);
for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms(v)} ${pct(v)}   ${k}`);
}
const interesting = [...inclusive.entries()].filter(([k]) => !/ node:/.test(k));
console.log(`\nTop ${top} application/library functions by total (inclusive) time\n   ms      %   function  location`);
for (const [k, v] of interesting.sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${ms(v)} ${pct(v)}   ${k}`);
}
console.log('\nSelf time by package\n   ms      %   package');
for (const [k, v] of [...byPkg.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  console.log(`${ms(v)} ${pct(v)}   ${k}`);
}
