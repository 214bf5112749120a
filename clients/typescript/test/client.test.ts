/**
 * The client against a real `mem7 serve`, started here on a free loopback port.
 *
 * The server is the venv's `mem7` script ($MEM7_BIN, else <repo>/.venv/bin/mem7) on the embedded
 * default with the core's hash embedder and no LLM (adds are verbatim), with three bearer tokens:
 * one unrestricted, two pinned to a user each.
 */

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  AuthenticationError,
  ConnectionError,
  ForbiddenError,
  MemoryEngine,
  NotFoundError,
  ValidationError,
} from "../src/index.js";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const MEM7 = process.env.MEM7_BIN ?? resolve(REPO, ".venv/bin/mem7");
const ADMIN = "tok-ts-admin-0123456789";
const ALICE = "tok-ts-alice-0123456789";
const BOB = "tok-ts-bob-0123456789";

interface Server {
  url: string;
  proc: ChildProcess;
  dataDir: string;
  stderr: string[];
}

async function startServer(): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "mem7-ts-"));
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("MEM7_") && !key.startsWith("OPENAI_")) env[key] = value;
  }
  Object.assign(env, {
    MEM7_DATA_DIR: dataDir,
    MEM7_EMBEDDER__PROVIDER: "hash",
    MEM7_SERVER_TOKENS: JSON.stringify({ [ADMIN]: null, [ALICE]: { user_id: "alice" }, [BOB]: { user_id: "bob" } }),
  });
  const proc = spawn(MEM7, ["serve", "--port", "0"], { env, stdio: ["ignore", "ignore", "pipe"] });
  const stderr: string[] = [];
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`mem7 serve did not start in 60 s: ${stderr.join("")}`)), 60_000);
    proc.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${MEM7} (set MEM7_BIN to the venv's mem7): ${err.message}`));
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`mem7 serve exited with ${code}: ${stderr.join("")}`));
    });
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      stderr.push(chunk);
      const match = /mem7 serve: listening on (http:\/\/\S+)/.exec(stderr.join(""));
      if (match?.[1]) {
        clearTimeout(timer);
        resolveUrl(match[1]);
      }
    });
  });
  return { url, proc, dataDir, stderr };
}

async function stopServer(server: Server): Promise<number | null> {
  const exited = new Promise<number | null>((done) => {
    if (server.proc.exitCode !== null) done(server.proc.exitCode);
    else server.proc.once("exit", (code) => done(code));
  });
  server.proc.kill("SIGTERM");
  const code = await exited;
  rmSync(server.dataDir, { recursive: true, force: true });
  return code;
}

describe("MemoryEngine against mem7 serve", () => {
  let server: Server;
  let admin: MemoryEngine;

  before(async () => {
    server = await startServer();
    admin = await MemoryEngine.create({ baseUrl: server.url, token: ADMIN });
  });

  after(async () => {
    if (server) {
      const code = await stopServer(server);
      assert.equal(code, 0, `graceful shutdown exit code; stderr: ${server.stderr.join("")}`);
      assert.match(server.stderr.join(""), /stopped \(engine closed\)/);
    }
  });

  test("create checks the server is reachable", async () => {
    assert.equal((await admin.health()).status, "ok");
    await assert.rejects(MemoryEngine.create({ baseUrl: "http://127.0.0.1:9", timeoutMs: 5000 }), ConnectionError);
    assert.throws(() => new MemoryEngine({ baseUrl: "localhost:8000" }), /baseUrl must be an http\(s\) URL/);
  });

  test("every method round-trips with the Python API's shapes", async () => {
    const added = await admin.add(
      [
        { role: "user", content: "I keep bees on my balcony in Porto" },
        { role: "assistant", content: "Lovely hobby" },
      ],
      { userId: "carol", metadata: { topic: "hobby" }, infer: false },
    );
    assert.deepEqual(added.results.map((r) => r.event), ["ADD", "ADD"]);
    assert.deepEqual(added.relations, []);
    const beesId = added.results[0]!.id;
    await admin.add("My cat is called Miso", { userId: "carol", memoryType: "episodic" });

    const found = await admin.search("bees balcony", { userId: "carol", limit: 1 });
    assert.equal(found.results.length, 1);
    assert.equal(found.results[0]!.id, beesId);
    assert.deepEqual(found.memories, found.results);
    assert.ok((found.results[0]!.score ?? 0) > 0);
    assert.deepEqual(found.results[0]!.metadata, { topic: "hobby" });
    assert.equal(found.results[0]!.score_parts, undefined);
    const explained = await admin.search("bees balcony", { userId: "carol", limit: 1, explain: true });
    const top = explained.results[0]!;
    let recomputed = 0;
    for (const s of top.score_steps ?? []) {
      recomputed = s.op === "add" ? recomputed + s.value : s.op === "multiply" ? recomputed * s.value : s.value;
    }
    assert.ok(Math.abs(recomputed - (top.score ?? NaN)) < 1e-9, `steps give ${recomputed}, score ${top.score}`);
    assert.equal(typeof top.score_parts?.dense, "number");

    const filtered = await admin.search("cat", { userId: "carol", filters: { topic: "hobby" } });
    assert.ok(filtered.results.every((r) => r.metadata?.topic === "hobby"));

    const all = await admin.getAll({ userId: "carol" });
    assert.deepEqual(all.results.map((m) => m.memory), [
      "I keep bees on my balcony in Porto",
      "Lovely hobby",
      "My cat is called Miso",
    ]);
    assert.equal(all.results[2]!.memory_type, "episodic");
    assert.equal((await admin.getAll({ userId: "carol", filters: { topic: "hobby" } })).results.length, 2);
    assert.equal((await admin.getAll({ userId: "carol", limit: 1 })).results.length, 1);

    const item = await admin.get(beesId);
    assert.equal(item?.memory, "I keep bees on my balcony in Porto");
    assert.equal(item?.user_id, "carol");
    assert.equal(item?.hash.length, 32);

    const updated = await admin.update(beesId, "I keep bees in Lisbon now", { metadata: { hives: 2 } });
    assert.match(updated.message, new RegExp(beesId));
    assert.deepEqual((await admin.get(beesId))?.metadata, { topic: "hobby", hives: 2 });

    const history = await admin.history(beesId);
    assert.deepEqual(history.map((e) => e.event), ["ADD", "UPDATE"]);
    assert.equal(history[1]!.old_memory, "I keep bees on my balcony in Porto");
    assert.equal(history[1]!.new_memory, "I keep bees in Lisbon now");

    assert.match((await admin.delete(beesId)).message, /deleted/);
    assert.equal(await admin.get(beesId), null);
    assert.deepEqual((await admin.history(beesId)).map((e) => e.event), ["ADD", "UPDATE", "DELETE"]);

    assert.equal((await admin.deleteAll({ userId: "carol" })).message, "Deleted 2 memories");
    assert.deepEqual((await admin.getAll({ userId: "carol" })).results, []);

    await admin.add("to be wiped", { agentId: "a1" });
    assert.equal((await admin.reset()).message, "Memory store reset");
    assert.deepEqual((await admin.getAll({ agentId: "a1" })).results, []);
  });

  test("add takes the time a conversation happened (timestamp)", async () => {
    const said = "2023-05-08T13:56:00+00:00";
    for (const timestamp of [new Date(Date.UTC(2023, 4, 8, 13, 56)), "2023-05-08T13:56:00", 1683554160]) {
      const added = await admin.add("I moved to Paris", { userId: "dora", infer: false, timestamp });
      const id = added.results[0]!.id;
      const item = await admin.get(id);
      assert.equal(item?.created_at, said);
      assert.equal(item?.updated_at, said);
      const [event] = await admin.history(id);
      assert.equal(event!.stated_at, said);
      assert.notEqual(event!.created_at, said);
    }
    await assert.rejects(admin.add("x", { userId: "dora", infer: false, timestamp: Date.now() }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.ok(err.problems.some((p) => p.loc.includes("timestamp")), JSON.stringify(err.problems));
      assert.match(err.message, /divide by 1000/);
      return true;
    });
    assert.equal((await admin.getAll({ userId: "dora" })).results.length, 3);
    await admin.deleteAll({ userId: "dora" });
  });

  test("search takes the time it is asked at (now)", async () => {
    await admin.add("I went hiking with Ana", { userId: "erin", infer: false, timestamp: "2023-05-14" });
    await admin.add("I went hiking with Bo", { userId: "erin", infer: false, timestamp: "2023-07-16" });
    // "last month" counts from now: June 2023 asks about May, August about July
    for (const [now, first] of [
      [new Date(Date.UTC(2023, 5, 10)), "I went hiking with Ana"],
      ["2023-08-05", "I went hiking with Bo"],
      [1691193600, "I went hiking with Bo"],
    ] as const) {
      const found = await admin.search("where did I go hiking last month", { userId: "erin", now });
      assert.equal(found.results[0]!.memory, first, `now=${String(now)}`);
      assert.ok(found.results[0]!.score! > found.results[1]!.score!, JSON.stringify(found.results));
    }
    await assert.rejects(admin.search("hiking", { userId: "erin", now: "last tuesday" }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.ok(err.problems.some((p) => p.loc.includes("now")), JSON.stringify(err.problems));
      return true;
    });
    await admin.deleteAll({ userId: "erin" });
  });

  test("positional calls (the original mem7's style) on a REST engine give the original's shapes", async () => {
    assert.equal(admin.style, "rest");
    const added = await admin.add([{ role: "user", content: "Frank rides a red bike" }], "frank", null, null, '{"k": 1}', false);
    assert.deepEqual(added, {
      results: [{ id: added.results[0]!.id, action: "Add", newValue: "Frank rides a red bike" }],
      relations: [],
    });
    const all = await admin.getAll("frank");
    assert.ok(Array.isArray(all));
    assert.equal(all[0]!.text, "Frank rides a red bike");
    assert.equal(all[0]!.userId, "frank");
    assert.equal(all[0]!.metadata, '{"k":1}');
    const found = await admin.search("red bike", "frank");
    assert.equal(found.memories[0]!.id, all[0]!.id);
    assert.equal(typeof found.memories[0]!.score, "number");
    // Calls whose arguments pick no style keep this engine's (REST) shapes.
    assert.equal((await admin.get(all[0]!.id))?.user_id, "frank");
    assert.deepEqual((await admin.history(all[0]!.id)).map((e) => e.event), ["ADD"]);
    assert.equal(await admin.deleteAll("frank"), undefined);
    assert.deepEqual((await admin.getAll({ userId: "frank" })).results, []);
    // An engine on a running server can ask for the original's shapes everywhere.
    const original = await MemoryEngine.create({ baseUrl: server.url, token: ADMIN, style: "original" });
    assert.equal(original.serverPid, undefined);
    assert.equal(await original.close(), null, "close() of an engine that owns no server is a no-op");
    const id = (await original.add("Frank also rows", { userId: "frank", infer: false })).results[0]!.id;
    assert.equal((await original.get(id)).text, "Frank also rows");
    assert.deepEqual((await original.history(id)).map((e) => e.action), ["Add"]);
    assert.equal(await original.delete(id), undefined);
  });

  test("a token pinned to alice cannot touch bob", async () => {
    const alice = await MemoryEngine.create({ baseUrl: server.url, token: ALICE });
    const bob = await MemoryEngine.create({ baseUrl: server.url, token: BOB });
    const mine = (await alice.add("alice likes tea")).results[0]!.id;
    assert.equal((await alice.get(mine))?.user_id, "alice");
    const theirs = (await bob.add("bob likes tea")).results[0]!.id;

    await assert.rejects(alice.add("x", { userId: "bob" }), ForbiddenError);
    await assert.rejects(alice.search("tea", { userId: "bob" }), ForbiddenError);
    await assert.rejects(alice.getAll({ userId: "bob" }), ForbiddenError);
    await assert.rejects(alice.reset(), ForbiddenError);
    assert.deepEqual((await alice.search("who likes tea")).results.map((r) => r.id), [mine]);
    assert.equal(await alice.get(theirs), null);
    await assert.rejects(alice.update(theirs, "hacked"), NotFoundError);
    await assert.rejects(alice.delete(theirs), NotFoundError);
    assert.deepEqual(await alice.history(theirs), []);
    assert.equal((await bob.get(theirs))?.memory, "bob likes tea");
  });

  test("errors: missing token, bad input, unknown ids", async () => {
    const anonymous = new MemoryEngine({ baseUrl: server.url });
    await assert.rejects(anonymous.getAll({ userId: "x" }), AuthenticationError);

    await assert.rejects(admin.search("q", { userId: "u", limit: 0 }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.equal(err.status, 422);
      assert.ok(err.problems.some((p) => p.loc.includes("limit")), JSON.stringify(err.problems));
      assert.match(err.message, /limit/);
      return true;
    });
    await assert.rejects(admin.search("q"), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.match(err.message, /user_id, agent_id or run_id/);
      return true;
    });
    // The message names the field: a body field called `query` is not the query-string location,
    // and pydantic's union branch names (`str`, `Message`, `list[...]`) are no fields.
    await assert.rejects(admin.search("", { userId: "u" }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.match(err.message, /^search: invalid input: query: String should have at least 1 character$/);
      return true;
    });
    const badRole = [{ role: "bot", content: "x" }] as never;  // a role the server refuses
    await assert.rejects(admin.add(badRole, { userId: "u" }), (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.match(err.message, /messages\.0\.role: Input should be 'system', 'user', 'assistant' or 'tool'/);
      assert.doesNotMatch(err.message, /Message|union|\.str\b/);
      return true;
    });
    await assert.rejects(admin.getAll({ userId: "u", filters: { k: { regex: "x" } } }), /Unknown filter operator 'regex'/);
    assert.equal(await admin.get("no-such-id"), null);
    assert.deepEqual(await admin.history("no-such-id"), []);
    await assert.rejects(admin.update("no-such-id", "x"), NotFoundError);
    await assert.rejects(admin.delete("no-such-id"), NotFoundError);
  });
});
