/**
 * A local `mem7 serve` owned by one `MemoryEngine`: started with the caller's config on a free
 * loopback port, protected by a random bearer token, stopped by `close()` or when Node exits.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

import { Mem7Error } from "./errors.js";

export interface LocalServerOptions {
  /** The `mem7` console script (default `$MEM7_BIN`, else `mem7` on `PATH`). */
  mem7Bin?: string;
  /** The data directory of the embedded default (`--data-dir`; default `$MEM7_DATA_DIR` or `~/.mem7`). */
  dataDir?: string;
  /** Extra environment for the server (e.g. `OPENAI_API_KEY`); the rest is inherited. */
  env?: Record<string, string>;
  /** How long to wait for the server to listen (default 120 000 ms: first start may load models). */
  startTimeoutMs?: number;
  /** Per-request timeout in milliseconds (default 60 000). */
  timeoutMs?: number;
  /** Extra `mem7 serve` arguments, e.g. `["-v"]`. */
  args?: string[];
}

/** `mem7 serve` could not be found or did not start (its stderr is in the message). */
export class ServerStartError extends Mem7Error {
  constructor(message: string) {
    super(message, 0);
  }
}

const LISTENING = /mem7 serve: listening on (http:\/\/\S+)/;
const STDERR_KEPT = 8192;

export class LocalServer {
  readonly url: string;
  readonly token: string;
  readonly #proc: ChildProcess;
  #stderr: string;
  #exit: Promise<number | null>;
  #exitCode: number | null | undefined;

  private constructor(url: string, token: string, proc: ChildProcess, stderr: { text: string }) {
    this.url = url;
    this.token = token;
    this.#proc = proc;
    this.#stderr = stderr.text;
    this.#exit = new Promise((done) => {
      if (proc.exitCode !== null || proc.signalCode !== null) done(proc.exitCode);
      else proc.once("exit", (code) => done(code));
    });
    this.#exit.then((code) => {
      this.#exitCode = code;
      live.delete(proc);
    });
    // Keep draining stderr (a full pipe would block the server) and remember its tail.
    proc.stderr?.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_KEPT);
    });
  }

  /** The server's process id. */
  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Whether the server process has exited. */
  get exited(): boolean {
    return this.#exitCode !== undefined;
  }

  /** Why requests fail when the server died: its exit code and the end of its stderr. */
  describeExit(): string {
    return `mem7 serve (pid ${this.#proc.pid}) exited with code ${this.#exitCode}: ${this.#stderr.trim().slice(-2000)}`;
  }

  /** SIGTERM (graceful: requests in flight finish, the engine is closed), SIGKILL after `graceMs`. */
  async stop(graceMs = 35_000): Promise<number | null> {
    if (!this.exited) {
      this.#proc.ref(); // keep Node alive until the server has exited
      this.#proc.kill("SIGTERM");
      const timer = setTimeout(() => this.#proc.kill("SIGKILL"), graceMs);
      timer.unref();
      await this.#exit;
      clearTimeout(timer);
    }
    return (await this.#exit) ?? null;
  }

  static async start(configJson: string | undefined | null, options: LocalServerOptions = {}): Promise<LocalServer> {
    const bin = findMem7(options.mem7Bin);
    const token = randomBytes(24).toString("hex");
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      // MEM7_SERVER_* would change the server (tokens, host, workers; ours are set below), and
      // MEM7_BIN / MEM7_CONFIG are this client's settings, not engine config.
      if (value === undefined || key.startsWith("MEM7_SERVER_")) continue;
      if (key === "MEM7_BIN" || key === "MEM7_CONFIG") continue;
      env[key] = value;
    }
    Object.assign(env, options.env ?? {});
    env.MEM7_SERVER_TOKENS = token;

    const args = ["serve", "--host", "127.0.0.1", "--port", "0"];
    let configDir: string | undefined;
    if (configJson !== undefined && configJson !== null) {
      configDir = mkdtempSync(join(tmpdir(), "mem7-engine-"));
      const path = join(configDir, "config.json");
      writeFileSync(path, configJson, { mode: 0o600 });
      args.push("--config", path);
    }
    if (options.dataDir) args.push("--data-dir", options.dataDir);
    args.push(...(options.args ?? []));

    const removeConfig = () => {
      if (configDir) rmSync(configDir, { recursive: true, force: true });
      configDir = undefined;
    };
    const proc = spawn(bin, args, { env, stdio: ["ignore", "ignore", "pipe"] });
    live.add(proc);
    installExitHook();
    const stderr = { text: "" };
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        const timeoutMs = options.startTimeoutMs ?? 120_000;
        const timer = setTimeout(() => {
          proc.kill("SIGKILL");
          reject(new ServerStartError(`mem7 serve did not start in ${timeoutMs} ms: ${stderr.text.trim()}`));
        }, timeoutMs);
        proc.once("error", (err) => {
          clearTimeout(timer);
          reject(new ServerStartError(`cannot run ${bin} (install the mem7 Python package, or set MEM7_BIN / mem7Bin): ${err.message}`));
        });
        proc.once("exit", (code) => {
          clearTimeout(timer);
          reject(new ServerStartError(`mem7 serve exited with code ${code} before listening: ${stderr.text.trim()}`));
        });
        proc.stderr!.setEncoding("utf8");
        const onData = (chunk: string) => {
          stderr.text = (stderr.text + chunk).slice(-STDERR_KEPT);
          const match = LISTENING.exec(stderr.text);
          if (match?.[1]) {
            clearTimeout(timer);
            proc.stderr!.off("data", onData);
            resolveUrl(match[1]);
          }
        };
        proc.stderr!.on("data", onData);
      });
      proc.removeAllListeners("exit");
      proc.removeAllListeners("error");
      // The server owns no event-loop time of this process: a script that never calls close()
      // still exits, and the exit hook stops the server.
      proc.unref();
      (proc.stderr as unknown as { unref?: () => void } | null)?.unref?.();
      return new LocalServer(url, token, proc, stderr);
    } catch (err) {
      live.delete(proc);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      throw err;
    } finally {
      removeConfig(); // read once at startup; API keys do not stay on disk
    }
  }
}

/** `mem7Bin`, else `$MEM7_BIN`, else `mem7` on `PATH`. */
export function findMem7(explicit?: string): string {
  const given = explicit ?? process.env.MEM7_BIN;
  if (given) return given;
  const names = process.platform === "win32" ? ["mem7.exe", "mem7.cmd", "mem7"] : ["mem7"];
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    for (const name of names) {
      const candidate = join(dir, name);
      if (existsSync(candidate)) return candidate;
    }
  }
  throw new ServerStartError(
    "the mem7 command was not found on PATH: pip install 'mem7-core[server]' (or mem7), " +
      "or pass its path as mem7Bin / set MEM7_BIN",
  );
}

// ------------------------------------------------------------- stop owned servers when Node exits

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(): void {
  for (const proc of live) {
    try {
      proc.kill("SIGTERM");
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.once("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAll();
      // Only ours: do what Node would have done without a listener (die of the signal).
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
