//! `kubepg query`: run SQL once and print the result. Statements go through the same pipeline
//! as the server's ([`kubepg_sql::pipeline`]), so what psql may send works here too; rows print
//! as they are computed.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use futures::StreamExt;
use kubepg_sql::pipeline::Outcome;
use kubepg_sql::{Engine, SessionRequest};

use crate::output::{Format, Printer, write_copy};
use crate::sources::{EngineArgs, SourceArgs};

#[derive(Args, Debug)]
pub struct QueryArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// SQL to run (several statements separated by ';' run in order).
    #[arg(short = 'q', long = "query", conflicts_with = "file")]
    pub query: Option<String>,
    /// File holding the SQL to run ('-': standard input).
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

/// A statement's error as a PostgreSQL client shows it: `ERROR <SQLSTATE>: message`.
#[derive(Debug)]
pub struct QueryError(pub kubepg_sql::Error);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.0.sqlstate(), self.0)
    }
}

impl std::error::Error for QueryError {}

fn failed(e: kubepg_sql::Error) -> anyhow::Error {
    QueryError(e).into()
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let sql = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) if f.as_os_str() == "-" => {
            std::io::read_to_string(std::io::stdin()).context("reading the SQL from stdin")?
        }
        (None, Some(f)) => {
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
        }
        (None, None) => bail!("give the SQL with -q or -f"),
    };
    let pool = Arc::new(args.sources.pool(None).await?);
    let engine = Engine::new(pool, args.engine.config());
    let session = engine
        .session(SessionRequest::local(args.scope.as_deref()))
        .await
        .map_err(failed)?;
    let warn = |session: &kubepg_sql::KubeSession| {
        for w in session.take_warnings() {
            eprintln!("WARNING: {w}");
        }
    };
    warn(&session);
    let statements = session.parse(&sql).await.map_err(failed)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout());
    for statement in statements {
        let result = async {
            match session.run(statement).await? {
                Outcome::Empty => {}
                // As psql does, the table output names each command that returns no rows.
                Outcome::Command { tag, .. } => {
                    if matches!(args.output, Format::Table) {
                        writeln!(stdout, "{tag}").map_err(io)?;
                    }
                }
                Outcome::Rows(rows) => {
                    let mut printer = Printer::new(
                        args.output,
                        rows.columns,
                        !args.no_headers,
                        session.settings.time_zone(),
                    );
                    let mut batches = rows.batches;
                    while let Some(batch) = batches.next().await {
                        printer.batch(&mut stdout, &batch?).map_err(io)?;
                    }
                    printer.finish(&mut stdout).map_err(io)?;
                }
                Outcome::Copy { rows, format } => {
                    let zone = session.settings.time_zone();
                    let mut batches = rows.batches;
                    let mut first = true;
                    while let Some(batch) = batches.next().await {
                        write_copy(&mut stdout, &rows.columns, &format, &batch?, first, &zone)
                            .map_err(io)?;
                        first = false;
                    }
                    if first {
                        write_copy(
                            &mut stdout,
                            &rows.columns,
                            &format,
                            &kubepg_sql::arrow::record_batch::RecordBatch::new_empty(
                                rows.columns.clone(),
                            ),
                            true,
                            &zone,
                        )
                        .map_err(io)?;
                    }
                }
            }
            Ok::<(), kubepg_sql::Error>(())
        }
        .await;
        stdout.flush()?;
        warn(&session);
        result.map_err(failed)?;
    }
    stdout.flush()?;
    Ok(())
}

/// Output that cannot be written ends the query like any failure.
fn io(e: impl std::fmt::Display) -> kubepg_sql::Error {
    kubepg_sql::Error::refused(kubepg_sql::SqlState::IoError, e.to_string())
}
