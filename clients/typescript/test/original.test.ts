/**
 * The original mem7 Node binding's calling convention: `MemoryEngine.create(configJson)` starts and
 * owns a local `mem7 serve` ($MEM7_BIN), positional arguments, camelCase results.
 *
 * The LLM and the embedder are the core's loopback OpenAI-compatible server (1024-dim embeddings,
 * as the quick start's mxbai-embed-large), started by the pytest wrapper
 * (tests/server/test_typescript_client.py), its URL in $TS_TEST_OPENAI_URL; only the URLs and keys
 * of the original's documented snippets point at it.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import {
  AuthenticationError,
  ConnectionError,
  MemoryEngine,
  ServerStartError,
  ValidationError,
} from "../src/index.js";

const OPENAI_URL = process.env.TS_TEST_OPENAI_URL;
const SKIP = OPENAI_URL ? false : "TS_TEST_OPENAI_URL is not set (run through tests/server/test_typescript_client.py)";
const LOOPBACK = OPENAI_URL ?? "http://127.0.0.1:9/v1";

const SNAKE = /_/;

function assertCamel(value: object, where: string): void {
  for (const key of Object.keys(value)) assert.doesNotMatch(key, SNAKE, `${where}: snake_case key ${key}`);
}

describe("the original mem7's TypeScript API", { skip: SKIP }, () => {
  let dataDir: string;
  const engines: Array<MemoryEngine<"original">> = [];

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), "mem7-ts-original-"));
    process.env.MEM7_DATA_DIR = dataDir; // the child server inherits it (the create call stays verbatim)
  });

  after(async () => {
    for (const engine of engines) await engine.close();
    delete process.env.MEM7_DATA_DIR;
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("the quick start, verbatim (URLs and key on loopback)", async () => {
    // ---- the original README's "Quick Start (TypeScript)", its URLs pointed at the loopback server
    const engine = await MemoryEngine.create(JSON.stringify({
      llm: { base_url: LOOPBACK, api_key: "ollama", model: "qwen2.5:7b" },
      embedding: { base_url: LOOPBACK, api_key: "ollama", model: "mxbai-embed-large", dims: 1024 },
    }));

    await engine.add([{ role: "user", content: "I love playing tennis and my coach is Sarah." }], "alice");
    const results = await engine.search("What sports does Alice play?", "alice");
    // ---- end of the quick start
    engines.push(engine);

    assert.equal(engine.style, "original");
    assert.deepEqual(Object.keys(results).sort(), ["memories", "relations"]);
    assert.ok(results.memories.length >= 1, JSON.stringify(results));
    assert.ok(results.memories.length <= 5, "the original's default search limit is 5");
    const top = results.memories.find((m) => /tennis/i.test(m.text));
    assert.ok(top, JSON.stringify(results.memories));
    assertCamel(top, "search item");
    assert.equal(top.userId, "alice");
    assert.equal(typeof top.metadata, "string");
    assert.equal(typeof top.score, "number");
    assert.equal(typeof top.accessCount, "number");
    assert.match(top.createdAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal(typeof top.updatedAt, "string");

    const all = await engine.getAll("alice");
    assert.ok(Array.isArray(all));
    assert.ok(all.some((m) => /Sarah/.test(m.text)), JSON.stringify(all));
    for (const item of all) assertCamel(item, "getAll item");

    // A second, reworded add goes through the LLM's update decision: actions are capitalised.
    const again = await engine.add([{ role: "user", content: "My tennis coach is called Sarah." }], "alice");
    assert.deepEqual(Object.keys(again).sort(), ["relations", "results"]);
    for (const r of again.results) {
      assert.ok(["Add", "Update", "Delete", "None"].includes(r.action), r.action);
      assertCamel(r, "add result");
    }
  });

  test("the demo's vector / history / decay / context config, and a task type given positionally", async () => {
    const engine = await MemoryEngine.create(JSON.stringify({
      llm: { base_url: LOOPBACK, api_key: "ollama", model: "qwen2.5:7b" },
      embedding: { base_url: LOOPBACK, api_key: "ollama", model: "mxbai-embed-large", dims: 1024 },
      vector: { provider: "flat", collection_name: "mem7-ts-test", dims: 1024 },
      history: { db_path: ":memory:" },
      decay: { enabled: true },
      context: { enabled: true },
    }));
    engines.push(engine);
    await engine.add([{ role: "user", content: "Always restart the CDP proxy when Chrome times out." }], "dora");

    // As in the original's demo (taskType is the 9th argument, as its index.d.ts says)...
    const demo = await engine.search(
      "fix Chrome CDP timeout", "dora", undefined, undefined, 3, undefined, undefined, undefined, "troubleshooting",
    );
    assert.ok(demo.memories.length >= 1 && demo.memories.length <= 3, JSON.stringify(demo));
    // ... and as on its website (one position earlier, where the threshold goes).
    const site = await engine.search(
      "fix Chrome CDP timeout", "dora",
      undefined, undefined, undefined, undefined, undefined, "troubleshooting",
    );
    assert.deepEqual(site.memories.map((m) => m.id), demo.memories.map((m) => m.id));
    // The task type reaches the server: an unknown one is refused there.
    await assert.rejects(
      engine.search("q", "dora", undefined, undefined, undefined, undefined, undefined, undefined, "gardening"),
      (err: unknown) => err instanceof ValidationError && /task_type/.test(err.message),
    );
    const filtered = await engine.search("q", "dora", null, null, 10, JSON.stringify({ nope: 1 }));
    assert.deepEqual(filtered.memories, []);
  });

  test("every positional method, with the original's result shapes", async () => {
    const engine = engines[0]!;
    const added = await engine.add(
      [{ role: "user", content: "I keep bees in Porto" }],
      "bob", undefined, "run-1", JSON.stringify({ topic: "hobby" }), false,
    );
    assert.equal(added.results.length, 1);
    const id = added.results[0]!.id;
    assert.deepEqual(added.results[0], { id, action: "Add", newValue: "I keep bees in Porto" });
    assert.deepEqual(added.relations, []);

    const all = await engine.getAll("bob");
    assert.equal(all.length, 1);
    const item = all[0]!;
    assert.equal(item.id, id);
    assert.equal(item.text, "I keep bees in Porto");
    assert.equal(item.runId, "run-1");
    assert.equal(item.role, "user");
    assert.equal(item.metadata, JSON.stringify({ topic: "hobby" }));
    assert.equal(item.score, undefined);
    assert.deepEqual((await engine.getAll("bob", null, null, JSON.stringify({ topic: "hobby" }), 1)).map((m) => m.id), [id]);
    assert.deepEqual(await engine.getAll("bob", undefined, undefined, JSON.stringify({ topic: "other" })), []);

    const one = await engine.get(id);
    assert.equal(one.text, "I keep bees in Porto");
    assert.equal(one.userId, "bob");
    assertCamel(one, "get");

    assert.equal(await engine.update(id, "I keep bees in Lisbon"), undefined);
    assert.equal((await engine.get(id)).text, "I keep bees in Lisbon");
    const history = await engine.history(id);
    assert.deepEqual(history.map((e) => e.action), ["Add", "Update"]);
    assert.equal(history[1]!.memoryId, id);
    assert.equal(history[1]!.oldValue, "I keep bees in Porto");
    assert.equal(history[1]!.newValue, "I keep bees in Lisbon");
    assert.equal(history[1]!.isDeleted, false);
    for (const event of history) assertCamel(event, "history event");

    assert.equal(await engine.delete(id), undefined);
    assert.equal(await engine.delete(id), undefined, "the original's delete of an unknown id does not throw");
    await assert.rejects(engine.get(id), /not found/i);
    assert.deepEqual((await engine.history(id)).map((e) => e.action), ["Add", "Update", "Delete"]);
    assert.deepEqual(await engine.history("00000000-0000-7000-8000-000000000000"), []);

    await engine.add([{ role: "user", content: "temporary" }], "eve", undefined, undefined, undefined, false);
    assert.equal(await engine.deleteAll("eve"), undefined);
    assert.deepEqual(await engine.getAll("eve"), []);
    await assert.rejects(engine.getAll(), ValidationError, "a scope is still required");
  });

  test("the options API works on the same engine, with the REST shapes", async () => {
    const engine = engines[0]!;
    const added = await engine.add("Carol drinks green tea", { userId: "carol", infer: false });
    assert.equal(added.results[0]!.event, "ADD");
    const found = await engine.search("green tea", { userId: "carol", limit: 1 });
    assert.equal(found.results[0]!.memory, "Carol drinks green tea");
    assert.equal(found.results[0]!.user_id, "carol");
    const list = await engine.getAll({ userId: "carol" });
    assert.equal(list.results.length, 1);
    assert.equal((await engine.get(added.results[0]!.id, {}))?.memory, "Carol drinks green tea");
    assert.match((await engine.deleteAll({ userId: "carol" })).message, /Deleted 1 memor/);
  });

  test("the local server needs its token, and close() stops it", async () => {
    const engine = await MemoryEngine.create(JSON.stringify({
      llm: { base_url: LOOPBACK, api_key: "ollama", model: "qwen2.5:7b" },
      embedding: { base_url: LOOPBACK, api_key: "ollama", model: "mxbai-embed-large", dims: 1024 },
    }));
    assert.match(engine.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const stranger = new MemoryEngine({ baseUrl: engine.baseUrl });
    await assert.rejects(stranger.getAll({ userId: "alice" }), AuthenticationError);
    await engine.add([{ role: "user", content: "x" }], "zed", undefined, undefined, undefined, false);
    assert.equal(await engine.reset(), undefined);
    assert.deepEqual(await engine.getAll("zed"), []);

    assert.equal(await engine.close(), 0);
    assert.equal(engine.closed, true);
    assert.equal(await engine.close(), 0, "close() twice is harmless");
    await assert.rejects(engine.getAll("alice"), ConnectionError);
  });

  test("a script that never calls close() still exits, and its server stops", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mem7-ts-exit-"));
    try {
      const index = new URL("../src/index.js", import.meta.url).href;
      const script = join(dir, "script.mjs");
      writeFileSync(
        script,
        `import { MemoryEngine } from ${JSON.stringify(index)};\n` +
          `const engine = await MemoryEngine.create(JSON.stringify({ llm: { base_url: ${JSON.stringify(LOOPBACK)}, api_key: "k" },` +
          ` embedding: { base_url: ${JSON.stringify(LOOPBACK)}, api_key: "k", model: "mxbai-embed-large", dims: 1024 } }));\n` +
          `await engine.add([{ role: "user", content: "hello there" }], "alice", undefined, undefined, undefined, false);\n` +
          `console.log(engine.serverPid);\n`,
      );
      const done = spawnSync(process.execPath, [script], {
        env: { ...process.env, MEM7_DATA_DIR: join(dir, "data") },
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(done.status, 0, done.stderr);
      const pid = Number(done.stdout.trim());
      assert.ok(pid > 0, done.stdout);
      const deadline = Date.now() + 30_000;
      let alive = true;
      while (alive && Date.now() < deadline) {
        try {
          process.kill(pid, 0);
          await new Promise((r) => setTimeout(r, 100));
        } catch {
          alive = false;
        }
      }
      assert.equal(alive, false, `mem7 serve (pid ${pid}) still running after its owner exited`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("startup failures name the cause", async () => {
    await assert.rejects(MemoryEngine.create("{not json"), (err: unknown) => err instanceof TypeError && /Invalid config/.test(err.message));
    await assert.rejects(
      MemoryEngine.create("{}", { mem7Bin: join(tmpdir(), "no-such-dir", "mem7") }),
      (err: unknown) => err instanceof ServerStartError && /cannot run/.test(err.message),
    );
    await assert.rejects(
      MemoryEngine.create(JSON.stringify({ llm: { base_url: LOOPBACK }, embedding: { base_url: LOOPBACK }, decay: { enabled: true, decay_shape: 7 } })),
      (err: unknown) => err instanceof ServerStartError && /decay_shape/.test(err.message),
    );
  });
});
