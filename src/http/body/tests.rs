use serde_json::{Value, json};
use utoipa::PartialSchema;

use super::rules::{Array, Boolean, Email, Id, Integer, Object, OneOf, Password, Text, WriteOnly};
use super::{NullIgnored, Nullable, Optional, Required};
use crate::store::UsernameFormat;

request_body! {
    /// A body with one field of every kind.
    struct Sample {
        type: ["sample", "sample-alias"],
        /// The name.
        name: Required<Text<1, 5>>,
        email: Optional<Email<254>>,
        note: Nullable<Text<0, 10>>,
        format: Optional<OneOf<UsernameFormat>>,
        enabled: Optional<Boolean>,
        limit: Optional<Integer<1, 100>>,
        parent_id: Nullable<Id>,
        tags: Optional<Array<Text<1, 3>, 1, 2>>,
        password: Optional<Password>,
        secret: Optional<WriteOnly<Text<1, 9>>>,
        inner: NullIgnored<Object<Inner>>,
    }
}

request_body! {
    /// A nested object.
    struct Inner {
        url: Required<Text<1, 20>>,
        flag: NullIgnored<Boolean>,
    }
}

fn detail(body: Value) -> String {
    match Sample::parse(&body) {
        Ok(_) => "valid".to_owned(),
        Err(error) => error.detail().to_owned(),
    }
}

#[test]
fn a_valid_body_becomes_typed_values() {
    let body = json!({"data": {
        "type": "sample-alias", "name": "Acme", "note": null, "format": "email",
        "limit": 7, "parent_id": "00000000-0000-4000-8000-000000000001", "tags": ["a", "bc"],
        "password": "long enough", "inner": {"url": "https://x", "flag": null},
    }});
    let Ok(sample) = Sample::parse(&body) else {
        panic!("the body is valid");
    };
    assert_eq!(sample.name, "Acme");
    assert_eq!(sample.email, None);
    assert_eq!(sample.note, Some(None), "null clears a nullable field");
    assert_eq!(sample.format, Some(UsernameFormat::Email));
    assert_eq!(sample.enabled, None);
    assert_eq!(sample.limit, Some(7));
    assert!(matches!(sample.parent_id, Some(Some(_))));
    assert_eq!(sample.tags, Some(vec!["a".to_owned(), "bc".to_owned()]));
    assert_eq!(sample.password.as_deref(), Some("long enough"));
    let inner = sample.inner.expect("the nested object");
    assert_eq!(inner.url, "https://x");
    assert_eq!(inner.flag, None);
}

#[test]
fn every_failure_is_named_once_in_table_order() {
    let body = json!({"data": {
        "type": "other", "name": "", "email": "x", "note": 3, "format": "phone",
        "enabled": "yes", "limit": 0, "parent_id": "nope", "tags": [], "password": "short",
        "secret": null, "inner": {"flag": 1},
    }});
    assert_eq!(
        detail(body),
        "Validation failed: field 'Type' on the 'eq' tag; field 'Name' on the 'min' tag; \
         field 'Email' on the 'email' tag; field 'Note' on the 'string' tag; \
         field 'Format' on the 'oneof' tag; field 'Enabled' on the 'boolean' tag; \
         field 'Limit' on the 'min' tag; field 'ParentID' on the 'uuid' tag; \
         field 'Tags' on the 'min' tag; field 'Password' on the 'min' tag; \
         field 'Secret' on the 'required' tag; field 'URL' on the 'required' tag; \
         field 'Flag' on the 'boolean' tag."
    );
}

#[test]
fn presence_decides_what_absent_and_null_mean() {
    assert_eq!(
        detail(json!({"data": {"type": "sample"}})),
        "Validation failed: field 'Name' on the 'required' tag."
    );
    assert_eq!(
        detail(json!({"data": {"type": "sample", "name": null}})),
        "Validation failed: field 'Name' on the 'required' tag."
    );
    assert_eq!(
        detail(json!({"data": {"type": "sample", "name": "a", "email": null}})),
        "Validation failed: field 'Email' on the 'required' tag."
    );
    assert_eq!(
        detail(json!({"data": {"type": "sample", "name": "a", "inner": null}})),
        "valid"
    );
    assert_eq!(
        detail(json!({"data": {"name": "a"}})),
        "Validation failed: field 'Type' on the 'required' tag."
    );
    for body in [json!({}), json!({"data": []}), json!([1])] {
        assert_eq!(
            detail(body),
            "Validation failed: field 'Data' on the 'required' tag."
        );
    }
}

#[test]
fn rules_report_their_own_tags() {
    let cases = [
        (json!({"name": "a\u{0}"}), "'Name' on the 'string'"),
        (json!({"name": "toolong"}), "'Name' on the 'max'"),
        (json!({"name": 5}), "'Name' on the 'string'"),
        (json!({"limit": 101}), "'Limit' on the 'max'"),
        (json!({"limit": 1.5}), "'Limit' on the 'integer'"),
        (json!({"limit": 1e30}), "'Limit' on the 'max'"),
        (json!({"limit": "7"}), "'Limit' on the 'integer'"),
        (json!({"tags": "a"}), "'Tags' on the 'array'"),
        (json!({"tags": ["a", "b", "c"]}), "'Tags' on the 'max'"),
        (json!({"tags": ["a", 1]}), "'Tags' on the 'string'"),
        (json!({"tags": ["toolong"]}), "'Tags' on the 'max'"),
        (
            json!({"password": "x".repeat(1025)}),
            "'Password' on the 'max'",
        ),
        (json!({"inner": []}), "'Inner' on the 'object'"),
        (
            json!({"parent_id": "00000000000000000000000000000000"}),
            "'ParentID' on the 'uuid'",
        ),
    ];
    for (fields, expected) in cases {
        let mut data = json!({"type": "sample", "name": "a"});
        for (key, value) in fields.as_object().into_iter().flatten() {
            data[key] = value.clone();
        }
        let detail = detail(json!({ "data": data }));
        assert_eq!(
            detail,
            format!("Validation failed: field {expected} tag."),
            "{fields}"
        );
    }
}

#[test]
fn checks_added_after_reading_keep_table_order() {
    let body = json!({"data": {"type": "sample", "name": "", "parent_id": "00000000-0000-4000-8000-000000000001", "tags": ["a"]}});
    let Ok(mut reading) = Sample::read(&body) else {
        panic!("the envelope is valid");
    };
    assert!(matches!(reading.fields.parent_id, Ok(Some(Some(_)))));
    reading.reject("parent_id", "immutable");
    reading.reject("type", "late");
    let Err(error) = reading.finish() else {
        panic!("two failures");
    };
    assert_eq!(
        error.detail(),
        "Validation failed: field 'Type' on the 'late' tag; field 'Name' on the 'min' tag; \
         field 'ParentID' on the 'immutable' tag."
    );
}

#[test]
fn a_check_added_to_a_valid_body_fails_it() {
    let body = json!({"data": {"type": "sample", "name": "a"}});
    let Ok(mut reading) = Sample::read(&body) else {
        panic!("the envelope is valid");
    };
    reading.reject("name", "immutable");
    assert!(reading.finish().is_err());
}

#[test]
fn the_schema_is_the_table() {
    let schema = serde_json::to_value(Sample::schema()).expect("a schema serializes");
    assert_eq!(schema["required"], json!(["data"]));
    let data = &schema["properties"]["data"];
    assert_eq!(data["description"], "A body with one field of every kind.");
    assert_eq!(data["required"], json!(["type", "name"]));
    let field = |name: &str| data["properties"][name].clone();
    assert_eq!(field("type")["enum"], json!(["sample", "sample-alias"]));
    assert_eq!(
        field("name"),
        json!({"type": "string", "minLength": 1, "maxLength": 5, "description": "The name."})
    );
    assert_eq!(field("email")["format"], "email");
    assert_eq!(field("note")["type"], json!(["string", "null"]));
    assert_eq!(field("format")["enum"], json!(["any", "email"]));
    assert_eq!(field("enabled")["type"], "boolean");
    assert_eq!(field("limit")["minimum"], 1);
    assert_eq!(field("limit")["maximum"], 100);
    assert_eq!(field("parent_id")["type"], json!(["string", "null"]));
    assert_eq!(field("parent_id")["format"], "uuid");
    assert_eq!(field("tags")["type"], "array");
    assert_eq!(field("tags")["minItems"], 1);
    assert_eq!(field("tags")["maxItems"], 2);
    assert_eq!(field("tags")["items"]["maxLength"], 3);
    assert_eq!(field("password")["writeOnly"], true);
    assert_eq!(field("password")["minLength"], 8);
    assert_eq!(field("secret")["writeOnly"], true);
    let inner = field("inner");
    assert_eq!(inner["type"], json!(["object", "null"]));
    assert_eq!(inner["required"], json!(["url"]));
    assert_eq!(
        inner["properties"]["flag"]["type"],
        json!(["boolean", "null"])
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            ".{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever a client sends, reading it yields a body or a 400, never a panic.
        #[test]
        fn any_body_is_read_without_panicking(data in json(), wrap in any::<bool>()) {
            let body = if wrap { json!({"data": data}) } else { data };
            if let Err(error) = Sample::parse(&body) {
                prop_assert!(error.detail().starts_with("Validation failed: "));
            }
        }
    }
}
