//! The development `.env` file: applied whole or not at all. A line that cannot be parsed stops
//! the start with its line number; applying the lines before it and ignoring the rest would
//! start a server with half of its configuration.

use std::path::Path;

/// A `.env` that cannot be used. The message never quotes the file: a malformed line may hold a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error(
        "{file} line {line} cannot be parsed (at character {column}); nothing from it was applied"
    )]
    Syntax {
        file: String,
        line: usize,
        column: usize,
    },
}

/// Sets the variables of `path` that the environment does not already set (the environment
/// wins); a missing file is not an error.
pub fn load(path: &Path) -> Result<(), EnvFileError> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(EnvFileError::Read { file, source }),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    check(&file, text)?;
    dotenvy::from_read(text.as_bytes()).map_err(|error| syntax_error(&file, text, error))
}

/// Parses the whole file without applying anything.
fn check(file: &str, text: &str) -> Result<(), EnvFileError> {
    for entry in dotenvy::from_read_iter(text.as_bytes()) {
        entry.map_err(|error| syntax_error(file, text, error))?;
    }
    Ok(())
}

fn syntax_error(file: &str, text: &str, error: dotenvy::Error) -> EnvFileError {
    match error {
        dotenvy::Error::LineParse(statement, column) => EnvFileError::Syntax {
            file: file.to_owned(),
            line: line_of(text, &statement),
            column: column + 1,
        },
        dotenvy::Error::Io(source) => EnvFileError::Read {
            file: file.to_owned(),
            source,
        },
        other => EnvFileError::Read {
            file: file.to_owned(),
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The 1-based number of the first line where `statement` (one logical line, perhaps spanning
/// several when a quote is left open) starts. dotenvy reports the statement, not its position.
fn line_of(text: &str, statement: &str) -> usize {
    let mut start = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if text[start..].starts_with(statement) {
            return index + 1;
        }
        start += line.len();
    }
    text.lines().count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Option<usize> {
        match check(".env", text) {
            Ok(()) => None,
            Err(EnvFileError::Syntax { line, .. }) => Some(line),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn a_malformed_line_is_reported_by_its_number() {
        assert_eq!(line("A=1\n# a comment\n\nB=2\n"), None);
        assert_eq!(line("A=1\n# a comment\n\nNOT A VARIABLE\nB=2\n"), Some(4));
        assert_eq!(line("A=1\nB='never closed\nC=3\n"), Some(2));
    }

    #[test]
    fn the_message_does_not_quote_the_line() {
        let error = check(".env", "A=1\nsecret-looking line hunter2\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
