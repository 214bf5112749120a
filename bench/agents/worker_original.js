// Worker for bench/agents/bench_agents.py: the original mem7 (its npm Linux binary, installed by the
// peers harness's run_peers.sh under $PEERS_DIR/node), configured as the harness configures it.
// Same protocol as worker_ours.py (init, then burst): one JSON command per stdin line, one answer per line.
'use strict';
const path = require('path');
const readline = require('readline');

const NODE_DIR = process.env.PEERS_NODE_DIR || path.join(process.env.PEERS_DIR || path.join(require('os').tmpdir(), 'peers'), 'node');
const PKG = path.join(NODE_DIR, 'node_modules', '@mem7ai', 'mem7-linux-x64-gnu');
const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const now = () => Number(process.hrtime.bigint()) / 1e6;

let MemoryEngine, version;
try {
  ({ MemoryEngine } = require(PKG));
  version = 'mem7 ' + require(path.join(PKG, 'package.json')).version + ' (npm linux-x64-gnu, flat)';
} catch (e) {
  send({ skip: 'cannot load ' + PKG + ': ' + e.message });
  process.exit(0);
}
send({ hello: true, version });

let seq = 0;
let eng = null;
let before = {};
async function handle(c) {
  if (c.cmd === 'init') {
    eng = await MemoryEngine.create(JSON.stringify({
      llm: { base_url: c.base_url, api_key: 'sk-bench', model: 'bench-llm' },
      embedding: { base_url: c.base_url, api_key: 'sk-bench', model: 'bench-emb', dims: c.dims },
      vector: { provider: 'flat', dims: c.dims },
      history: { db_path: path.join(c.workdir, `mem7_history_${seq++}.db`) },
    }));
    const populate = c.populate || [];
    before = {};
    for (const u of new Set(c.users)) {
      if (populate.length) await eng.add(populate.map((t) => ({ role: 'user', content: t })), u, null, null, null, false);
      before[u] = populate.length;
    }
    return { ok: true };
  }
  const t0 = now();
  const res = await Promise.allSettled(c.texts.map((t, i) => eng.add([{ role: 'user', content: t }], c.users[i], null, null, null, true)));
  const wall = now() - t0;
  const bad = res.filter((r) => r.status === 'rejected');
  let stored = 0;
  for (const u of new Set(c.users)) stored += (await eng.getAll(u, null, null, null, null)).length - (before[u] || 0);
  return { wall_ms: wall, errors: bad.length, stored, first_error: bad.length ? String(bad[0].reason) : null };
}

const queue = [];
let busy = false;
async function pump() {
  if (busy) return;
  busy = true;
  while (queue.length) send(await handle(queue.shift()));
  busy = false;
}
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim()) { queue.push(JSON.parse(line)); pump(); }
}).on('close', () => { const wait = () => (busy || queue.length ? setTimeout(wait, 10) : process.exit(0)); wait(); });
