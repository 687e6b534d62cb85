//! Handing a generated bootstrap application key to the operator, once. With text logs it is
//! printed on standard output, terminal or not, as the README shows. With JSON logs and standard
//! output not a terminal, standard output usually feeds a log collector, where a secret must
//! not go: the key is written to a file readable by its owner only, and only the file's path is
//! logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::LogFormat;

pub const KEY_FILE_NAME: &str = "accountd-bootstrap-key.env";

/// Where the key went.
#[derive(Debug, PartialEq, Eq)]
pub enum Handover {
    Printed,
    Written(PathBuf),
}

/// Shows the key on `out`, or writes it next to the data (see [`key_file_folder`]).
pub fn hand_over(
    client_id: &str,
    secret: &str,
    format: LogFormat,
    stdout_is_terminal: bool,
    database_url: &str,
    out: &mut dyn Write,
) -> std::io::Result<Handover> {
    match format {
        LogFormat::Text => {
            writeln!(
                out,
                "\nA bootstrap application key was generated. It is shown only this once:\n\n    \
                 ACCOUNTD_CLIENT_ID={client_id}\n    ACCOUNTD_CLIENT_SECRET={secret}\n"
            )?;
            Ok(Handover::Printed)
        }
        LogFormat::Json if stdout_is_terminal => {
            let line = serde_json::json!({"generated_application_key": {"client_id": client_id, "client_secret": secret}});
            writeln!(out, "{line}")?;
            Ok(Handover::Printed)
        }
        LogFormat::Json => {
            let folder = key_file_folder(database_url);
            write_key_file(&folder, client_id, secret).map(Handover::Written)
        }
    }
}

/// The SQLite database's folder, where the secrets already are; `./data` otherwise (PostgreSQL,
/// or an in-memory SQLite database).
pub fn key_file_folder(database_url: &str) -> PathBuf {
    let in_memory = database_url.contains(":memory:") || database_url.contains("mode=memory");
    if database_url.starts_with("sqlite:") && !in_memory {
        let file = database_url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .map(|options| options.get_filename().to_path_buf());
        if let Ok(file) = file {
            let folder = file.parent().unwrap_or_else(|| Path::new(""));
            return if folder.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                folder.to_path_buf()
            };
        }
    }
    PathBuf::from("data")
}

/// Replaces any earlier key file: only the newest generated key can be valid.
fn write_key_file(folder: &Path, client_id: &str, secret: &str) -> std::io::Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)?;
    let path = std::path::absolute(folder.join(KEY_FILE_NAME))?;
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    write!(
        file,
        "# The bootstrap application key accountd generated. Keep it in a secret store and delete\n\
         # this file; accountd keeps only the secret's hash.\n\
         ACCOUNTD_CLIENT_ID={client_id}\nACCOUNTD_CLIENT_SECRET={secret}\n"
    )?;
    file.sync_all()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_goes_beside_the_sqlite_database_or_into_data() {
        assert_eq!(
            key_file_folder("sqlite:///var/lib/accountd/data/accountd.db?mode=rwc"),
            PathBuf::from("/var/lib/accountd/data")
        );
        assert_eq!(
            key_file_folder("sqlite://data/accountd.db?mode=rwc"),
            PathBuf::from("data")
        );
        assert_eq!(key_file_folder("sqlite://accountd.db"), PathBuf::from("."));
        assert_eq!(key_file_folder("sqlite::memory:"), PathBuf::from("data"));
        assert_eq!(
            key_file_folder("postgres://accountd@db/accountd"),
            PathBuf::from("data")
        );
    }

    #[test]
    fn json_logs_without_a_terminal_write_an_owner_only_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/accountd.db?mode=rwc", dir.path().display());
        let mut out = Vec::new();
        let handover =
            hand_over("id-1", "secret-1", LogFormat::Json, false, &url, &mut out).unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        assert_eq!(handover, Handover::Written(path.clone()));
        assert!(out.is_empty(), "nothing on standard output");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\nACCOUNTD_CLIENT_ID=id-1\nACCOUNTD_CLIENT_SECRET=secret-1\n"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A later generated key replaces the file.
        hand_over("id-2", "secret-2", LogFormat::Json, false, &url, &mut out).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("id-2"));
    }

    #[test]
    fn text_logs_print_the_key() {
        let mut out = Vec::new();
        let handover = hand_over(
            "id-1",
            "secret-1",
            LogFormat::Text,
            false,
            "sqlite::memory:",
            &mut out,
        )
        .unwrap();
        assert_eq!(handover, Handover::Printed);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("ACCOUNTD_CLIENT_SECRET=secret-1"), "{text}");
    }
}
