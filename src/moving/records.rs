//! The lines of an import or export file (docs/moving-in.md#the-file-format): read and checked
//! one at a time, as the admin API checks the same fields, and written back the same way.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::hash_formats::{FirebaseScrypt, StoredHash};
use crate::http::validation::is_valid_email;
use crate::store::{ImportKind, ImportLogin, NO_PASSWORD};

/// Text fields are at most this many characters, as in the API.
const MAX_TEXT: usize = 255;

/// One line as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Account(AccountLine),
    AccountMember(MemberLine),
    AccountMembership(MembershipLine),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLine {
    pub external_ref: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_id: Option<String>,
    #[serde(default)]
    pub parent_external_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberLine {
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_profile_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipLine {
    pub account_external_ref: String,
    pub member_email: String,
}

/// What a line's checks need to know about this import.
pub struct LineRules<'a> {
    /// `--password-profile`: overrides any profile in the file.
    pub forced_profile: Option<Uuid>,
    /// The realm's only password profile, used when neither the option nor the line names one.
    pub only_profile: Option<Uuid>,
    pub firebase: Option<&'a FirebaseScrypt>,
}

/// A JSON line read into a record, or the reason it is refused.
pub fn parse_json_line(text: &str, rules: &LineRules<'_>) -> Result<ImportKind, String> {
    let line: Line = serde_json::from_str(text).map_err(|error| {
        // serde names the field or the type; its position ("at line 1 column 9") is within
        // the one line, which would read as the file's line number, so it is left out.
        let message = error.to_string();
        let message = message
            .rfind(" at line ")
            .map_or(message.as_str(), |position| &message[..position]);
        format!("not a record: {message}")
    })?;
    check(line, rules)
}

/// Checks a line as the admin API checks the same fields, and settles the member's login.
pub fn check(line: Line, rules: &LineRules<'_>) -> Result<ImportKind, String> {
    match line {
        Line::Account(account) => {
            let external_ref = required_text("external_ref", account.external_ref)?;
            let name = required_text("name", account.name)?;
            Ok(ImportKind::Account {
                external_ref,
                name,
                legal_name: optional_text("legal_name", account.legal_name)?,
                registration_id: optional_text("registration_id", account.registration_id)?,
                parent_external_ref: optional_text(
                    "parent_external_ref",
                    account.parent_external_ref,
                )?,
            })
        }
        Line::AccountMember(member) => {
            let email = email("email", member.email)?;
            let name = required_text("name", member.name)?;
            let username = optional_text("username", member.username)?;
            let password_hash = match member.password_hash {
                None => None,
                Some(hash) => {
                    let verifiable = StoredHash::parse(&hash)
                        .is_some_and(|stored| stored.is_verifiable(rules.firebase));
                    if !verifiable {
                        return Err("password_hash is not in a format accountd verifies".into());
                    }
                    Some(hash)
                }
            };
            // A hash needs a username to log in with; the email is the usual one.
            let username = match (username, &password_hash) {
                (Some(username), _) => Some(username),
                (None, Some(_)) => Some(email.clone()),
                (None, None) => None,
            };
            let login = match username {
                None => None,
                Some(username) => {
                    let password_profile_id = rules
                        .forced_profile
                        .or(member.password_profile_id)
                        .or(rules.only_profile)
                        .ok_or(
                            "no password profile: name one with --password-profile or \
                             password_profile_id",
                        )?;
                    Some(ImportLogin {
                        password_profile_id,
                        username,
                        password_hash: password_hash.unwrap_or_else(|| NO_PASSWORD.to_owned()),
                    })
                }
            };
            Ok(ImportKind::Member { email, name, login })
        }
        Line::AccountMembership(membership) => Ok(ImportKind::Membership {
            account_external_ref: required_text(
                "account_external_ref",
                membership.account_external_ref,
            )?,
            member_email: email("member_email", membership.member_email)?,
        }),
    }
}

fn required_text(field: &str, value: String) -> Result<String, String> {
    let length = value.chars().count();
    if length == 0 || length > MAX_TEXT || value.contains('\0') {
        return Err(format!("{field} must be 1 to {MAX_TEXT} characters"));
    }
    Ok(value)
}

fn optional_text(field: &str, value: Option<String>) -> Result<Option<String>, String> {
    value.map(|value| required_text(field, value)).transpose()
}

fn email(field: &str, value: String) -> Result<String, String> {
    let value = required_text(field, value)?;
    if !is_valid_email(&value) {
        return Err(format!("{field} is not an email address"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> LineRules<'static> {
        LineRules {
            forced_profile: None,
            only_profile: Some(Uuid::nil()),
            firebase: None,
        }
    }

    #[test]
    fn the_issues_example_lines_read() {
        let account = parse_json_line(
            r#"{"type":"account","external_ref":"A1","name":"Acme","legal_name":"Acme Ltd","parent_external_ref":null}"#,
            &rules(),
        )
        .unwrap();
        assert!(
            matches!(account, ImportKind::Account { ref external_ref, .. } if external_ref == "A1")
        );
        let member = parse_json_line(
            r#"{"type":"account_member","email":"ron@example.com","name":"Ron","username":"ron@example.com","password_hash":"$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"}"#,
            &rules(),
        )
        .unwrap();
        let ImportKind::Member {
            login: Some(login), ..
        } = member
        else {
            panic!("{member:?}");
        };
        assert_eq!(login.username, "ron@example.com");
        assert!(login.password_hash.starts_with("$2b$12$"));
        let membership = parse_json_line(
            r#"{"type":"account_membership","account_external_ref":"A1","member_email":"ron@example.com"}"#,
            &rules(),
        )
        .unwrap();
        assert!(matches!(membership, ImportKind::Membership { .. }));
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, reason) in [
            ("{", "not a record"),
            (r#"{"type":"robot"}"#, "not a record"),
            (r#"{"type":"account","name":"x"}"#, "not a record"),
            (
                r#"{"type":"account","external_ref":"A","name":"x","colour":"red"}"#,
                "not a record",
            ),
            (
                r#"{"type":"account","external_ref":"","name":"x"}"#,
                "external_ref must be",
            ),
            (
                r#"{"type":"account_member","email":"nope","name":"x"}"#,
                "email is not an email address",
            ),
            (
                r#"{"type":"account_member","email":"a@b.com","name":"x","password_hash":"md5$x"}"#,
                "password_hash is not in a format",
            ),
        ] {
            let error = parse_json_line(line, &rules()).unwrap_err();
            assert!(error.starts_with(reason), "{line}: {error}");
        }
        let no_profile = LineRules {
            forced_profile: None,
            only_profile: None,
            firebase: None,
        };
        let error = parse_json_line(
            r#"{"type":"account_member","email":"a@b.com","name":"x","username":"a"}"#,
            &no_profile,
        )
        .unwrap_err();
        assert!(error.starts_with("no password profile"), "{error}");
    }
}
