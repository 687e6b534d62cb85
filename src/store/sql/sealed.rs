//! Secrets at rest in the tables: the JWT keys (`jwt_keys.secret`, bytes), integration secret
//! keys (`integrations.secret_key`) and OIDC client secrets (`oidc_profiles.client_secret`, text
//! columns that hold base64 once sealed). Beside each, a `…_sealed_with` column names the master
//! key that sealed it, or is NULL for plain text. The store functions that read and write those
//! columns go through the helpers here; the inventory and the rewrap treat them as a whole.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use super::{Db, FOR_UPDATE, SqlStore, Tx};
use crate::auth::sealing::{Place, Sealer, Stored};
use crate::store::{Rewrapped, SealedSecretStore, SealedSecrets, StoreError, StoreResult};

/// A column that holds a secret, and the column beside it naming the key that sealed it.
#[derive(Debug, Clone, Copy)]
pub(super) struct SecretColumn {
    table: &'static str,
    column: &'static str,
    sealed_with: &'static str,
}

impl SecretColumn {
    fn at(self, row: &str) -> Place<'_> {
        Place {
            table: self.table,
            column: self.column,
            row,
        }
    }
}

pub(super) const JWT_KEY_SECRET: SecretColumn = SecretColumn {
    table: "jwt_keys",
    column: "secret",
    sealed_with: "secret_sealed_with",
};
pub(super) const INTEGRATION_SECRET_KEY: SecretColumn = SecretColumn {
    table: "integrations",
    column: "secret_key",
    sealed_with: "secret_key_sealed_with",
};
pub(super) const OIDC_CLIENT_SECRET: SecretColumn = SecretColumn {
    table: "oidc_profiles",
    column: "client_secret",
    sealed_with: "client_secret_sealed_with",
};

/// The text columns, keyed by a UUID `id`.
const TEXT_COLUMNS: [SecretColumn; 2] = [INTEGRATION_SECRET_KEY, OIDC_CLIENT_SECRET];

impl SqlStore {
    /// The value and key id to write for a text secret of row `id`.
    pub(super) fn seal_text(
        &self,
        column: SecretColumn,
        id: Uuid,
        plaintext: &str,
    ) -> (String, Option<String>) {
        text_form(seal(
            &self.sealer,
            column,
            &id.to_string(),
            plaintext.as_bytes(),
        ))
    }

    /// The plain text of a text secret of row `id` as read.
    pub(super) fn open_text(
        &self,
        column: SecretColumn,
        id: Uuid,
        value: String,
        sealed_with: Option<String>,
    ) -> StoreResult<String> {
        open_text(&self.sealer, column, &id.to_string(), value, sealed_with)
    }

    /// The bytes and key id to write for the secret of JWT key `kid`.
    pub(super) fn seal_jwt_secret(&self, kid: &str, secret: &[u8]) -> Stored {
        seal(&self.sealer, JWT_KEY_SECRET, kid, secret)
    }

    /// The secret of JWT key `kid` as read.
    pub(super) fn open_jwt_secret(
        &self,
        kid: &str,
        bytes: Vec<u8>,
        sealed_with: Option<String>,
    ) -> StoreResult<Vec<u8>> {
        let stored = Stored { bytes, sealed_with };
        Ok(self.sealer.open(&stored, &JWT_KEY_SECRET.at(kid))?)
    }
}

fn seal(sealer: &Sealer, column: SecretColumn, row: &str, plaintext: &[u8]) -> Stored {
    sealer.seal(plaintext, &column.at(row))
}

/// Sealed bytes as base64 in a text column; plain text as it is.
fn text_form(stored: Stored) -> (String, Option<String>) {
    match stored.sealed_with {
        Some(id) => (STANDARD.encode(&stored.bytes), Some(id)),
        None => (String::from_utf8_lossy(&stored.bytes).into_owned(), None),
    }
}

fn open_text(
    sealer: &Sealer,
    column: SecretColumn,
    row: &str,
    value: String,
    sealed_with: Option<String>,
) -> StoreResult<String> {
    let Some(key_id) = sealed_with else {
        return Ok(value);
    };
    let bytes = STANDARD
        .decode(value.as_bytes())
        .map_err(|_| StoreError::Corrupt(column.table))?;
    let stored = Stored {
        bytes,
        sealed_with: Some(key_id),
    };
    let plaintext = sealer.open(&stored, &column.at(row))?;
    String::from_utf8(plaintext).map_err(|_| StoreError::Corrupt(column.table))
}

#[async_trait]
impl SealedSecretStore for SqlStore {
    async fn sealed_secrets(&self) -> StoreResult<SealedSecrets> {
        let key_ids = sqlx::query_scalar::<Db, String>(
            "SELECT secret_sealed_with FROM jwt_keys WHERE secret_sealed_with IS NOT NULL \
             UNION SELECT secret_key_sealed_with FROM integrations \
                   WHERE secret_key_sealed_with IS NOT NULL \
             UNION SELECT client_secret_sealed_with FROM oidc_profiles \
                   WHERE client_secret_sealed_with IS NOT NULL",
        )
        .fetch_all(&self.read)
        .await?;
        let plain_text = sqlx::query_scalar::<Db, i64>(
            "SELECT (SELECT COUNT(*) FROM jwt_keys WHERE secret_sealed_with IS NULL) \
             + (SELECT COUNT(*) FROM integrations WHERE secret_key_sealed_with IS NULL) \
             + (SELECT COUNT(*) FROM oidc_profiles WHERE client_secret_sealed_with IS NULL)",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(SealedSecrets {
            key_ids,
            plain_text: u64::try_from(plain_text).unwrap_or(0),
        })
    }

    async fn rewrap_secrets(&self) -> StoreResult<Rewrapped> {
        let mut tally = Rewrapped::default();
        let mut tx = self.begin().await?;
        rewrap_jwt_keys(&mut tx, &self.sealer, &mut tally).await?;
        for column in TEXT_COLUMNS {
            rewrap_text_column(&mut tx, &self.sealer, column, &mut tally).await?;
        }
        tx.commit().await?;
        Ok(tally)
    }
}

fn count(tally: &mut Rewrapped, before: &Stored) {
    if before.sealed_with.is_some() {
        tally.resealed += 1;
    } else {
        tally.sealed += 1;
    }
}

async fn rewrap_jwt_keys(tx: &mut Tx, sealer: &Sealer, tally: &mut Rewrapped) -> StoreResult<()> {
    let sql = format!("SELECT kid, secret, secret_sealed_with FROM jwt_keys{FOR_UPDATE}");
    let rows = sqlx::query_as::<Db, (String, Vec<u8>, Option<String>)>(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut **tx)
        .await?;
    for (kid, bytes, sealed_with) in rows {
        let before = Stored { bytes, sealed_with };
        let Some(after) = sealer.reseal(&before, &JWT_KEY_SECRET.at(&kid))? else {
            tally.unchanged += 1;
            continue;
        };
        sqlx::query("UPDATE jwt_keys SET secret = $2, secret_sealed_with = $3 WHERE kid = $1")
            .bind(&kid)
            .bind(&after.bytes)
            .bind(&after.sealed_with)
            .execute(&mut **tx)
            .await?;
        count(tally, &before);
    }
    Ok(())
}

async fn rewrap_text_column(
    tx: &mut Tx,
    sealer: &Sealer,
    column: SecretColumn,
    tally: &mut Rewrapped,
) -> StoreResult<()> {
    let SecretColumn {
        table,
        column: value_column,
        sealed_with: key_column,
    } = column;
    let sql = format!("SELECT id, {value_column}, {key_column} FROM {table}{FOR_UPDATE}");
    let rows = sqlx::query_as::<Db, (Uuid, String, Option<String>)>(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut **tx)
        .await?;
    for (id, value, sealed_with) in rows {
        let row = id.to_string();
        let before = match &sealed_with {
            Some(_) => Stored {
                bytes: STANDARD
                    .decode(value.as_bytes())
                    .map_err(|_| StoreError::Corrupt(table))?,
                sealed_with,
            },
            None => Stored {
                bytes: value.into_bytes(),
                sealed_with: None,
            },
        };
        let Some(after) = sealer.reseal(&before, &column.at(&row))? else {
            tally.unchanged += 1;
            continue;
        };
        let (text, key_id) = text_form(after);
        let update =
            format!("UPDATE {table} SET {value_column} = $2, {key_column} = $3 WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(update))
            .bind(id)
            .bind(text)
            .bind(key_id)
            .execute(&mut **tx)
            .await?;
        count(tally, &before);
    }
    Ok(())
}
