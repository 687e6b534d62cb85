//! Secrets at rest: the JWT keys, OIDC client secrets and integration secret keys that accountd
//! must be able to read back are encrypted under `ACCOUNTD_MASTER_KEY` with XChaCha20-Poly1305
//! before they reach the database. Each value carries the id of the key that sealed it (so a
//! rewrap knows what it holds) and is bound to its place — table, column and row — as associated
//! data, so a value copied into another row or column no longer opens. Values are bytes: what a
//! column holds (text or key material) is the store's business.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use super::secret::random_bytes;
use crate::store::{Rewrapped, Store, StoreError};

/// A master key is 32 bytes.
pub const MASTER_KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
/// Domain separation for key ids, so an id says nothing about any other use of the key.
const KEY_ID_CONTEXT: &[u8] = b"accountd master key id v1\0";

/// A master key and its id (the first 16 hex digits of a SHA-256 of it, which names the key
/// without revealing it). `Debug` shows only the id.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Why a master key setting was refused; the message never repeats the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {MASTER_KEY_BYTES} bytes in standard or URL-safe base64 (padding optional)")]
pub struct MasterKeyFormatError;

impl MasterKey {
    /// 32 bytes in standard or URL-safe base64, with or without padding.
    pub fn parse(text: &str) -> Result<Self, MasterKeyFormatError> {
        let trimmed = text.trim().trim_end_matches('=');
        let bytes = STANDARD_NO_PAD
            .decode(trimmed)
            .or_else(|_| URL_SAFE_NO_PAD.decode(trimmed))
            .map_err(|_| MasterKeyFormatError)?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyFormatError> {
        if bytes.len() != MASTER_KEY_BYTES {
            return Err(MasterKeyFormatError);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(bytes).map_err(|_| MasterKeyFormatError)?;
        let mut digest = Sha256::new();
        digest.update(KEY_ID_CONTEXT);
        digest.update(bytes);
        let id = hex::encode(&digest.finalize()[..8]);
        Ok(Self { cipher, id })
    }

    /// A new random key, base64-encoded as `ACCOUNTD_MASTER_KEY` takes it.
    pub fn generate_text() -> String {
        base64::engine::general_purpose::STANDARD.encode(random_bytes::<MASTER_KEY_BYTES>())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plaintext: &[u8], place: &Place<'_>) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_BYTES>();
        let aad = place.associated_data();
        // Encryption fails only for messages near 256 GiB; secrets are a few hundred bytes.
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    fn open(&self, sealed: &[u8], place: &Place<'_>) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_BYTES {
            return Err(SealError::Damaged(place.describe()));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| SealError::Damaged(place.describe()))?;
        let aad = place.associated_data();
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Damaged(place.describe()))
    }
}

/// Where a secret lives: its table, its column and its row's key. Sealing binds a value to it.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub table: &'static str,
    pub column: &'static str,
    pub row: &'a str,
}

impl Place<'_> {
    fn associated_data(&self) -> Vec<u8> {
        // NUL cannot occur in the table and column names, and ends the row key unambiguously.
        format!("accountd\0{}\0{}\0{}", self.table, self.column, self.row).into_bytes()
    }

    fn describe(&self) -> String {
        format!("{}.{} of {}", self.table, self.column, self.row)
    }
}

/// A value as the database keeps it: the bytes and the id of the key that sealed them, or no id
/// for plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub sealed_with: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error(
        "a secret in the database is encrypted with master key {0}, which is not configured: set \
         ACCOUNTD_MASTER_KEY (or, during a key change, ACCOUNTD_MASTER_KEY_PREVIOUS) to that key"
    )]
    UnknownKey(String),
    #[error("the encrypted secret in {0} does not open: it was altered or moved from another row")]
    Damaged(String),
}

/// The master keys of this process: `current` seals every value written; `previous` (during a
/// key change) only opens values sealed before it. Without a current key values are written as
/// plain text.
#[derive(Debug, Clone, Default)]
pub struct Sealer {
    current: Option<MasterKey>,
    previous: Option<MasterKey>,
}

impl Sealer {
    pub fn new(current: Option<MasterKey>, previous: Option<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// No master key: every value is written and read as plain text.
    pub fn plain_text() -> Self {
        Self::default()
    }

    pub fn current_key_id(&self) -> Option<&str> {
        self.current.as_ref().map(MasterKey::id)
    }

    /// Whether values sealed with key `id` can be opened here.
    pub fn can_open(&self, id: &str) -> bool {
        self.key(id).is_some()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        [self.current.as_ref(), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id() == id)
    }

    /// The value to store at `place`: sealed under the current key, or plain text without one.
    pub fn seal(&self, plaintext: &[u8], place: &Place<'_>) -> Stored {
        match &self.current {
            Some(key) => Stored {
                bytes: key.seal(plaintext, place),
                sealed_with: Some(key.id().to_owned()),
            },
            None => Stored {
                bytes: plaintext.to_vec(),
                sealed_with: None,
            },
        }
    }

    /// The plain text of a stored value.
    pub fn open(&self, stored: &Stored, place: &Place<'_>) -> Result<Vec<u8>, SealError> {
        match &stored.sealed_with {
            None => Ok(stored.bytes.clone()),
            Some(id) => self
                .key(id)
                .ok_or_else(|| SealError::UnknownKey(id.clone()))?
                .open(&stored.bytes, place),
        }
    }

    /// The value sealed anew under the current key, or `None` when it already is (or there is
    /// no current key to seal with).
    pub fn reseal(&self, stored: &Stored, place: &Place<'_>) -> Result<Option<Stored>, SealError> {
        let Some(current) = self.current_key_id() else {
            return Ok(None);
        };
        if stored.sealed_with.as_deref() == Some(current) {
            // Opened anyway, so a damaged value is reported rather than carried along.
            self.open(stored, place)?;
            return Ok(None);
        }
        let plaintext = self.open(stored, place)?;
        Ok(Some(self.seal(&plaintext, place)))
    }
}

/// Why the secrets at rest stop a start or a rewrap.
#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the database holds secrets encrypted with master key {key_id}, but ACCOUNTD_MASTER_KEY \
         is not set: set it to that key"
    )]
    NoMasterKey { key_id: String },
    #[error(
        "the database holds secrets encrypted with master key {key_id}, which is neither \
         ACCOUNTD_MASTER_KEY ({current}) nor ACCOUNTD_MASTER_KEY_PREVIOUS: set the key that \
         sealed them"
    )]
    UnknownMasterKey { key_id: String, current: String },
    #[error("accountd keys rewrap needs ACCOUNTD_MASTER_KEY: the key to encrypt under")]
    RewrapWithoutKey,
}

/// Checks, before serving, that every stored secret can be opened with this process's keys (a
/// secret that cannot be opened would fail requests later, one by one). Without a master key it
/// logs the one warning that secrets are stored in plain text; with one, it says how many
/// plain-text secrets `accountd keys rewrap` would encrypt.
pub async fn check_at_start(store: &dyn Store, sealer: &Sealer) -> Result<(), AtRestError> {
    let inventory = store.sealed_secrets().await?;
    if let Some(key_id) = inventory
        .key_ids
        .iter()
        .find(|key_id| !sealer.can_open(key_id))
    {
        return Err(match sealer.current_key_id() {
            None => AtRestError::NoMasterKey {
                key_id: key_id.clone(),
            },
            Some(current) => AtRestError::UnknownMasterKey {
                key_id: key_id.clone(),
                current: current.to_owned(),
            },
        });
    }
    match sealer.current_key_id() {
        None => tracing::warn!(
            "ACCOUNTD_MASTER_KEY is not set: JWT keys, OIDC client secrets and integration \
             secret keys are stored in plain text"
        ),
        Some(current) if inventory.plain_text > 0 => tracing::warn!(
            master_key = current,
            plain_text = inventory.plain_text,
            "some secrets are still stored in plain text: `accountd keys rewrap` encrypts them"
        ),
        Some(_) => {}
    }
    Ok(())
}

/// `accountd keys rewrap`: every secret sealed under the current master key, in one
/// transaction.
pub async fn rewrap(store: &dyn Store, sealer: &Sealer) -> Result<Rewrapped, AtRestError> {
    if sealer.current_key_id().is_none() {
        return Err(AtRestError::RewrapWithoutKey);
    }
    let inventory = store.sealed_secrets().await?;
    if let Some(key_id) = inventory
        .key_ids
        .iter()
        .find(|key_id| !sealer.can_open(key_id))
    {
        return Err(AtRestError::UnknownMasterKey {
            key_id: key_id.clone(),
            current: sealer.current_key_id().unwrap_or_default().to_owned(),
        });
    }
    Ok(store.rewrap_secrets().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACE: Place<'static> = Place {
        table: "integrations",
        column: "secret_key",
        row: "8c7f7d3e-0000-4000-8000-000000000001",
    };

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn master_keys_take_either_base64_alphabet_with_or_without_padding() {
        let bytes: Vec<u8> = (0..32).map(|n| n * 8 + 3).collect();
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
        assert_ne!(
            standard, url_safe,
            "the bytes must need the alphabets' differences"
        );
        let expected = MasterKey::from_bytes(&bytes).unwrap();
        for text in [
            standard.clone(),
            standard.trim_end_matches('=').to_owned(),
            url_safe.clone(),
            url_safe.trim_end_matches('=').to_owned(),
            format!(" {standard}\n"),
        ] {
            assert_eq!(
                MasterKey::parse(&text).unwrap().id(),
                expected.id(),
                "{text}"
            );
        }
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 31]);
        for bad in [short.as_str(), "not base64!", ""] {
            assert_eq!(MasterKey::parse(bad).unwrap_err(), MasterKeyFormatError);
        }
        assert!(MasterKey::parse(&MasterKey::generate_text()).is_ok());
    }

    #[test]
    fn debug_shows_the_key_id_only() {
        let shown = format!("{:?}", key(7));
        assert_eq!(shown, format!("MasterKey({})", key(7).id()));
        assert_eq!(key(7).id().len(), 16);
        assert_ne!(key(7).id(), key(8).id());
    }

    #[test]
    fn a_sealed_value_opens_only_in_its_own_place() {
        let sealer = Sealer::new(Some(key(1)), None);
        let stored = sealer.seal(b"the secret", &PLACE);
        assert_eq!(stored.sealed_with.as_deref(), Some(key(1).id()));
        assert!(
            !stored
                .bytes
                .windows(b"the secret".len())
                .any(|window| window == b"the secret")
        );
        assert_eq!(sealer.open(&stored, &PLACE).unwrap(), b"the secret");
        // Two seals of one value differ (random nonces).
        assert_ne!(sealer.seal(b"the secret", &PLACE).bytes, stored.bytes);

        for elsewhere in [
            Place {
                row: "8c7f7d3e-0000-4000-8000-000000000002",
                ..PLACE
            },
            Place {
                column: "url",
                ..PLACE
            },
            Place {
                table: "oidc_profiles",
                ..PLACE
            },
        ] {
            assert!(matches!(
                sealer.open(&stored, &elsewhere),
                Err(SealError::Damaged(_))
            ));
        }
        let mut altered = stored.clone();
        if let Some(last) = altered.bytes.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(
            sealer.open(&altered, &PLACE),
            Err(SealError::Damaged(_))
        ));
    }

    #[test]
    fn without_a_key_values_stay_plain_and_sealed_ones_name_their_key() {
        let plain = Sealer::plain_text();
        let stored = plain.seal(b"visible", &PLACE);
        assert_eq!(
            stored,
            Stored {
                bytes: b"visible".to_vec(),
                sealed_with: None
            }
        );
        let sealed = Sealer::new(Some(key(1)), None).seal(b"hidden", &PLACE);
        assert_eq!(
            plain.open(&sealed, &PLACE),
            Err(SealError::UnknownKey(key(1).id().to_owned()))
        );
        assert_eq!(
            Sealer::new(Some(key(2)), None).open(&sealed, &PLACE),
            Err(SealError::UnknownKey(key(1).id().to_owned()))
        );
    }

    #[test]
    fn reseal_moves_values_to_the_current_key() {
        let old = Sealer::new(Some(key(1)), None);
        let sealed_by_old = old.seal(b"rotate me", &PLACE);
        let plain = Sealer::plain_text().seal(b"encrypt me", &PLACE);
        let changing = Sealer::new(Some(key(2)), Some(key(1)));

        let moved = changing.reseal(&sealed_by_old, &PLACE).unwrap().unwrap();
        assert_eq!(moved.sealed_with.as_deref(), Some(key(2).id()));
        let new_only = Sealer::new(Some(key(2)), None);
        assert_eq!(new_only.open(&moved, &PLACE).unwrap(), b"rotate me");

        let encrypted = changing.reseal(&plain, &PLACE).unwrap().unwrap();
        assert_eq!(new_only.open(&encrypted, &PLACE).unwrap(), b"encrypt me");

        assert_eq!(changing.reseal(&moved, &PLACE).unwrap(), None);
        assert_eq!(
            new_only.reseal(&sealed_by_old, &PLACE),
            Err(SealError::UnknownKey(key(1).id().to_owned()))
        );
        assert_eq!(Sealer::plain_text().reseal(&plain, &PLACE).unwrap(), None);
    }
}
