//! One definition per request body: the [`request_body!`] table of a body's fields (name,
//! presence, rule, description) produces the typed value the handler receives, the validation
//! with the reference wording (docs/http-conventions.md#validation-wording) and the body's schema
//! in the OpenAPI document, so the document cannot describe a body the server reads differently.
//!
//! A field is written `name: Presence<Rule>`. The presence ([`Required`], [`Optional`],
//! [`Nullable`], [`NullIgnored`]) says what an absent or `null` field means; the rule
//! ([`rules`]) reads a present value into a typed one or names the failing tag, and describes
//! itself as a schema.

pub mod rules;

use std::marker::PhantomData;

use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::validation::{Checked, Recorded, Violations};
use crate::error::ApiError;

/// Why a present value was refused: one tag for the field, or, for a nested object, each of its
/// failing members (by JSON name) with its tag, in the nested table's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Tag(&'static str),
    Members(Vec<(String, &'static str)>),
}

impl From<&'static str> for Failure {
    fn from(tag: &'static str) -> Self {
        Self::Tag(tag)
    }
}

/// How a present, non-null value is read and described.
pub trait Rule {
    type Value;

    fn read(value: &Value) -> Result<Self::Value, Failure>;

    /// The schema of a present, non-null value.
    fn schema() -> Schema;
}

/// What an absent or `null` field means, around the rule that reads a present one.
pub trait Field {
    type Value;

    /// Whether the schema lists the field as required.
    const REQUIRED: bool;

    fn read(field: &mut FieldReader<'_, '_>) -> Checked<Self::Value>;

    fn schema() -> Schema;
}

/// Must be sent, not `null`: `required` otherwise.
pub struct Required<R>(PhantomData<R>);

/// May be left out (`None`); `null` is refused as `required`.
pub struct Optional<R>(PhantomData<R>);

/// May be left out (`None`) or `null` (`Some(None)`, which clears the stored value on update).
pub struct Nullable<R>(PhantomData<R>);

/// Left out and `null` both mean "not sent" (`None`).
pub struct NullIgnored<R>(PhantomData<R>);

impl<R: Rule> Field for Required<R> {
    type Value = R::Value;
    const REQUIRED: bool = true;

    fn read(field: &mut FieldReader<'_, '_>) -> Checked<R::Value> {
        match field.value() {
            None | Some(Value::Null) => Err(field.reject("required")),
            Some(value) => field.apply::<R>(value),
        }
    }

    fn schema() -> Schema {
        R::schema()
    }
}

impl<R: Rule> Field for Optional<R> {
    type Value = Option<R::Value>;
    const REQUIRED: bool = false;

    fn read(field: &mut FieldReader<'_, '_>) -> Checked<Option<R::Value>> {
        match field.value() {
            None => Ok(None),
            Some(Value::Null) => Err(field.reject("required")),
            Some(value) => field.apply::<R>(value).map(Some),
        }
    }

    fn schema() -> Schema {
        R::schema()
    }
}

impl<R: Rule> Field for Nullable<R> {
    type Value = Option<Option<R::Value>>;
    const REQUIRED: bool = false;

    fn read(field: &mut FieldReader<'_, '_>) -> Checked<Option<Option<R::Value>>> {
        match field.value() {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(value) => field.apply::<R>(value).map(|value| Some(Some(value))),
        }
    }

    fn schema() -> Schema {
        or_null(R::schema())
    }
}

impl<R: Rule> Field for NullIgnored<R> {
    type Value = Option<R::Value>;
    const REQUIRED: bool = false;

    fn read(field: &mut FieldReader<'_, '_>) -> Checked<Option<R::Value>> {
        match field.value() {
            None | Some(Value::Null) => Ok(None),
            Some(value) => field.apply::<R>(value).map(Some),
        }
    }

    fn schema() -> Schema {
        or_null(R::schema())
    }
}

/// The same schema, also accepting `null`.
fn or_null(mut schema: Schema) -> Schema {
    let add_null = |kind: &mut SchemaType| {
        *kind = match std::mem::replace(kind, SchemaType::AnyValue) {
            SchemaType::Type(single) => SchemaType::Array(vec![single, Type::Null]),
            SchemaType::Array(mut several) => {
                if !several.contains(&Type::Null) {
                    several.push(Type::Null);
                }
                SchemaType::Array(several)
            }
            SchemaType::AnyValue => SchemaType::AnyValue,
        };
    };
    match &mut schema {
        Schema::Object(object) => add_null(&mut object.schema_type),
        Schema::Array(array) => add_null(&mut array.schema_type),
        _ => {}
    }
    schema
}

/// The stage of a body's fields: [`Checking`] while failures are collected (each field a
/// [`Checked`] value), [`Valid`] once every field passed (each field its plain value).
pub trait Stage {
    type Of<T>;
}

/// Every field passed; the handler's view of a body.
pub enum Valid {}

/// Fields as read, each its value or the failure recorded for it.
pub enum Checking {}

impl Stage for Valid {
    type Of<T> = T;
}

impl Stage for Checking {
    type Of<T> = Checked<T>;
}

/// A body in the [`Checking`] stage that becomes its [`Valid`] stage when every field passed.
pub trait Settle {
    type Valid;

    fn settle(self) -> Checked<Self::Valid>;
}

/// The members of one JSON object, read in the order of its field table; each failure is recorded
/// at its field's position, so checks a handler adds afterwards still report in table order.
pub struct Reader<'a> {
    data: &'a Map<String, Value>,
    table: &'static [&'static str],
    violations: Violations,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a Map<String, Value>, table: &'static [&'static str]) -> Self {
        Self {
            data,
            table,
            violations: Violations::default(),
        }
    }

    /// `data` must be an object (docs/http-conventions.md#request-bodies); otherwise the
    /// `Data`/`required` failure alone.
    pub fn open(body: &'a Value, table: &'static [&'static str]) -> Result<Self, ApiError> {
        match body.get("data") {
            Some(Value::Object(data)) => Ok(Self::new(data, table)),
            _ => Err(ApiError::bad_request(
                "Validation failed: field 'Data' on the 'required' tag.",
            )),
        }
    }

    /// `type` must be sent and be one of `accepted`.
    pub fn resource_type(&mut self, accepted: &[&str]) {
        let tag = match self.data.get("type") {
            None | Some(Value::Null) => "required",
            Some(Value::String(text)) if accepted.contains(&text.as_str()) => return,
            Some(Value::String(_)) => "eq",
            Some(_) => "string",
        };
        self.reject("type", tag);
    }

    pub fn field<F: Field>(&mut self, key: &'static str) -> Checked<F::Value> {
        let position = self.position(key);
        F::read(&mut FieldReader {
            reader: self,
            key,
            position,
        })
    }

    /// Records a failure of `key` at its place in the table (after every field when the table
    /// does not list it).
    pub fn reject(&mut self, key: &str, tag: &'static str) -> Recorded {
        let position = self.position(key);
        self.violations.push_at(position, key, tag)
    }

    fn position(&self, key: &str) -> usize {
        self.table
            .iter()
            .position(|listed| *listed == key)
            .unwrap_or(self.table.len())
    }

    /// The fields read so far, with the failures recorded for them.
    pub fn into_reading<B>(self, fields: B) -> Reading<B> {
        Reading {
            fields,
            table: self.table,
            violations: self.violations,
        }
    }
}

/// One field of a [`Reader`], as a [`Field`] reads it.
pub struct FieldReader<'r, 'a> {
    reader: &'r mut Reader<'a>,
    key: &'static str,
    position: usize,
}

impl<'a> FieldReader<'_, 'a> {
    pub fn value(&self) -> Option<&'a Value> {
        self.reader.data.get(self.key)
    }

    pub fn reject(&mut self, tag: &'static str) -> Recorded {
        self.reader.violations.push_at(self.position, self.key, tag)
    }

    /// The rule's value of a present field, or its failures recorded.
    pub fn apply<R: Rule>(&mut self, value: &Value) -> Checked<R::Value> {
        match R::read(value) {
            Ok(value) => Ok(value),
            Err(Failure::Tag(tag)) => Err(self.reject(tag)),
            Err(Failure::Members(members)) => {
                let mut recorded = None;
                for (key, tag) in &members {
                    recorded = Some(self.reader.violations.push_at(self.position, key, tag));
                }
                Err(recorded.unwrap_or_else(|| self.reject("object")))
            }
        }
    }
}

/// A body read in its [`Checking`] stage: handlers add checks that need the stored record (an
/// immutable field that changed) before [`Reading::finish`].
pub struct Reading<B> {
    pub fields: B,
    table: &'static [&'static str],
    violations: Violations,
}

impl<B: Settle> Reading<B> {
    /// Records a failure of `key` at its place in the body's field table.
    pub fn reject(&mut self, key: &str, tag: &'static str) -> Recorded {
        let position = self
            .table
            .iter()
            .position(|listed| *listed == key)
            .unwrap_or(self.table.len());
        self.violations.push_at(position, key, tag)
    }

    /// The valid body, or `400` naming every failure in table order.
    pub fn finish(self) -> Result<B::Valid, ApiError> {
        self.violations
            .settle(self.fields.settle())
            .map_err(ApiError::bad_request)
    }

    /// The valid body, or the failures as (JSON name, tag) in table order, for a nested object.
    pub fn outcome(self) -> Result<B::Valid, Vec<(String, &'static str)>> {
        match self.fields.settle() {
            Ok(valid) if self.violations.is_empty() => Ok(valid),
            _ => Err(self.violations.into_keys()),
        }
    }
}

/// One row of a field table as the schema shows it.
pub struct FieldSchema {
    pub key: &'static str,
    pub required: bool,
    pub schema: Schema,
    pub description: &'static [&'static str],
}

/// The object schema of a field table: its members in table order, the required ones listed.
pub fn object_schema(
    description: &'static [&'static str],
    types: Option<&'static [&'static str]>,
    fields: Vec<FieldSchema>,
) -> ObjectBuilder {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(joined(description));
    if let Some(types) = types {
        object = object
            .property(
                "type",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(types.iter().copied())),
            )
            .required("type");
    }
    for field in fields {
        let mut schema = field.schema;
        if let Some(text) = joined(field.description) {
            match &mut schema {
                Schema::Object(object) => object.description = Some(text),
                Schema::Array(array) => array.description = Some(text),
                _ => {}
            }
        }
        object = object.property(field.key, schema);
        if field.required {
            object = object.required(field.key);
        }
    }
    object
}

/// The `{"data": {…}}` wrapper of every resource body (docs/http-conventions.md#request-bodies).
pub fn envelope_schema(data: ObjectBuilder) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", data)
        .required("data")
        .into()
}

/// Doc-comment lines as one description: the leading space `///` leaves is dropped.
fn joined(lines: &[&str]) -> Option<String> {
    let text = lines
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A request body: its field table becomes a struct generic over [`Stage`] (the handler gets
/// `Name`, i.e. `Name<Valid>`), `Name::parse` (validation with the reference wording),
/// `Name::read` (the [`Checking`] stage, for checks against the stored record) and the
/// `ToSchema` the OpenAPI document shows.
///
/// `type: [...]` makes a resource body: wrapped in `{"data": {…}}`, with a `type` member that
/// must be one of the listed names. Without it the table describes a nested object, read with
/// [`rules::Object`].
macro_rules! request_body {
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident {
            type: [$($type_name:expr),+ $(,)?],
            $(
                $(#[doc = $field_doc:literal])*
                $field:ident: $shape:ty
            ),+ $(,)?
        }
    ) => {
        $crate::http::body::request_body!(@struct
            [$($doc),*] $vis $name [$((($($field_doc),*) $field: $shape)),+]);

        impl $name {
            /// The names `type` may have.
            pub const TYPES: &'static [&'static str] = &[$($type_name),+];
            const TABLE: &'static [&'static str] = &["type", $(stringify!($field)),+];

            /// The body read and validated, or `400` naming every failing field.
            #[allow(dead_code)]
            pub fn parse(body: &serde_json::Value) -> Result<Self, $crate::error::ApiError> {
                Self::read(body)?.finish()
            }

            /// The body read, failures collected, for checks against the stored record before
            /// [`Reading::finish`]($crate::http::body::Reading::finish).
            pub fn read(
                body: &serde_json::Value,
            ) -> Result<$crate::http::body::Reading<$name<$crate::http::body::Checking>>, $crate::error::ApiError> {
                let mut reader = $crate::http::body::Reader::open(body, Self::TABLE)?;
                reader.resource_type(Self::TYPES);
                let fields = $name::<$crate::http::body::Checking> {
                    $($field: reader.field::<$shape>(stringify!($field)),)+
                };
                Ok(reader.into_reading(fields))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::http::body::envelope_schema($crate::http::body::object_schema(
                    &[$($doc),*],
                    Some(Self::TYPES),
                    $crate::http::body::request_body!(@fields [$((($($field_doc),*) $field: $shape)),+]),
                ))
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $field_doc:literal])*
                $field:ident: $shape:ty
            ),+ $(,)?
        }
    ) => {
        $crate::http::body::request_body!(@struct
            [$($doc),*] $vis $name [$((($($field_doc),*) $field: $shape)),+]);

        impl $crate::http::body::rules::Nested for $name {
            type Checking = $name<$crate::http::body::Checking>;
            const TABLE: &'static [&'static str] = &[$(stringify!($field)),+];

            fn read(
                mut reader: $crate::http::body::Reader<'_>,
            ) -> $crate::http::body::Reading<Self::Checking> {
                let fields = $name::<$crate::http::body::Checking> {
                    $($field: reader.field::<$shape>(stringify!($field)),)+
                };
                reader.into_reading(fields)
            }

            fn schema() -> utoipa::openapi::schema::Schema {
                $crate::http::body::object_schema(
                    &[$($doc),*],
                    None,
                    $crate::http::body::request_body!(@fields [$((($($field_doc),*) $field: $shape)),+]),
                )
                .build()
                .into()
            }
        }
    };
    (@struct [$($doc:literal),*] $vis:vis $name:ident
        [$((($($field_doc:literal),*) $field:ident: $shape:ty)),+]) => {
        $(#[doc = $doc])*
        $vis struct $name<S: $crate::http::body::Stage = $crate::http::body::Valid> {
            $(
                $(#[doc = $field_doc])*
                pub $field: S::Of<<$shape as $crate::http::body::Field>::Value>,
            )+
        }

        impl $crate::http::body::Settle for $name<$crate::http::body::Checking> {
            type Valid = $name;

            fn settle(self) -> $crate::http::validation::Checked<$name> {
                Ok($name {
                    $($field: self.$field?,)+
                })
            }
        }
    };
    (@fields [$((($($field_doc:literal),*) $field:ident: $shape:ty)),+]) => {
        vec![$(
            $crate::http::body::FieldSchema {
                key: stringify!($field),
                required: <$shape as $crate::http::body::Field>::REQUIRED,
                schema: <$shape as $crate::http::body::Field>::schema(),
                description: &[$($field_doc),*],
            },
        )+]
    };
}

pub(crate) use request_body;

#[cfg(test)]
mod tests;
