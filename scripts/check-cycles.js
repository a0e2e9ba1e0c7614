#!/usr/bin/env node
// Import cycles in src/, at two levels: between files, and between the top-level folders of src/
// (each file directly in src/ counts as a node of its own). Type-only imports count: a cycle of
// types is still two modules that cannot be read, or moved, one without the other.
// Exits 1 printing every cycle; `npm run check:cycles`, run by .ci/run and by test/import-cycles.test.ts.
//
// Imports are read with TypeScript's own scanner (ts.preProcessFile: import, import type,
// export ... from, import('...') types, require), so a comment or a string that looks like one
// is not taken for one; typescript is already a dev dependency.
//
// The folder edges of today, top to bottom (an arrow is "imports"; each file directly in src/ is
// a node of its own). Nothing imports upwards: storage sits at the bottom, above only the leaf
// files, and its row types live in its query catalogue (storage/queries), which the domains
// import; routes take their context from http/context.ts, never from http/app.ts.
//
//   bench       -> accounts, chat, config.ts, db.ts, ledger, log.ts, metering, reports, server.ts, storage
//   cli         -> accounts, admin, config.ts, db.ts, i18n, ledger, metering, server.ts, storage
//   server.ts   -> chat, config.ts, http, ledger, log-format.ts, log.ts, metering, payments, reports,
//                  shutdown.ts, storage, upstream
//   http        -> accounts, admin, api, chat, config.ts, i18n, ledger, log.ts, metering, metrics.ts,
//                  payments, reports, storage, upstream
//   shutdown.ts -> api, chat, log.ts
//   api         -> accounts, chat, ledger, log.ts, metering, storage, upstream
//   payments    -> admin, ledger, settings-file.ts, storage
//   chat        -> ledger, log.ts, metering, metrics.ts, storage, upstream
//   admin       -> accounts, ledger, storage
//   groups      -> admin, metering, storage
//   accounts    -> ledger, storage
//   reports     -> ledger, storage
//   ledger      -> metering, storage
//   upstream    -> log.ts, metering, metrics.ts
//   metering    -> config.ts, settings-file.ts, storage
//   db.ts       -> storage
//   log.ts      -> log-format.ts, log-sink.ts, metrics.ts
//   storage     -> config.ts, metrics.ts
//   i18n, config.ts, metrics.ts, settings-file.ts, log-format.ts, log-sink.ts: import nothing of src/
//
// A new edge is fine as long as it closes no circle; `node scripts/check-cycles.js --edges`
// prints them as they are.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const ts = require('typescript');

const SRC = path.join(__dirname, '..', 'src');

function sourceFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

// A relative specifier to the file it names, as tsc resolves it (node resolution); null for packages.
function resolve(from, spec) {
  if (!spec.startsWith('.')) return null;
  const base = path.resolve(path.dirname(from), spec);
  const candidates = [base, `${base}.ts`, `${base}.tsx`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')];
  for (const c of candidates) if (fs.existsSync(c) && fs.statSync(c).isFile()) return c;
  return null;
}

/** The file graph of src/: Map<file, Set<file>>, files relative to src/. */
function fileGraph(src = SRC) {
  const graph = new Map();
  for (const file of sourceFiles(src)) {
    const text = fs.readFileSync(file, 'utf8');
    const edges = new Set();
    for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
      const target = resolve(file, fileName);
      if (target && target.startsWith(src + path.sep)) edges.add(path.relative(src, target));
    }
    graph.set(path.relative(src, file), edges);
  }
  return graph;
}

// "storage/queries/ledger.ts" -> "storage"; "config.ts" -> "config.ts".
const folderOf = (file) => file.split(/[\\/]/)[0];

function folderGraph(files) {
  const graph = new Map();
  for (const [file, targets] of files) {
    const from = folderOf(file);
    if (!graph.has(from)) graph.set(from, new Set());
    for (const t of targets) if (folderOf(t) !== from) graph.get(from).add(folderOf(t));
  }
  return graph;
}

// Tarjan's strongly connected components; every component of more than one node (or a node
// importing itself) holds at least one cycle.
function tangles(graph) {
  let index = 0;
  const order = new Map(), low = new Map(), onStack = new Set(), stack = [], found = [];
  const visit = (v) => {
    order.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!order.has(w)) { visit(w); low.set(v, Math.min(low.get(v), low.get(w))); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v), order.get(w)));
    }
    if (low.get(v) === order.get(v)) {
      const component = [];
      let w;
      do { w = stack.pop(); onStack.delete(w); component.push(w); } while (w !== v);
      if (component.length > 1 || graph.get(v)?.has(v)) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!order.has(v)) visit(v);
  return found;
}

// A shortest cycle through each node of a component (breadth-first inside it), each printed once,
// so every import that closes a loop shows up and can be followed import by import.
function cyclesOf(graph, component) {
  const seen = new Set(), out = [];
  for (const start of component) {
    const cycle = cycleThrough(graph, component, start);
    const body = cycle.slice(0, -1);
    const first = body.indexOf([...body].sort()[0]);
    const key = [...body.slice(first), ...body.slice(0, first)].join('\0');
    if (!seen.has(key)) { seen.add(key); out.push(cycle); }
  }
  return out;
}

function cycleThrough(graph, component, start) {
  const inside = new Set(component);
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const cycle = [start];
        for (let u = v; u !== start; u = previous.get(u)) cycle.splice(1, 0, u);
        return [...cycle, start];
      }
      if (!previous.has(w)) { previous.set(w, v); queue.push(w); }
    }
  }
  return [start, start];
}

/** Every cycle to report: { files: [[a, b, a], ...], folders: [[x, y, x], ...] }, empty when clean. */
function findCycles(src = SRC) {
  const files = fileGraph(src);
  const folders = folderGraph(files);
  return {
    files: tangles(files).flatMap((c) => cyclesOf(files, c)),
    folders: tangles(folders).flatMap((c) => cyclesOf(folders, c)),
  };
}

/** For a folder edge, the file imports that make it (to find what to move). */
function edgeImports(from, to, src = SRC) {
  const out = [];
  for (const [file, targets] of fileGraph(src)) {
    if (folderOf(file) !== from) continue;
    for (const t of targets) if (folderOf(t) === to) out.push(`${file} -> ${t}`);
  }
  return out;
}

function main() {
  if (process.argv.includes('--edges')) {
    for (const [from, to] of [...folderGraph(fileGraph())].sort()) console.log(`${from} -> ${[...to].sort().join(', ')}`);
    return;
  }
  const { files, folders } = findCycles();
  for (const c of files) console.log(`file cycle: ${c.join(' -> ')}`);
  for (const c of folders) {
    console.log(`folder cycle: ${c.join(' -> ')}`);
    for (let i = 0; i + 1 < c.length; i++) for (const line of edgeImports(c[i], c[i + 1])) console.log(`  ${line}`);
  }
  if (files.length || folders.length) {
    console.log(`${files.length} file cycle(s), ${folders.length} folder cycle(s)`);
    process.exitCode = 1;
  } else {
    console.log('no import cycles between files or between folders of src/');
  }
}

if (require.main === module) main();

module.exports = { findCycles, fileGraph, folderGraph };
