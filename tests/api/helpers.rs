//! The harness: every test runs once per available backend against a database of its own (a
//! fresh schema on PostgreSQL, a fresh file on SQLite), through the real router on a real port,
//! with a clock the test moves.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use accountd::auth::signing_key::JwtAlgorithm;
use accountd::config::{BootstrapKey, Config, JwtKeySource, ManagementListen};
use accountd::state::AppState;
use accountd::time::ManualClock;
use accountd::{Application, auth::secret::Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret-that-is-long-enough";
pub const JWT_SECRET: &str = "an-hs256-secret-of-at-least-32-bytes!";
pub const PUBLIC_BASE_URL: &str = "http://accountd.test";

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A test as the harness runs it.
pub struct Test {
    pub name: String,
    pub run: fn(TestApp) -> TestFuture,
}

/// Lists a module's tests: `tests![a, b]` defines `pub fn tests() -> Vec<Test>`. A test function
/// left out of the list is dead code, which the lints refuse.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub fn tests() -> Vec<$crate::helpers::Test> {
            let module = module_path!().rsplit("::").next().unwrap_or_default();
            vec![$($crate::helpers::Test {
                name: format!("{module}::{}", stringify!($name)),
                run: |app| Box::pin($name(app)),
            }),*]
        }
    };
}

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(Arc<PostgresSlots>),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The PostgreSQL databases the suite spreads its tests over, each held by one test at a time;
/// a test's schema lives in the database it holds. sqlx's migrator locks a whole database while
/// it checks and applies migrations, so in one shared database every server start would queue
/// behind every other test's.
#[derive(Debug)]
pub struct PostgresSlots {
    free: Mutex<Vec<String>>,
    returned: std::sync::Condvar,
}

impl PostgresSlots {
    /// `count` databases beside the one `base` names (`<name>_slot<n>` on the same server),
    /// created when missing and kept for the next run.
    pub fn prepare(base: &str, count: usize) -> Result<Self, String> {
        let mut url =
            url::Url::parse(base).map_err(|error| format!("TEST_DATABASE_URL: {error}"))?;
        let name = match url.path().trim_start_matches('/') {
            "" => "postgres".to_owned(),
            name => name.to_owned(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        let mut free = Vec::with_capacity(count);
        runtime.block_on(async {
            let mut admin = connect_pg(base).await;
            for slot in 0..count {
                let database = format!("{name}_slot{slot}");
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                        .bind(&database)
                        .fetch_optional(&mut admin)
                        .await
                        .map_err(|error| error.to_string())?;
                if exists.is_none() {
                    // Another suite may create it at the same moment; then it exists, which is
                    // all that matters.
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "CREATE DATABASE \"{database}\""
                    )))
                    .execute(&mut admin)
                    .await;
                }
                url.set_path(&format!("/{database}"));
                free.push(url.to_string());
            }
            Ok::<(), String>(())
        })?;
        Ok(Self {
            free: Mutex::new(free),
            returned: std::sync::Condvar::new(),
        })
    }

    /// Waits for a database no other test holds; it is free again when the lease is dropped.
    fn lease(self: &Arc<Self>) -> SlotLease {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        loop {
            if let Some(url) = free.pop() {
                return SlotLease {
                    url,
                    slots: Arc::clone(self),
                };
            }
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

struct SlotLease {
    url: String,
    slots: Arc<PostgresSlots>,
}

impl Drop for SlotLease {
    fn drop(&mut self) {
        let mut free = self
            .slots
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        free.push(std::mem::take(&mut self.url));
        self.slots.returned.notify_one();
    }
}

/// Everything a test needs: the running server, an HTTP client, the clock and the state.
pub struct TestApp {
    pub address: String,
    /// The management listener (`/metrics`), `http://…`, when it is on.
    pub management_address: Option<String>,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub realm_id: Uuid,
    /// The database this app runs on, so a test can start a second app (another replica, or
    /// the same server after a restart) on it.
    pub database_url: String,
    /// One connection for the facts only the database shows, opened on first use and reused.
    database: tokio::sync::OnceCell<tokio::sync::Mutex<DirectConnection>>,
    server: Arc<Mutex<Option<RunningServer>>>,
}

enum DirectConnection {
    Postgres(sqlx::PgConnection),
    Sqlite(sqlx::SqliteConnection),
}

struct RunningServer {
    stop: tokio::sync::oneshot::Sender<accountd::lifecycle::Stop>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What one test owns beyond its database: its log lines and the servers it started. Every
/// thread of the test's runtime holds it, so log lines land in the buffer of the test whose
/// threads wrote them, and the harness can stop every server before it drops the database.
#[derive(Default)]
struct TestContext {
    logs: Mutex<Vec<u8>>,
    servers: Mutex<Vec<Arc<Mutex<Option<RunningServer>>>>>,
}

thread_local! {
    static CONTEXT: std::cell::RefCell<Option<Arc<TestContext>>> = const { std::cell::RefCell::new(None) };
}

fn current_context() -> Option<Arc<TestContext>> {
    CONTEXT.with(|context| context.borrow().clone())
}

fn enter_context(test: &Arc<TestContext>) {
    CONTEXT.with(|context| *context.borrow_mut() = Some(Arc::clone(test)));
}

fn leave_context() {
    CONTEXT.with(|context| *context.borrow_mut() = None);
}

/// Lines written by threads no test owns (threads libraries start on their own, such as
/// SQLite's connection workers). Few, and shown to every test, so a check that a secret never
/// reached the logs also covers them.
fn unattributed_logs() -> &'static Mutex<Vec<u8>> {
    static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

/// The log lines of the running test (at debug level), and those of no test, so a test can
/// prove a secret never reached them.
pub fn captured_logs() -> String {
    let mut bytes = current_context()
        .and_then(|context| context.logs.lock().ok().map(|logs| logs.clone()))
        .unwrap_or_default();
    if let Ok(unattributed) = unattributed_logs().lock() {
        bytes.extend_from_slice(&unattributed);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Writes a log line into the buffer of the test that owns the current thread.
struct TestLogWriter(Option<Arc<TestContext>>);

impl Write for TestLogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let buffer = match &self.0 {
            Some(context) => context.logs.lock(),
            None => unattributed_logs().lock(),
        };
        if let Ok(mut buffer) = buffer {
            buffer.extend_from_slice(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line, at debug level, into the buffer of the test that wrote it.
pub fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_ansi(false)
        .with_writer(|| TestLogWriter(current_context()))
        .try_init();
}

/// How the suite signs account tokens: `ACCOUNTD_TEST_JWT_ALG` (`HS256`, `EdDSA` or `ES256`),
/// HS256 when unset. The token modules run under all three anyway (see `main.rs`).
pub fn suite_jwt_algorithm() -> JwtAlgorithm {
    match std::env::var("ACCOUNTD_TEST_JWT_ALG") {
        Ok(value) if !value.trim().is_empty() => JwtAlgorithm::parse(value.trim())
            .unwrap_or_else(|| panic!("ACCOUNTD_TEST_JWT_ALG must be HS256, EdDSA or ES256")),
        _ => JwtAlgorithm::Hs256,
    }
}

/// The configuration tests start from: a configured client and JWT key, a fixed public URL.
/// Under EdDSA or ES256 the configured HS256 key only verifies, and a key pair generated on
/// first start signs, as in a deployment that moved to an asymmetric algorithm.
pub fn test_config(database_url: &str) -> Config {
    let mut config = Config::new(database_url);
    config.listen = "127.0.0.1:0".to_owned();
    // Many servers run at once: each gets free ports of its own.
    config.management_listen = ManagementListen::Configured(([127, 0, 0, 1], 0).into());
    config.public_base_url = PUBLIC_BASE_URL.to_owned();
    config.bootstrap_key = Some(BootstrapKey {
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
    });
    let kid = accountd::config::kid_of_secret(JWT_SECRET.as_bytes());
    config.jwt_keys = JwtKeySource::Configured {
        keys: vec![(kid.clone(), Secret::new(JWT_SECRET))],
        active_kid: kid,
    };
    config.jwt_algorithm = suite_jwt_algorithm();
    config.hash_pool_size = 2;
    // The receivers and the identity provider of the tests listen on loopback over plain http;
    // tests of the default policy turn this off again.
    config.destinations.allow_private = true;
    // Dozens of servers share two cores while the suite runs, so a database wait of a few
    // seconds is the machine, not a fault; tests of the deadline set their own.
    config.db_timeout = std::time::Duration::from_secs(10);
    // Tests stop servers all the time; the drain is tested on its own.
    config.shutdown_drain = std::time::Duration::ZERO;
    config
}

/// A database of its own for one test; dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// On SQLite a copy of the migrated template; on PostgreSQL a new schema in the database
    /// `postgres` names.
    async fn create(postgres: Option<&str>) -> Self {
        match postgres {
            None => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("accountd.db");
                std::fs::copy(sqlite_template(), &path).expect("copy the SQLite template");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: None,
                    _dir: Some(dir),
                }
            }
            Some(base) => {
                let schema = format!("test_{}", Uuid::new_v4().simple());
                let mut admin = connect_pg(base).await;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test schema");
                let separator = if base.contains('?') { '&' } else { '?' };
                // Commits need not wait for the disk: a test's schema never outlives a crash.
                let url = format!(
                    "{base}{separator}options=-c%20search_path%3D{schema}%20-c%20synchronous_commit%3Doff&application_name={schema}"
                );
                Self {
                    url,
                    cleanup: Some((base.to_owned(), schema)),
                    _dir: None,
                }
            }
        }
    }

    /// Another database on the same backend as the one `database_url` names (a schema beside
    /// it on PostgreSQL), for a test that needs a second, independent store.
    pub async fn beside(database_url: &str) -> Self {
        let Some(marker) = database_url.find("options=-c%20search_path") else {
            return Self::create(None).await;
        };
        Self::create(Some(&database_url[..marker - 1])).await
    }

    pub async fn drop_schema(&self) {
        if let Some((base, schema)) = &self.cleanup {
            let mut admin = connect_pg(base).await;
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut admin)
                .await;
        }
    }
}

/// Where the SQLite template is, once [`prepare_sqlite_template`] made it.
static SQLITE_TEMPLATE: OnceLock<std::path::PathBuf> = OnceLock::new();

fn sqlite_template() -> &'static std::path::Path {
    SQLITE_TEMPLATE
        .get()
        .expect("the SQLite template is made before the first test")
}

/// A SQLite database migrated by the server's own store, which every SQLite test copies:
/// migrating a new file costs each test more than the copy. The server still runs its migrations
/// at start, finding them applied. The template lives as long as the returned folder.
pub fn prepare_sqlite_template() -> Result<tempfile::TempDir, String> {
    let dir = tempfile::tempdir().map_err(|error| error.to_string())?;
    let template = dir.path().join("template.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    runtime.block_on(async {
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("migrated.db").display()
        );
        let store =
            accountd::store::connect(&url, Arc::new(accountd::wire::Links::new(PUBLIC_BASE_URL)))
                .await
                .map_err(|error| error.to_string())?;
        store.migrate().await.map_err(|error| error.to_string())?;
        // A consistent copy of a database in WAL mode, without its WAL file.
        store
            .backup_into(&template)
            .await
            .map_err(|error| error.to_string())
    })?;
    let _ = SQLITE_TEMPLATE.set(template);
    Ok(dir)
}

async fn connect_pg(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .expect("TEST_DATABASE_URL must point at a reachable PostgreSQL")
}

/// Runs `test` against a fresh database on `backend`, signing tokens with `algorithm` (the
/// suite's own when `None`); then stops every server the test started and drops the database.
pub fn run(
    backend: &Backend,
    algorithm: Option<JwtAlgorithm>,
    test: fn(TestApp) -> TestFuture,
) -> Result<(), libtest_mimic::Failed> {
    let context = Arc::new(TestContext::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start({
            let context = Arc::clone(&context);
            move || enter_context(&context)
        })
        .build()
        .map_err(|error| libtest_mimic::Failed::from(error.to_string()))?;
    enter_context(&context);
    let slot = match backend {
        Backend::Sqlite => None,
        Backend::Postgres(slots) => Some(slots.lease()),
    };
    let outcome = runtime.block_on(async {
        let database = TestDatabase::create(slot.as_ref().map(|slot| slot.url.as_str())).await;
        let outcome = {
            let mut config = test_config(&database.url);
            config.jwt_algorithm = algorithm.unwrap_or(config.jwt_algorithm);
            let app = spawn_app(config).await;
            tokio::spawn(test(app)).await
        };
        stop_servers(&context).await;
        database.drop_schema().await;
        outcome.map_err(|error| {
            let message = if let Ok(panic) = error.try_into_panic() {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_else(|| "test panicked".to_owned())
            } else {
                "test was cancelled".to_owned()
            };
            libtest_mimic::Failed::from(message)
        })
    });
    leave_context();
    outcome
}

/// Stops every server the test left running, so none still works on the database when it is
/// dropped. Connections a test left open get a short grace, then their server is cut off.
async fn stop_servers(context: &TestContext) {
    let servers = context
        .servers
        .lock()
        .map(|mut servers| std::mem::take(&mut *servers))
        .unwrap_or_default();
    for server in servers {
        let running = server.lock().ok().and_then(|mut server| server.take());
        if let Some(RunningServer { stop, mut task }) = running {
            let _ = stop.send(accountd::lifecycle::Stop::Now);
            if tokio::time::timeout(std::time::Duration::from_secs(2), &mut task)
                .await
                .is_err()
            {
                task.abort();
                let _ = task.await;
            }
        }
    }
}

/// Builds and serves the application exactly as `accountd serve` does.
pub async fn spawn_app(config: Config) -> TestApp {
    let clock = Arc::new(ManualClock::starting_now());
    let database_url = config.database_url.expose().to_owned();
    let application = Application::build_with_clock(config, clock.clone())
        .await
        .expect("the application starts");
    let address = format!("http://{}", application.local_addr().expect("bound"));
    let management_address = application
        .management_addr()
        .map(|address| format!("http://{address}"));
    let state = application.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<accountd::lifecycle::Stop>();
    let task = tokio::spawn(
        application
            .run_until(async move { stopped.await.unwrap_or(accountd::lifecycle::Stop::Now) }),
    );
    let server = Arc::new(Mutex::new(Some(RunningServer { stop, task })));
    if let Some(mut servers) = current_context()
        .as_ref()
        .and_then(|context| context.servers.lock().ok())
    {
        servers.push(Arc::clone(&server));
    }
    TestApp {
        address,
        management_address,
        client: test_client_builder().build().expect("http client"),
        clock,
        realm_id: state.deployment.realm_id,
        state,
        database_url,
        database: tokio::sync::OnceCell::new(),
        server,
    }
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text
        );
        if self.text.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts an error envelope with this status and detail.
    #[track_caller]
    pub fn expect_error(&self, status: u16, detail: &str) {
        let body = self.expect(status);
        assert_eq!(
            body,
            json!({"errors": [{
                "status": status.to_string(),
                "title": StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or_default(),
                "detail": detail,
            }]}),
        );
    }
}

/// One request, with optional bearer token, account token and JSON body.
pub struct Call<'a> {
    app: &'a TestApp,
    base: String,
    method: Method,
    path: String,
    bearer: Option<String>,
    account_token: Option<String>,
    body: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
    source: Option<std::net::IpAddr>,
}

/// The tests' HTTP clients: redirects are answers to check, not to follow, and no trusted roots
/// are loaded, since tests speak plain http to loopback and reading the host's CA store costs
/// each client more than a whole request does.
fn test_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_built_in_root_certs(false)
}

/// An HTTP client whose connections leave from `source` (any 127.0.0.0/8 address works on
/// loopback), so the server sees a distinct client address as it would for another machine.
pub fn client_from(source: &str) -> reqwest::Client {
    test_client_builder()
        .local_address(
            source
                .parse::<std::net::IpAddr>()
                .expect("a source address"),
        )
        .build()
        .expect("http client")
}

impl<'a> Call<'a> {
    /// Sends the request from another loopback address, such as `127.0.0.8`.
    pub fn from(mut self, source: &str) -> Self {
        self.source = Some(source.parse().expect("a source address"));
        self
    }

    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    pub fn account_token(mut self, token: &str) -> Self {
        self.account_token = Some(token.to_owned());
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self
    }

    pub fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub async fn send(self) -> Reply {
        let url = format!("{}{}", self.base, self.path);
        let client = match self.source {
            Some(source) => client_from(&source.to_string()),
            None => self.app.client.clone(),
        };
        let mut request = client.request(self.method, url);
        if let Some(token) = self.bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(token) = self.account_token {
            request = request.header("EP-Account-Management-Authentication-Token", token);
        }
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = self.body {
            request = request
                .header("Content-Type", "application/json")
                .body(body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Reply {
            status,
            headers,
            text,
        }
    }
}

impl TestApp {
    /// Stops the server and its dispatcher as SIGTERM would (with the configured drain, none
    /// in tests unless they set one), and waits until they are gone.
    pub async fn shut_down(&self) {
        self.stop(accountd::lifecycle::Stop::Drain).await;
    }

    /// Stops the server the given way and waits until it is gone.
    pub async fn stop(&self, how: accountd::lifecycle::Stop) {
        let running = self.server.lock().ok().and_then(|mut server| server.take());
        if let Some(running) = running {
            let _ = running.stop.send(how);
            let _ = running.task.await;
        }
    }

    /// Starts stopping the server the given way without waiting for it, for tests of what
    /// happens meanwhile; returns the task that ends when the server has stopped.
    pub fn begin_stop(
        &self,
        how: accountd::lifecycle::Stop,
    ) -> Option<tokio::task::JoinHandle<std::io::Result<()>>> {
        let running = self
            .server
            .lock()
            .ok()
            .and_then(|mut server| server.take())?;
        let _ = running.stop.send(how);
        Some(running.task)
    }

    pub fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            app: self,
            base: self.address.clone(),
            method,
            path: path.to_owned(),
            bearer: None,
            account_token: None,
            body: None,
            headers: Vec::new(),
            source: None,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }

    /// A GET on the management listener.
    pub fn management_get(&self, path: &str) -> Call<'_> {
        let mut call = self.call(Method::GET, path);
        call.base = self
            .management_address
            .clone()
            .expect("the management listener is on");
        call
    }

    /// `GET /metrics` on the management listener, read whole.
    pub async fn scrape_metrics(&self) -> String {
        let reply = self.management_get("/metrics").send().await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.text
    }

    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call<'_> {
        self.call(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }

    /// The server's current time in whole epoch seconds.
    pub fn clock_seconds(&self) -> i64 {
        self.clock_now().seconds()
    }

    pub fn clock_now(&self) -> accountd::time::Timestamp {
        use accountd::time::Clock;
        self.clock.now()
    }

    /// `/v2/authentication-realms/{realm}` followed by `rest`.
    pub fn realm_path(&self, rest: &str) -> String {
        format!("/v2/authentication-realms/{}{rest}", self.realm_id)
    }

    pub async fn bearer_token(&self, form: &str) -> String {
        let reply = self
            .post("/oauth/access_token")
            .raw(form.to_owned())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send()
            .await;
        let body = reply.expect(200);
        body["access_token"].as_str().expect("a token").to_owned()
    }

    /// A `client_credentials` bearer token: the Admin class.
    pub async fn admin_token(&self) -> String {
        self.bearer_token(&format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ))
        .await
    }

    /// An `implicit` bearer token: the Shopper class.
    pub async fn implicit_token(&self) -> String {
        self.bearer_token(&format!("grant_type=implicit&client_id={CLIENT_ID}"))
            .await
    }

    pub async fn create_password_profile(&self, admin: &str, body: Value) -> Value {
        let reply = self
            .post(&self.realm_path("/password-profiles"))
            .bearer(admin)
            .json(json!({"data": body}))
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    pub async fn create_user(&self, admin: &str, name: &str, email: &str) -> Value {
        let reply = self
            .post(&self.realm_path("/user-authentication-info"))
            .bearer(admin)
            .json(
                json!({"data": {"type": "user_authentication_info", "name": name, "email": email}}),
            )
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    pub async fn create_password_info(
        &self,
        admin: &str,
        user_id: &str,
        profile_id: &str,
        username: &str,
        password: &str,
    ) -> Value {
        let reply = self
            .post(&self.realm_path(&format!(
                "/user-authentication-info/{user_id}/user-authentication-password-profile-info"
            )))
            .bearer(admin)
            .json(json!({"data": {
                "type": "user_authentication_password_profile_info",
                "password_profile_id": profile_id,
                "username": username,
                "password": password,
            }}))
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    pub async fn create_account(&self, admin: &str, name: &str) -> Value {
        self.create_account_with(admin, json!({"type": "account", "name": name}))
            .await
    }

    pub async fn create_account_with(&self, admin: &str, body: Value) -> Value {
        let reply = self
            .post("/v2/accounts")
            .bearer(admin)
            .json(json!({"data": body}))
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    pub async fn add_membership(&self, admin: &str, account_id: &str, member_id: &str) -> Value {
        let reply = self
            .post(&format!("/v2/accounts/{account_id}/account-memberships"))
            .bearer(admin)
            .json(json!({"data": {"type": "account_membership", "account_member_id": member_id}}))
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    /// `POST /v2/account-members/tokens` with the password mechanism.
    pub async fn login(
        &self,
        bearer: &str,
        profile_id: &str,
        username: &str,
        password: &str,
    ) -> Reply {
        self.post("/v2/account-members/tokens")
            .bearer(bearer)
            .json(json!({"data": {
                "type": "account_management_authentication_token",
                "authentication_mechanism": "password",
                "password_profile_id": profile_id,
                "username": username,
                "password": password,
            }}))
            .send()
            .await
    }

    /// The same login as a future that owns what it needs, for tests that spawn many at once.
    pub fn spawned_login(
        &self,
        bearer: &str,
        shopper: &Shopper,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static {
        self.client
            .post(format!("{}/v2/account-members/tokens", self.address))
            .bearer_auth(bearer)
            .json(&json!({"data": {
                "type": "account_management_authentication_token",
                "authentication_mechanism": "password",
                "password_profile_id": shopper.profile_id,
                "username": shopper.username,
                "password": shopper.password,
            }}))
            .send()
    }
}

/// A member with a password who belongs to the named accounts, ready to log in.
pub struct Shopper {
    pub member_id: String,
    pub profile_id: String,
    pub username: String,
    pub password: String,
    pub accounts: Vec<String>,
}

pub async fn shopper_in(app: &TestApp, admin: &str, accounts: &[&str]) -> Shopper {
    let profile = app
        .create_password_profile(
            admin,
            json!({"type": "password_profile", "name": "Storefront"}),
        )
        .await;
    let profile_id = profile["id"].as_str().expect("id").to_owned();
    let suffix = Uuid::new_v4().simple().to_string();
    let username = format!("buyer-{suffix}@example.com");
    let user = app.create_user(admin, "Buyer", &username).await;
    let member_id = user["id"].as_str().expect("id").to_owned();
    let password = format!("correct horse {suffix}");
    app.create_password_info(admin, &member_id, &profile_id, &username, &password)
        .await;
    let mut ids = Vec::new();
    for name in accounts {
        let account = app.create_account(admin, name).await;
        let account_id = account["id"].as_str().expect("id").to_owned();
        app.add_membership(admin, &account_id, &member_id).await;
        ids.push(account_id);
    }
    Shopper {
        member_id,
        profile_id,
        username,
        password,
        accounts: ids,
    }
}

/// Logs the shopper in with a password: (account id, token) for each of its accounts, in the
/// order the answer lists them.
pub async fn account_tokens(
    app: &TestApp,
    implicit: &str,
    shopper: &Shopper,
) -> Vec<(String, String)> {
    let body = app.log_in(implicit, shopper).await.expect(201);
    body["data"]
        .as_array()
        .expect("a token per account")
        .iter()
        .map(|item| {
            (
                item["account_id"].as_str().expect("account_id").to_owned(),
                item["token"].as_str().expect("token").to_owned(),
            )
        })
        .collect()
}

/// A member logged in with a password as a shopper, and the bearer tokens that took.
pub struct LoggedIn {
    /// An Admin bearer token (`client_credentials`).
    pub admin: String,
    /// The Shopper bearer token (`implicit`) the login ran under.
    pub implicit: String,
    pub shopper: Shopper,
    /// The first account token the login issued.
    pub token: String,
    /// Every account token the login issued, one per account, in the order the answer lists them.
    pub tokens: Vec<String>,
}

impl TestApp {
    /// A new member with a password in new accounts named `accounts` (at least one), logged in as
    /// a shopper: what most tests of account tokens start from.
    pub async fn logged_in(&self, accounts: &[&str]) -> LoggedIn {
        let admin = self.admin_token().await;
        let implicit = self.implicit_token().await;
        let shopper = shopper_in(self, &admin, accounts).await;
        let tokens: Vec<String> = account_tokens(self, &implicit, &shopper)
            .await
            .into_iter()
            .map(|(_, token)| token)
            .collect();
        LoggedIn {
            admin,
            implicit,
            shopper,
            token: tokens.first().expect("an account token").clone(),
            tokens,
        }
    }

    /// `shopper`'s password login under the Shopper bearer token `implicit`.
    pub async fn log_in(&self, implicit: &str, shopper: &Shopper) -> Reply {
        self.login(
            implicit,
            &shopper.profile_id,
            &shopper.username,
            &shopper.password,
        )
        .await
    }

    /// The first account token of a new password login of `shopper`, under a new Shopper bearer
    /// token.
    pub async fn first_account_token(&self, shopper: &Shopper) -> String {
        let implicit = self.implicit_token().await;
        account_tokens(self, &implicit, shopper)
            .await
            .into_iter()
            .map(|(_, token)| token)
            .next()
            .expect("the member belongs to an account")
    }
}

/// The decoded header and claims of a JWT, without checking anything.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let decode = |part: Option<&str>| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.expect("a JWT part"))
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    };
    let header = decode(parts.next());
    let claims = decode(parts.next());
    (header, claims)
}

/// The audit event of a change a test makes through the store directly, as the system.
pub fn by_test() -> accountd::store::NewAuditEvent {
    accountd::store::NewAuditEvent::new("test.write", accountd::store::Actor::SYSTEM)
}

/// The secret key the tests give their integrations.
pub const WEBHOOK_SECRET: &str = "a-webhook-secret-of-some-length";

impl TestApp {
    /// An integration sending `observes` to `url`, signed with [`WEBHOOK_SECRET`].
    pub async fn create_integration(&self, admin: &str, url: &str, observes: &[&str]) -> Value {
        let reply = self
            .post("/v2/integrations")
            .bearer(admin)
            .json(json!({"data": {
                "type": "integration",
                "name": "Test receiver",
                "observes": observes,
                "configuration": {"url": url, "secret_key": WEBHOOK_SECRET},
            }}))
            .send()
            .await;
        reply.expect(201)["data"].clone()
    }

    /// Turns settings of the account authentication settings on or off.
    pub async fn set_auth_settings(&self, admin: &str, settings: Value) {
        let mut body = settings;
        body["type"] = json!("account_authentication_settings");
        self.put("/v2/settings/account-authentication")
            .bearer(admin)
            .json(json!({ "data": body }))
            .send()
            .await
            .expect(200);
    }

    /// A second application on this app's database: another replica, or this server after a
    /// restart. It has a clock of its own.
    pub async fn another_replica(&self) -> TestApp {
        spawn_app(self.config_like_this()).await
    }

    /// [`test_config`] for this app's database, signing tokens as this app does.
    pub fn config_like_this(&self) -> Config {
        let mut config = test_config(&self.database_url);
        config.jwt_algorithm = self.state.config.jwt_algorithm;
        config
    }

    /// The audit events of one type, newest first (at most 100).
    pub async fn audit_events(&self, admin: &str, event_type: &str) -> Vec<Value> {
        let body = self
            .get(&format!(
                "/v2/audit-events?page[limit]=100&filter=eq(event_type,{event_type})"
            ))
            .bearer(admin)
            .send()
            .await
            .expect(200);
        body["data"].as_array().cloned().unwrap_or_default()
    }

    /// Every event in the outbox as (id, key), in the order the changes were made: by commit
    /// time, then by position in their transaction.
    pub async fn outbox_events(&self) -> Vec<(Uuid, String)> {
        const SQL: &str =
            "SELECT id, event_key FROM outbox_events ORDER BY created_at, ordinal, id";
        match &mut *self.database().await {
            DirectConnection::Postgres(connection) => {
                sqlx::query_as::<_, (Uuid, String)>(SQL)
                    .fetch_all(connection)
                    .await
            }
            DirectConnection::Sqlite(connection) => {
                sqlx::query_as::<_, (Uuid, String)>(SQL)
                    .fetch_all(connection)
                    .await
            }
        }
        .unwrap()
    }

    /// Runs `sql` returning one integer against this app's database, for the few facts only
    /// the database shows (the outbox itself).
    pub async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match &mut *self.database().await {
            DirectConnection::Postgres(connection) => {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(connection)
                    .await
            }
            DirectConnection::Sqlite(connection) => {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(connection)
                    .await
            }
        }
        .unwrap()
    }

    /// This app's direct connection, opened the first time it is needed.
    async fn database(&self) -> tokio::sync::MutexGuard<'_, DirectConnection> {
        use sqlx::Connection;
        let url = &self.database_url;
        let connection = self
            .database
            .get_or_init(|| async {
                tokio::sync::Mutex::new(if url.starts_with("postgres") {
                    DirectConnection::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
                } else {
                    DirectConnection::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
                })
            })
            .await;
        connection.lock().await
    }

    /// Wakes this app's dispatcher now rather than at its next one-second poll: after the test
    /// moved the clock past a retry, the retry is attempted at once.
    pub fn wake_dispatcher(&self) {
        self.state.store.outbox_signal().notify_one();
    }

    /// Waits until this app's dispatcher has nothing left to do at the app's clock: no delivery
    /// is due and none is in flight (leased). What a receiver has got by then is all it gets
    /// until the clock moves, so a test can assert that nothing more arrives without waiting
    /// for it. The dispatcher is woken on every look instead of at its next one-second poll.
    pub async fn outbox_settled(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            self.wake_dispatcher();
            let now = self.clock_now().millis();
            let busy = self
                .count(&format!(
                    "SELECT COUNT(*) FROM outbox_deliveries WHERE status = 'pending' \
                     AND (next_attempt_at <= {now} OR lease_owner IS NOT NULL)"
                ))
                .await;
            if busy == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{busy} webhook deliveries still due or in flight"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
