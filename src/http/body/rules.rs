//! The rules a field's value follows, each with the tag its failure reports and the schema that
//! describes it. Resource modules add their own for checks only they make (a redirect URI, an
//! event key), built on the readers here.

use std::marker::PhantomData;

use serde_json::Value;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{
    ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};

use super::{Failure, Reader, Reading, Rule, Settle};
use crate::auth::hash_formats::{MAX_HASH_BYTES, StoredHash};
use crate::auth::password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use crate::http::validation::{is_valid_email, parse_uuid};
use crate::store::{DuplicateEmailPolicy, OtpPurpose, SelfManagement, UsernameFormat};

/// A string of `min..=max` characters (Unicode scalar values) without U+0000, which neither
/// database stores in text.
pub fn text(value: &Value, min: usize, max: usize) -> Result<&str, &'static str> {
    let Value::String(text) = value else {
        return Err("string");
    };
    if text.contains('\0') {
        return Err("string");
    }
    let length = text.chars().count();
    if length < min {
        return Err("min");
    }
    if length > max {
        return Err("max");
    }
    Ok(text)
}

/// A string schema with the bounds that are not the defaults.
pub fn string_schema(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length((max < usize::MAX).then_some(max))
}

/// A string of `MIN..=MAX` characters.
pub struct Text<const MIN: usize, const MAX: usize>;

impl<const MIN: usize, const MAX: usize> Rule for Text<MIN, MAX> {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        Ok(text(value, MIN, MAX)?.to_owned())
    }

    fn schema() -> Schema {
        string_schema(MIN, MAX).into()
    }
}

/// An email address (`email`) of at most `MAX` characters.
pub struct Email<const MAX: usize>;

impl<const MAX: usize> Rule for Email<MAX> {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        let email = text(value, 0, MAX)?;
        if !is_valid_email(email) {
            return Err("email".into());
        }
        Ok(email.to_owned())
    }

    fn schema() -> Schema {
        string_schema(0, MAX)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .into()
    }
}

/// A canonical hyphenated UUID (`uuid`).
pub struct Id;

impl Rule for Id {
    type Value = uuid::Uuid;

    fn read(value: &Value) -> Result<uuid::Uuid, Failure> {
        parse_uuid(text(value, 0, usize::MAX)?).ok_or(Failure::Tag("uuid"))
    }

    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .into()
    }
}

/// `true` or `false` (`boolean`).
pub struct Boolean;

impl Rule for Boolean {
    type Value = bool;

    fn read(value: &Value) -> Result<bool, Failure> {
        value.as_bool().ok_or(Failure::Tag("boolean"))
    }

    fn schema() -> Schema {
        ObjectBuilder::new().schema_type(Type::Boolean).into()
    }
}

/// An integer in `MIN..=MAX`: `min` or `max` beyond them, `integer` for anything else.
pub struct Integer<const MIN: i64, const MAX: i64>;

impl<const MIN: i64, const MAX: i64> Rule for Integer<MIN, MAX> {
    type Value = i64;

    fn read(value: &Value) -> Result<i64, Failure> {
        let Some(number) = value.as_i64() else {
            // A float, or an integer beyond i64: out of range if it is a whole number at all.
            let tag = match value.as_f64() {
                Some(float) if float.fract() == 0.0 && float < MIN as f64 => "min",
                Some(float) if float.fract() == 0.0 && float > MAX as f64 => "max",
                _ => "integer",
            };
            return Err(tag.into());
        };
        if number < MIN {
            return Err("min".into());
        }
        if number > MAX {
            return Err("max".into());
        }
        Ok(number)
    }

    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum((MIN > i64::MIN).then_some(MIN as f64))
            .maximum((MAX < i64::MAX).then_some(MAX as f64))
            .into()
    }
}

/// A closed set of names, read into its typed value.
pub trait Choices: Sized {
    const ALL: &'static [&'static str];

    fn parse(text: &str) -> Option<Self>;
}

macro_rules! choices {
    ($($name:ty),+) => {
        $(impl Choices for $name {
            const ALL: &'static [&'static str] = <$name>::ALL;

            fn parse(text: &str) -> Option<Self> {
                <$name>::parse(text)
            }
        })+
    };
}

choices!(
    DuplicateEmailPolicy,
    OtpPurpose,
    SelfManagement,
    UsernameFormat
);

/// One of the names of `C` (`oneof`).
pub struct OneOf<C>(PhantomData<C>);

impl<C: Choices> Rule for OneOf<C> {
    type Value = C;

    fn read(value: &Value) -> Result<C, Failure> {
        C::parse(text(value, 0, usize::MAX)?).ok_or(Failure::Tag("oneof"))
    }

    fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(C::ALL.iter().copied()))
            .into()
    }
}

/// A password within the bounds (docs/decisions.md#password-bounds): at least
/// `MIN_PASSWORD_CHARS` characters (`min`), at most `MAX_PASSWORD_BYTES` bytes (`max`); never
/// returned.
pub struct Password;

impl Rule for Password {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        let password = text(value, 0, usize::MAX)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err("min".into());
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err("max".into());
        }
        Ok(password.to_owned())
    }

    fn schema() -> Schema {
        string_schema(MIN_PASSWORD_CHARS, usize::MAX)
            .write_only(Some(true))
            .into()
    }
}

/// A password hash made elsewhere, in one of the formats accountd verifies
/// (docs/login.md#legacy-password-hashes); anything else is `oneof`, as the format is one of a
/// closed set. Write-only, and marked in the schema as an accountd extension.
pub struct PasswordHash;

impl Rule for PasswordHash {
    type Value = String;

    fn read(value: &Value) -> Result<String, Failure> {
        let hash = text(value, 0, usize::MAX)?;
        if StoredHash::parse(hash).is_none() {
            return Err("oneof".into());
        }
        Ok(hash.to_owned())
    }

    fn schema() -> Schema {
        string_schema(1, MAX_HASH_BYTES)
            .write_only(Some(true))
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-accountd-extension", true)
                    .build(),
            ))
            .into()
    }
}

/// The value of `R`, marked write-only: a secret the server never returns.
pub struct WriteOnly<R>(PhantomData<R>);

impl<R: Rule> Rule for WriteOnly<R> {
    type Value = R::Value;

    fn read(value: &Value) -> Result<R::Value, Failure> {
        R::read(value)
    }

    fn schema() -> Schema {
        let mut schema = R::schema();
        if let Schema::Object(object) = &mut schema {
            object.write_only = Some(true);
        }
        schema
    }
}

/// An array of `MIN..=MAX` items (`array`, `min`, `max`), each read by `R`: the first item that
/// fails names the array with its tag.
pub struct Array<R, const MIN: usize, const MAX: usize>(PhantomData<R>);

impl<R: Rule, const MIN: usize, const MAX: usize> Rule for Array<R, MIN, MAX> {
    type Value = Vec<R::Value>;

    fn read(value: &Value) -> Result<Vec<R::Value>, Failure> {
        let Value::Array(items) = value else {
            return Err("array".into());
        };
        if items.len() > MAX {
            return Err("max".into());
        }
        let values = items.iter().map(R::read).collect::<Result<Vec<_>, _>>()?;
        if values.len() < MIN {
            return Err("min".into());
        }
        Ok(values)
    }

    fn schema() -> Schema {
        ArrayBuilder::new()
            .items(ArrayItems::RefOrSchema(Box::new(R::schema().into())))
            .min_items((MIN > 0).then_some(MIN))
            .max_items(Some(MAX))
            .into()
    }
}

/// A table of fields read as a nested object ([`request_body!`](super::request_body) without
/// `type`).
pub trait Nested: Sized {
    type Checking: Settle<Valid = Self>;
    const TABLE: &'static [&'static str];

    fn read(reader: Reader<'_>) -> Reading<Self::Checking>;

    fn schema() -> Schema;
}

/// A nested object (`object`) whose members fail under their own names, at the place of the
/// object in the outer table.
pub struct Object<N>(PhantomData<N>);

impl<N: Nested> Rule for Object<N> {
    type Value = N;

    fn read(value: &Value) -> Result<N, Failure> {
        let Value::Object(members) = value else {
            return Err("object".into());
        };
        N::read(Reader::new(members, N::TABLE))
            .outcome()
            .map_err(Failure::Members)
    }

    fn schema() -> Schema {
        N::schema()
    }
}
