//! A local `mem7 serve` owned by one `MemoryEngine`: started with the caller's config on a free
//! loopback port, protected by a random bearer token, stopped when the engine is dropped.
//!
//! The child is spawned by a thread of its own, which then reads the child's stderr until it
//! closes: the `mem7 serve: listening on <url>` line tells the engine where the server is, and
//! the tail of the rest explains a server that dies. On Linux the child also gets
//! `PR_SET_PDEATHSIG(SIGTERM)`, bound to that thread, so a process killed without unwinding
//! (SIGKILL) still leaves no server behind.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::LocalConfig;
use crate::error::{Mem7Error, Result};

const LISTENING: &str = "mem7 serve: listening on ";
const STDERR_KEPT: usize = 8192;

pub(crate) struct LocalServer {
    pub(crate) url: String,
    pub(crate) token: String,
    pid: u32,
    child: Mutex<Option<Child>>,
    status: Mutex<Option<ExitStatus>>,
    stderr: Arc<Mutex<String>>,
    stop_timeout: Duration,
}

impl LocalServer {
    pub(crate) async fn start(config: &LocalConfig) -> Result<LocalServer> {
        let bin = find_mem7(config.mem7_bin.as_deref())?;
        let token = random_hex(24);
        let config_dir = match &config.config {
            Some(json) => Some(PrivateDir::with_config(json)?),
            None => None,
        };

        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"]);
        if let Some(dir) = &config_dir {
            cmd.arg("--config").arg(dir.config_path());
        }
        if let Some(data_dir) = &config.data_dir {
            cmd.arg("--data-dir").arg(data_dir);
        }
        cmd.args(&config.args);
        cmd.env_clear();
        for (key, value) in std::env::vars_os() {
            // MEM7_SERVER_* would change the server (tokens, host, workers; ours are set below);
            // MEM7_BIN / MEM7_CONFIG are this client's settings, not engine config.
            let name = key.to_string_lossy();
            if name.starts_with("MEM7_SERVER_") || name == "MEM7_BIN" || name == "MEM7_CONFIG" {
                continue;
            }
            cmd.env(&key, &value);
        }
        for (key, value) in &config.env {
            cmd.env(key, value);
        }
        cmd.env("MEM7_SERVER_TOKENS", &token);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        set_parent_death_signal(&mut cmd);

        let stderr = Arc::new(Mutex::new(String::new()));
        let (child_tx, child_rx) = tokio::sync::oneshot::channel::<std::io::Result<Child>>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
        let tail = Arc::clone(&stderr);
        std::thread::Builder::new()
            .name("mem7-serve".into())
            .spawn(move || watch(cmd, child_tx, ready_tx, tail))
            .map_err(|e| Mem7Error::ServerStart(format!("cannot start a thread for mem7 serve: {}", e)))?;

        let child = match child_rx.await {
            Ok(Ok(child)) => child,
            Ok(Err(e)) => {
                return Err(Mem7Error::ServerStart(format!(
                    "cannot run {} (install the mem7 Python package: pip install 'mem7-core[server]', or set \
                     LocalConfig::with_mem7_bin / $MEM7_BIN): {}",
                    bin.display(),
                    e
                )))
            }
            Err(_) => return Err(Mem7Error::ServerStart("the mem7 serve thread ended before spawning".into())),
        };
        let mut server = LocalServer {
            url: String::new(),
            token,
            pid: child.id(),
            child: Mutex::new(Some(child)),
            status: Mutex::new(None),
            stderr,
            stop_timeout: config.stop_timeout,
        };
        let waited = tokio::time::timeout(config.start_timeout, ready_rx).await;
        drop(config_dir); // read once at startup: API keys do not stay on disk
        match waited {
            Ok(Ok(url)) => {
                server.url = url;
                Ok(server)
            }
            Ok(Err(_closed)) => {
                // stderr closed before the line: the server exited (a bad config, a port...).
                let status = server.wait_for_exit(Duration::from_secs(10));
                Err(Mem7Error::ServerStart(format!(
                    "mem7 serve exited ({}) before listening: {}",
                    describe_status(status),
                    server.stderr_tail()
                )))
            }
            Err(_elapsed) => {
                server.kill();
                Err(Mem7Error::ServerStart(format!(
                    "mem7 serve did not start in {} s (LocalConfig::with_start_timeout): {}",
                    config.start_timeout.as_secs_f32(),
                    server.stderr_tail()
                )))
            }
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status, once the server has exited (`None` while it runs).
    pub(crate) fn exit_status(&self) -> Option<ExitStatus> {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if status.is_none() {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = child.as_mut() {
                if let Ok(Some(s)) = c.try_wait() {
                    *status = Some(s);
                    *child = None;
                }
            }
        }
        *status
    }

    /// Why requests fail when the server died: its exit status and the end of its stderr.
    pub(crate) fn describe_exit(&self) -> Option<String> {
        self.exit_status().map(|status| {
            format!("mem7 serve (pid {}) exited ({}): {}", self.pid, describe_status(Some(status)), self.stderr_tail())
        })
    }

    fn stderr_tail(&self) -> String {
        let text = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let trimmed = text.trim();
        let start = trimmed.char_indices().rev().nth(1999).map_or(0, |(i, _)| i);
        trimmed[start..].to_string()
    }

    /// SIGTERM (graceful: requests in flight finish, the engine is closed), then SIGKILL after
    /// `stop_timeout`; waits for the exit without blocking the runtime.
    pub(crate) async fn stop(&self) -> Option<ExitStatus> {
        if self.exit_status().is_some() {
            return self.exit_status();
        }
        self.terminate();
        let deadline = Instant::now() + self.stop_timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        self.exit_status()
    }

    /// The same as [`LocalServer::stop`], blocking this thread (for `Drop`).
    fn stop_blocking(&self) -> Option<ExitStatus> {
        if self.exit_status().is_some() {
            return self.exit_status();
        }
        self.terminate();
        let status = self.wait_for_exit(self.stop_timeout);
        if status.is_some() {
            return status;
        }
        self.kill();
        self.exit_status()
    }

    fn wait_for_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&self) {
        #[cfg(unix)]
        {
            let child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = child.as_ref() {
                // SAFETY: kill(2) on our own child, not yet reaped (we hold its handle).
                unsafe {
                    libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
                }
            }
        }
        #[cfg(not(unix))]
        self.kill();
    }

    /// SIGKILL and reap. (Locks `child`, then `status`, never both at once: `exit_status` takes
    /// them the other way round.)
    fn kill(&self) {
        let reaped = {
            let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
            child.take().and_then(|mut c| {
                let _ = c.kill();
                c.wait().ok()
            })
        };
        if let Some(status) = reaped {
            *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

/// The spawning thread: spawns the server, hands it over, then reads its stderr to the end.
fn watch(
    mut cmd: Command,
    child_tx: tokio::sync::oneshot::Sender<std::io::Result<Child>>,
    ready_tx: tokio::sync::oneshot::Sender<String>,
    tail: Arc<Mutex<String>>,
) {
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let _ = child_tx.send(Err(e));
            return;
        }
    };
    let stderr = child.stderr.take();
    if let Err(Ok(mut child)) = child_tx.send(Ok(child)) {
        // Nobody waits for it any more (the caller was cancelled): do not leave it running.
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let stderr = match stderr {
        Some(stderr) => stderr,
        None => return,
    };
    let mut reader = BufReader::new(stderr);
    let mut ready_tx = Some(ready_tx);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        if ready_tx.is_some() {
            if let Some(url) = listening_url(&text) {
                if let Some(tx) = ready_tx.take() {
                    let _ = tx.send(url);
                }
            }
        }
        let mut kept = tail.lock().unwrap_or_else(|e| e.into_inner());
        kept.push_str(&text);
        if kept.len() > 2 * STDERR_KEPT {
            let mut cut = kept.len() - STDERR_KEPT;
            while !kept.is_char_boundary(cut) {
                cut += 1;
            }
            kept.drain(..cut);
        }
    }
}

fn listening_url(line: &str) -> Option<String> {
    let rest = &line[line.find(LISTENING)? + LISTENING.len()..];
    let url: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
    url.starts_with("http://").then_some(url)
}

fn describe_status(status: Option<ExitStatus>) -> String {
    match status {
        None => "still running".into(),
        Some(s) => {
            if let Some(code) = s.code() {
                return format!("exit code {}", code);
            }
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt;
                if let Some(signal) = s.signal() {
                    return format!("killed by signal {}", signal);
                }
            }
            s.to_string()
        }
    }
}

#[cfg(target_os = "linux")]
fn set_parent_death_signal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_cmd: &mut Command) {}

/// `explicit`, else `$MEM7_BIN`, else `mem7` on `PATH`.
pub(crate) fn find_mem7(explicit: Option<&Path>) -> Result<PathBuf> {
    find_mem7_in(explicit, std::env::var_os("MEM7_BIN"), std::env::var_os("PATH"))
}

fn find_mem7_in(explicit: Option<&Path>, mem7_bin: Option<OsString>, path: Option<OsString>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    if let Some(bin) = mem7_bin.filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(bin));
    }
    let names: &[&str] = if cfg!(windows) { &["mem7.exe", "mem7.cmd", "mem7"] } else { &["mem7"] };
    let path = path.unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(Mem7Error::ServerStart(
        "the mem7 command was not found on PATH: pip install 'mem7-core[server]' (or mem7), or give its path \
         with LocalConfig::with_mem7_bin / $MEM7_BIN"
            .into(),
    ))
}

/// A directory only this user can read, holding the config file; removed when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn with_config(config: &serde_json::Value) -> Result<PrivateDir> {
        let path = std::env::temp_dir().join(format!("mem7-engine-{}-{}", std::process::id(), random_hex(8)));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(&path)
            .map_err(|e| Mem7Error::ServerStart(format!("cannot create {}: {}", path.display(), e)))?;
        let dir = PrivateDir(path);
        let text = serde_json::to_vec(config).expect("a JSON value serializes");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = dir.config_path();
        options
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &text))
            .map_err(|e| Mem7Error::ServerStart(format!("cannot write {}: {}", file.display(), e)))?;
        Ok(dir)
    }

    fn config_path(&self) -> PathBuf {
        self.0.join("config.json")
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `bytes` random bytes as hex: the OS's randomness (`/dev/urandom`), else std's random hasher keys.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    let from_os =
        std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf)).is_ok();
    if !from_os {
        use std::collections::hash_map::RandomState;
        use std::hash::{BuildHasher, Hasher};
        for chunk in buf.chunks_mut(8) {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u128(Instant::now().elapsed().as_nanos());
            let value = hasher.finish().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
    }
    buf.iter().map(|b| format!("{:02x}", b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_gives_the_url() {
        assert_eq!(
            listening_url("mem7 serve: listening on http://127.0.0.1:4242\n").as_deref(),
            Some("http://127.0.0.1:4242")
        );
        assert_eq!(
            listening_url("mem7 serve: listening on http://127.0.0.1:8000 (4 workers, pids 1, 2)").as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(listening_url("INFO: started"), None);
    }

    #[test]
    fn tokens_are_random_hex() {
        let a = random_hex(24);
        assert_eq!(a.len(), 48);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(24));
    }

    #[test]
    fn the_config_file_is_private_and_removed() {
        let dir = PrivateDir::with_config(&serde_json::json!({"llm": {"api_key": "sk-secret"}})).unwrap();
        let path = dir.config_path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("sk-secret"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn the_command_is_found_in_order_or_the_error_names_the_fix() {
        let dir = std::env::temp_dir().join(format!("mem7-find-{}", random_hex(6)));
        std::fs::create_dir(&dir).unwrap();
        let path = Some(OsString::from(&dir));
        let err = find_mem7_in(None, None, path.clone()).unwrap_err();
        assert!(matches!(err, Mem7Error::ServerStart(_)));
        let text = err.to_string();
        assert!(text.contains("MEM7_BIN") && text.contains("pip install 'mem7-core[server]'"), "{}", text);
        std::fs::write(dir.join("mem7"), b"").unwrap();
        assert_eq!(find_mem7_in(None, None, path.clone()).unwrap(), dir.join("mem7"));
        let env_bin = Some(OsString::from("/opt/mem7"));
        assert_eq!(find_mem7_in(None, env_bin.clone(), path.clone()).unwrap(), PathBuf::from("/opt/mem7"));
        let explicit = find_mem7_in(Some(Path::new("/x/mem7")), env_bin, path).unwrap();
        assert_eq!(explicit, PathBuf::from("/x/mem7"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
