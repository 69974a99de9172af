//! The hook a kind of statement the pipeline answers without planning implements: the
//! extended protocol's Describe of it, and running it. Each returns `None` for statements that
//! are not its own, which pass on to the next hook.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::sql::sqlparser::ast::Statement;

use super::outcome::{Described, Outcome};
use super::session::KubeSession;
use crate::error::Result;

/// One kind of statement the pipeline answers without planning it.
#[async_trait]
pub trait Hook: Send + Sync {
    /// The statement's parameters and columns, when it is this hook's.
    async fn describe(
        &self,
        statement: &Statement,
        session: &KubeSession,
    ) -> Option<Result<Described>>;

    /// Runs the statement, when it is this hook's.
    async fn run(
        &self,
        statement: &Statement,
        params: Option<&ParamValues>,
        session: &KubeSession,
    ) -> Option<Result<Outcome>>;
}
