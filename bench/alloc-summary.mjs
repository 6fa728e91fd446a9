#!/usr/bin/env node
// Summarises the allocation profiles BENCH_ALLOC_DIR=<dir> npm run bench writes (V8's
// sampling heap profiler over a measured window, collected objects included): bytes
// allocated per message and per delivery (per request on REST), then the allocation sites and packages that
// account for them (self bytes: allocated by that function itself).
//
//   node bench/alloc-summary.mjs <dir-or-file.heapprofile>... [--top 25]

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const args = process.argv.slice(2);
let top = 25;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else inputs.push(args[i]);
}
if (inputs.length === 0) {
  console.error('usage: node bench/alloc-summary.mjs <dir-or-file.heapprofile>... [--top N]');
  process.exit(2);
}
const files = inputs.flatMap((input) =>
  statSync(input).isDirectory()
    ? readdirSync(input)
        .filter((f) => f.endsWith('.heapprofile'))
        .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
        .map((f) => join(input, f))
    : [input],
);

const where = (url) => {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  if (url.startsWith('node:')) return url;
  const dist = url.search(/\/(dist|\.dist-snapshot-\d+)\//);
  if (dist >= 0) return `dist/${url.slice(url.indexOf('/', dist + 1) + 1)}`;
  return basename(url);
};
const packageOf = (url) => {
  if (url === '') return '(native / VM)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node: internals';
  return /\/(dist|\.dist-snapshot-\d+)\//.test(url) ? 'parley (dist/)' : basename(url);
};

const kb = (n) => (n / 1024).toFixed(1).padStart(9);
for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const counts = profile.parleyBench ?? {};
  const bySite = new Map();
  const byPackage = new Map();
  let total = 0;
  const visit = (node) => {
    const { functionName, url, lineNumber } = node.callFrame;
    if (node.selfSize > 0) {
      total += node.selfSize;
      const site = `${functionName || '(anonymous)'}  ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
      bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
      const pkg = packageOf(url);
      byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + node.selfSize);
    }
    for (const child of node.children ?? []) visit(child);
  };
  visit(profile.head);
  const per = (n, d) => (d ? (n / d).toFixed(0) : '-');
  // Per message on the socket scenarios, per request on REST.
  const [units, unit] = counts.requests ? [counts.requests, 'req'] : [counts.msgs, 'msg'];
  console.log(`\n${basename(file)}: ${kb(total).trim()} KiB allocated in the window` +
    (counts.msgs ? `, ${per(total, counts.msgs)} B/message (${counts.msgs}), ${per(total, counts.deliveries)} B/delivery (${counts.deliveries})` : '') +
    (counts.requests ? `, ${per(total, counts.requests)} B/request (${counts.requests})` : ''));
  console.log('  by package:');
  for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`  ${kb(bytes)} KiB ${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${per(bytes, units).padStart(6)} B/${unit}  ${pkg}`);
  }
  console.log(`  top ${top} allocation sites:`);
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${kb(bytes)} KiB ${((100 * bytes) / total).toFixed(1).padStart(5)} %  ${per(bytes, units).padStart(6)} B/${unit}  ${site}`);
  }
}
