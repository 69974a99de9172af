//! Kubernetes label and field selectors: the values of the `labelSelector` and `fieldSelector`
//! query parameters, their parsers, and local evaluation against objects.
//!
//! Local evaluation must give exactly the answer the API server gives, because the same selector
//! is either sent to a live cluster or applied here to snapshot and watch-cache objects, and a
//! query must not return different rows depending on where its objects came from. The parsers
//! follow apimachinery's `labels.Parse` and `fields.ParseSelector` token for token for the same
//! reason: a `--selector` that kubectl accepts must mean the same thing here.

//!
//! [`label`] holds label selectors, [`field`] field selectors.

mod field;
mod label;

pub use field::{FieldOp, FieldRequirement, FieldSelector};
pub use label::{LabelRequirement, LabelSelector, valid_label_key, valid_label_value};

#[cfg(test)]
mod tests;
