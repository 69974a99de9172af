//! `kubepg query`: run SQL once and print the result.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use kubepg_sql::{Engine, KubeSession};

use crate::output::{Format, Printer};
use crate::sources::{EngineArgs, SourceArgs};

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// SQL to run (several statements separated by ';' run in order).
    #[arg(short = 'q', long = "query", conflicts_with = "file")]
    pub query: Option<String>,
    /// File holding the SQL to run.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    /// Leave out the header row (table and csv).
    #[arg(long)]
    pub no_headers: bool,
    /// Cluster scope: a context name, a comma list, a glob, or 'all'.
    #[arg(long, env = "KUBEPG_SCOPE")]
    pub scope: Option<String>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let sql = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        (None, None) => bail!("give the SQL with -q or -f"),
    };
    let pool = Arc::new(args.sources.pool(None).await?);
    let engine = Engine::new(pool, args.engine.config());
    let session = engine
        .session(args.scope.as_deref())
        .await
        .map_err(with_state)?;
    let statements = KubeSession::parse(&sql).map_err(with_state)?;
    let mut stdout = std::io::stdout().lock();
    for statement in statements {
        let df = session.plan(statement).await.map_err(with_state)?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let mut printer = Printer::new(args.output, schema, !args.no_headers);
        let mut stream = df
            .execute_stream()
            .await
            .map_err(|e| with_state(e.into()))?;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| with_state(e.into()))?;
            printer.batch(&mut stdout, &batch)?;
        }
        printer.finish(&mut stdout)?;
        for w in session.take_warnings() {
            eprintln!("WARNING: {w}");
        }
    }
    Ok(())
}

/// Errors carry their SQLSTATE, as a PostgreSQL client would show it.
fn with_state(e: kubepg_sql::Error) -> anyhow::Error {
    anyhow::anyhow!("ERROR {}: {e}", e.sqlstate())
}
