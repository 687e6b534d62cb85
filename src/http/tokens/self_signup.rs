//! The `self_signup` mechanism: a shopper registers and logs in with one call, when the realm
//! allows it.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Login;
use super::fields::Fields;
use crate::auth::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::error::{ApiError, ApiResult};
use crate::http::validation::is_valid_email;
use crate::store::{Actor, NewUser, SelfSignup, StoreError, UsernameFormat};

/// A shopper registers and logs in with one call (docs/login.md#self-sign-up).
pub(super) async fn self_signup(login: &Login<'_>, data: &Map<String, Value>) -> ApiResult<Uuid> {
    let (state, client) = (login.state, login.client);
    let settings = state.store.auth_settings().await?;
    if !settings.enable_self_signup {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "self signup is disabled",
        ));
    }
    let mut fields = Fields::new(data);
    let profile_id = fields.profile_id();
    // The username rule depends on the profile; an unknown profile is the 404 of step 11.
    let profile = match profile_id {
        Ok(id) => match state.store.password_profile(id).await {
            Ok(profile) => Some(profile),
            Err(StoreError::NotFound(_)) => None,
            Err(other) => return Err(other.into()),
        },
        Err(_) => None,
    };
    let email_only = profile
        .as_ref()
        .is_some_and(|profile| profile.username_format == UsernameFormat::Email);
    let username = match fields.bounded_text("username", 255) {
        Ok(username) if email_only && !is_valid_email(username) => {
            fields.reject("username", "email")
        }
        other => other,
    };
    let password = match fields.required_text("password") {
        Ok(password) if password.chars().count() < MIN_PASSWORD_CHARS => {
            fields.reject("password", "min")
        }
        Ok(password) if password.len() > MAX_PASSWORD_BYTES => fields.reject("password", "max"),
        other => other,
    };
    let name = fields.bounded_text("name", 255);
    let email = match fields.bounded_text("email", 254) {
        Ok(email) if !is_valid_email(email) => fields.reject("email", "email"),
        other => other,
    };
    let given_name = fields.optional_text("given_name", 255);
    let middle_name = fields.optional_text("middle_name", 255);
    let family_name = fields.optional_text("family_name", 255);
    let (profile_id, username, password, name, email, given_name, middle_name, family_name) =
        fields.finish((
            profile_id,
            username,
            password,
            name,
            email,
            given_name,
            middle_name,
            family_name,
        ))?;
    // Step 10 before step 11: a full hash queue answers 503 even for an unknown profile, whose
    // 404 then comes from the store.
    let password_hash = state
        .hasher
        .for_client(client.bucket())
        .hash(password.to_owned())
        .await?;
    let signup = SelfSignup {
        password_profile_id: profile_id,
        username: username.to_owned(),
        password_hash,
        user: NewUser {
            name: name.to_owned(),
            email: email.to_owned(),
            given_name,
            middle_name,
            family_name,
        },
    };
    // The store names the new member as the actor once it exists.
    let audit = login.event(
        "login.succeeded",
        Actor::SHOPPER,
        json!({
            "mechanism": login.mechanism.label(),
            "password_profile_id": profile_id,
            "username": username,
        }),
    );
    Ok(state
        .store
        .self_signup(&signup, state.clock.now(), &audit)
        .await?)
}
