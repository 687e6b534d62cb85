//! Start-up, through the real binary (`CARGO_BIN_EXE_accountd`) on a database of its own: the
//! bootstrap application key is generated only once the listeners are bound, so a start that
//! fails on a busy port loses nothing; with JSON logs and no terminal the key goes to an
//! owner-only file, never into the log stream; a malformed `.env` stops the start with its line
//! number. Each process runs in a temporary working directory and is killed when done.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, TestDatabase};
use crate::tests;

tests![
    a_start_that_fails_on_a_busy_port_creates_no_key_and_the_next_start_shows_it,
    with_json_logs_and_no_terminal_the_generated_key_goes_to_an_owner_only_file,
    a_malformed_env_file_stops_the_start_with_its_line_number,
];

const STARTUP: Duration = Duration::from_secs(30);

/// A database no server has used: no bootstrap key exists yet.
async fn fresh_database(app: &TestApp) -> TestDatabase {
    TestDatabase::beside(&app.database_url).await
}

fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// An accountd process with its output collected as it comes.
struct Server {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `accountd serve` in `dir` with only the given environment (nothing inherited,
    /// so neither the developer's variables nor a `.env` of the repository leak in).
    fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_accountd"));
        command
            .arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("accountd starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), Arc::clone(&stdout));
        collect(child.stderr.take().unwrap(), Arc::clone(&stderr));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the standard error holds `text`; panics with the output otherwise.
    async fn wait_for_log(&mut self, text: &str) {
        let deadline = tokio::time::Instant::now() + STARTUP;
        while !self.stderr().contains(text) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "accountd exited ({status}) before logging {text:?}:\n{}\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {text:?} in the log:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the process to exit by itself.
    async fn exit_code(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(STARTUP, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("accountd kept running:\n{}", self.stderr()))
            .unwrap();
        // Let the readers take the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status.code()
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn collect(stream: impl tokio::io::AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut text = into.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
}

/// The value of `NAME=value` in `text`.
fn value_of(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        line.trim()
            .strip_prefix(name)?
            .strip_prefix('=')
            .map(str::to_owned)
    })
}

/// A `client_credentials` token from the server on `port` with this key: the key works.
async fn key_works(port: u16, client_id: &str, secret: &str) -> bool {
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/oauth/access_token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
        ))
        .send()
        .await
        .unwrap();
    answer.status() == 200
}

async fn a_start_that_fails_on_a_busy_port_creates_no_key_and_the_next_start_shows_it(
    app: TestApp,
) {
    let database = fresh_database(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_address = busy.local_addr().unwrap().to_string();
    let mut failed = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", &database.url),
            ("ACCOUNTD_LISTEN", &busy_address),
            ("ACCOUNTD_MANAGEMENT_LISTEN", "off"),
        ],
    );
    let code = failed.exit_code().await;
    assert_ne!(code, Some(0), "a start on a busy port succeeded");
    assert!(
        failed.stderr().contains("cannot listen on"),
        "{}",
        failed.stderr()
    );
    assert!(
        !failed.stdout().contains("ACCOUNTD_CLIENT_SECRET"),
        "{}",
        failed.stdout()
    );

    // The next good start finds no key, so it generates one and shows it.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut good = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", &database.url),
            ("ACCOUNTD_LISTEN", &listen),
            ("ACCOUNTD_MANAGEMENT_LISTEN", "off"),
        ],
    );
    good.wait_for_log("accountd listening").await;
    let shown = good.stdout();
    let client_id = value_of(&shown, "ACCOUNTD_CLIENT_ID")
        .unwrap_or_else(|| panic!("the generated key was not shown:\n{shown}"));
    let secret = value_of(&shown, "ACCOUNTD_CLIENT_SECRET").unwrap();
    assert!(key_works(port, &client_id, &secret).await);
    good.stop().await;
    database.drop_schema().await;
}

async fn with_json_logs_and_no_terminal_the_generated_key_goes_to_an_owner_only_file(app: TestApp) {
    let database = fresh_database(&app).await;
    let dir = tempfile::tempdir().unwrap();
    // SQLite: beside the database file. PostgreSQL: ./data, created owner-only.
    let (url, folder) = if app.database_url.starts_with("sqlite:") {
        let folder = dir.path().join("db");
        let url = format!("sqlite://{}/accountd.db?mode=rwc", folder.display());
        (url, folder)
    } else {
        (database.url.clone(), dir.path().join("data"))
    };
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Server::start(
        dir.path(),
        &[
            ("DATABASE_URL", &url),
            ("ACCOUNTD_LISTEN", &listen),
            ("ACCOUNTD_MANAGEMENT_LISTEN", "off"),
            ("ACCOUNTD_LOG_FORMAT", "json"),
        ],
    );
    server.wait_for_log("accountd listening").await;
    let path = folder.join("accountd-bootstrap-key.env");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}\n{}", path.display(), server.stderr()));
    let client_id = value_of(&text, "ACCOUNTD_CLIENT_ID").expect("ACCOUNTD_CLIENT_ID=… line");
    let secret = value_of(&text, "ACCOUNTD_CLIENT_SECRET").expect("ACCOUNTD_CLIENT_SECRET=… line");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is for its owner only");
        let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "its folder too");
    }
    assert!(key_works(port, &client_id, &secret).await);
    let (stdout, stderr) = (server.stdout(), server.stderr());
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "the secret reached the output:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("accountd-bootstrap-key.env"),
        "the log names the file:\n{stderr}"
    );
    server.stop().await;
    database.drop_schema().await;
}

async fn a_malformed_env_file_stops_the_start_with_its_line_number(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "# accountd\nDATABASE_URL={}\nACCOUNTD_LISTEN=127.0.0.1:{port}\nTHIS LINE IS NOT A VARIABLE\n",
            app.database_url
        ),
    )
    .unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let code = server.exit_code().await;
    assert_eq!(code, Some(2), "{}", server.stderr());
    assert!(
        server.stderr().contains(".env line 4"),
        "{}",
        server.stderr()
    );
}
