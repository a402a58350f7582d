//! OpenAPI schemas of the compositor's value types that commands and the state document hold
//! (their serde forms are the compositor's own: a colour is a string, a frame rate a number or
//! a ratio). The types here derive `utoipa::ToSchema`; these functions describe the fields
//! whose types come from `livekit-compositor`, which knows nothing of OpenAPI.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

fn string(description: &str, values: &[&str], nullable: bool) -> Schema {
    let mut builder = ObjectBuilder::new()
        .schema_type(if nullable {
            SchemaType::from_iter([Type::String, Type::Null])
        } else {
            SchemaType::new(Type::String)
        })
        .description(Some(description));
    if !values.is_empty() {
        builder = builder.enum_values(Some(values.iter().copied()));
    }
    Schema::Object(builder.build())
}

fn hex_color(nullable: bool) -> Schema {
    let Schema::Object(object) = string("A colour: `#rrggbb` or `#rrggbbaa`.", &[], nullable)
    else {
        unreachable!("string() makes an object schema")
    };
    let mut object = object;
    object.pattern = Some("^#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$".into());
    Schema::Object(object)
}

pub(crate) fn color() -> impl Into<RefOr<Schema>> {
    hex_color(false)
}

pub(crate) fn optional_color() -> impl Into<RefOr<Schema>> {
    hex_color(true)
}

pub(crate) fn fps() -> impl Into<RefOr<Schema>> {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(240)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]+/[0-9]+$")),
            )
            .description(Some(
                "Frames a second: a whole number, or a ratio such as `\"30000/1001\"`.",
            ))
            .build(),
    )
}

pub(crate) fn optional_fit() -> impl Into<RefOr<Schema>> {
    string(
        "How the source fills its rectangle.",
        &["stretch", "contain", "cover"],
        true,
    )
}

pub(crate) fn optional_align() -> impl Into<RefOr<Schema>> {
    string(
        "Where a source that does not fill its rectangle sits in it.",
        &[
            "top-left",
            "top",
            "top-right",
            "left",
            "center",
            "right",
            "bottom-left",
            "bottom",
            "bottom-right",
        ],
        true,
    )
}

pub(crate) fn test_pattern() -> impl Into<RefOr<Schema>> {
    string("A test pattern.", &["smpte", "bars", "gradient"], false)
}

pub(crate) fn path() -> impl Into<RefOr<Schema>> {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("path".into())))
            .description(Some("A file path on the studio's machine."))
            .build(),
    )
}

pub(crate) fn optional_path() -> impl Into<RefOr<Schema>> {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .format(Some(SchemaFormat::Custom("path".into())))
            .description(Some("A folder on the studio's machine."))
            .build(),
    )
}
