//! Console sessions (docs/console.md#sessions), held in this process's memory: a restart signs
//! everyone out, and behind a load balancer a browser must keep reaching the replica that signed
//! it in. A session is created by the sign-in page, so its form has a CSRF token before anyone
//! has signed in; signing in replaces it with a new id and a new token, and it ends when its
//! bearer token expires, at sign-out, or when the API refuses its bearer token.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::auth::secret::{Secret, constant_time_eq, random_bytes};
use crate::time::Timestamp;

/// The one cookie the console sets.
pub const COOKIE_NAME: &str = "accountd_console";
/// How long a session that never signed in lasts: long enough to fill in the sign-in form.
const SIGNED_OUT_LIFETIME_SECS: i64 = 60 * 60;
/// Sessions held at once. Anyone who can reach the sign-in page can create one, so the map is
/// bounded: past the bound the sessions nearest their end go first, signed-out ones before any
/// that signed in.
const MAX_SESSIONS: usize = 10_000;

/// 256 random bits, the value of the session cookie (64 hex digits).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId([u8; 32]);

impl SessionId {
    fn generate() -> Self {
        Self(random_bytes())
    }

    /// The id a cookie value names, if it has the shape of one.
    pub fn parse(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    pub fn cookie_value(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(***)")
    }
}

/// The token every console form carries in its `csrf_token` field: 256 random bits as 64 hex
/// digits, bound to one session.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    fn generate() -> Self {
        Self(hex::encode(random_bytes::<32>()))
    }

    /// What a form's hidden `csrf_token` field holds.
    pub fn form_value(&self) -> &str {
        &self.0
    }

    /// Whether a submitted token is this one, compared in constant time.
    pub fn matches(&self, submitted: &str) -> bool {
        constant_time_eq(submitted.as_bytes(), self.0.as_bytes())
    }
}

impl fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfToken(***)")
    }
}

/// What signing in obtained: an Admin bearer token and when it expires.
#[derive(Debug, Clone)]
pub struct AdminGrant {
    pub bearer: Secret,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: CsrfToken,
    /// `None` until the session signs in.
    pub admin: Option<AdminGrant>,
    expires_at: Timestamp,
}

impl Session {
    fn signed_out(now: Timestamp) -> Self {
        Self {
            csrf: CsrfToken::generate(),
            admin: None,
            expires_at: now.plus_seconds(SIGNED_OUT_LIFETIME_SECS),
        }
    }

    /// Which session goes first when the map is full: the signed-out ones, nearest their end
    /// first.
    fn eviction_order(&self) -> (bool, Timestamp) {
        (self.admin.is_some(), self.expires_at)
    }
}

/// Every live session of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<SessionId, Session>>,
}

impl Sessions {
    /// A new signed-out session.
    pub fn start(&self, now: Timestamp) -> (SessionId, Session) {
        self.insert(Session::signed_out(now), now)
    }

    /// The live session `id` names; one past its end is removed.
    pub fn find(&self, id: &SessionId, now: Timestamp) -> Option<Session> {
        let mut sessions = self.lock();
        match sessions.get(id) {
            Some(session) if session.expires_at > now => Some(session.clone()),
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `previous` and starts a signed-in one under a new id and a new CSRF token,
    /// so an id or token seen before sign-in is worth nothing after it. It lasts as long as its
    /// bearer token.
    pub fn sign_in(
        &self,
        previous: &SessionId,
        grant: AdminGrant,
        now: Timestamp,
    ) -> (SessionId, Session) {
        self.end(previous);
        let session = Session {
            csrf: CsrfToken::generate(),
            expires_at: grant.expires_at,
            admin: Some(grant),
        };
        self.insert(session, now)
    }

    pub fn end(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    /// How many sessions are held, ended ones not yet swept included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, session: Session, now: Timestamp) -> (SessionId, Session) {
        let id = SessionId::generate();
        let mut sessions = self.lock();
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, held| held.expires_at > now);
        }
        while sessions.len() >= MAX_SESSIONS {
            let Some(first) = sessions
                .iter()
                .min_by_key(|(_, held)| held.eviction_order())
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            sessions.remove(&first);
        }
        sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session>> {
        // A panic while the lock was held leaves the map consistent: every change is one call.
        self.by_id.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(expires_at: Timestamp) -> AdminGrant {
        AdminGrant {
            bearer: Secret::new("bearer"),
            expires_at,
        }
    }

    #[test]
    fn session_ids_round_trip_through_the_cookie_and_nothing_else_parses() {
        let id = SessionId::generate();
        let value = id.cookie_value();
        assert_eq!(value.len(), 64);
        assert_eq!(SessionId::parse(&value), Some(id.clone()));
        assert_ne!(SessionId::generate(), id);
        for bad in [
            "",
            "abc",
            &value[..63],
            &format!("{value}0"),
            &"g".repeat(64),
        ] {
            assert_eq!(SessionId::parse(bad), None, "{bad}");
        }
        assert_eq!(format!("{id:?}"), "SessionId(***)");
    }

    #[test]
    fn a_csrf_token_matches_only_itself() {
        let token = CsrfToken::generate();
        assert!(token.matches(token.form_value()));
        assert!(!token.matches(""));
        assert!(!token.matches(&token.form_value()[..63]));
        assert!(!token.matches(CsrfToken::generate().form_value()));
        assert_eq!(format!("{token:?}"), "CsrfToken(***)");
    }

    #[test]
    fn signing_in_replaces_the_session_and_it_ends_with_its_bearer_token() {
        let sessions = Sessions::default();
        let now = Timestamp::from_seconds(1_000);
        let (before, signed_out) = sessions.start(now);
        let expires = now.plus_seconds(3600);
        let (after, signed_in) = sessions.sign_in(&before, grant(expires), now);
        assert_ne!(before, after);
        assert_ne!(signed_out.csrf, signed_in.csrf);
        assert!(sessions.find(&before, now).is_none());
        assert!(sessions.find(&after, now).is_some());
        assert!(sessions.find(&after, expires.plus_seconds(-1)).is_some());
        assert!(sessions.find(&after, expires).is_none());
        assert!(
            sessions.is_empty(),
            "an ended session is removed when found"
        );
    }

    #[test]
    fn a_signed_out_session_lasts_an_hour() {
        let sessions = Sessions::default();
        let now = Timestamp::from_seconds(1_000);
        let (id, _) = sessions.start(now);
        assert!(sessions.find(&id, now.plus_seconds(3599)).is_some());
        assert!(sessions.find(&id, now.plus_seconds(3600)).is_none());
    }

    #[test]
    fn a_full_map_drops_signed_out_sessions_before_signed_in_ones() {
        let sessions = Sessions::default();
        let now = Timestamp::from_seconds(1_000);
        let (first, _) = sessions.start(now);
        let (signed_in, _) = sessions.sign_in(&first, grant(now.plus_seconds(60)), now);
        for _ in 1..MAX_SESSIONS {
            sessions.start(now);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        let (newest, _) = sessions.start(now);
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.find(&signed_in, now).is_some());
        assert!(sessions.find(&newest, now).is_some());
    }
}
