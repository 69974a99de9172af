//! A bounded, grammar-based SQL fuzz run against `kubepg serve --demo`: typed random queries
//! over the demo's tables (joins, aggregates, window functions, jsonb operators, casts,
//! subqueries, CTEs, set operations, edge values) each get an answer or an error with
//! PostgreSQL's SQLSTATE, never XX000, a lost connection or a hang past the statement timeout;
//! the server still answers `SELECT 1` and `/healthz` after the run. The seed is fixed, so a
//! failure reproduces; `KUBEPG_FUZZ_CASES` and `KUBEPG_FUZZ_SEED` run others.

use crate::common;
use crate::serve_hostile::{connect, start};

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const CASES: usize = 1_000;
const STATEMENT_TIMEOUT: &str = "5s";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Ty {
    Int,
    Float,
    Text,
    Bool,
    Time,
    Json,
}

use Ty::*;

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Ty)],
}

const COMMON: &[(&str, Ty)] = &[
    ("name", Text),
    ("created", Time),
    ("labels", Json),
    ("annotations", Json),
    ("generation", Int),
];

const TABLES: &[Table] = &[
    Table {
        name: "pods",
        columns: &[
            ("namespace", Text),
            ("phase", Text),
            ("node_name", Text),
            ("pod_ip", Text),
            ("restarts", Int),
            ("containers", Int),
            ("ready", Bool),
            ("start_time", Time),
            ("spec", Json),
            ("status", Json),
            ("images", Json),
        ],
    },
    Table {
        name: "deployments",
        columns: &[
            ("namespace", Text),
            ("replicas", Int),
            ("ready_replicas", Int),
            ("unavailable_replicas", Int),
            ("spec", Json),
            ("images", Json),
        ],
    },
    Table {
        name: "nodes",
        columns: &[
            ("ready", Bool),
            ("unschedulable", Bool),
            ("kubelet_version", Text),
            ("zone", Text),
            ("cpu_capacity", Float),
            ("memory_capacity", Int),
            ("pods_capacity", Int),
            ("status", Json),
        ],
    },
    Table {
        name: "services",
        columns: &[
            ("namespace", Text),
            ("type", Text),
            ("cluster_ip", Text),
            ("ports", Json),
            ("selector", Json),
        ],
    },
    Table {
        name: "events",
        columns: &[
            ("namespace", Text),
            ("type", Text),
            ("reason", Text),
            ("message", Text),
            ("count", Int),
            ("last_timestamp", Time),
        ],
    },
    Table {
        name: "namespaces",
        columns: &[("phase", Text), ("status", Json)],
    },
];

/// `containers` has no metadata columns of its own; it is joined to pods.
const CONTAINERS: &[(&str, Ty)] = &[
    ("namespace", Text),
    ("pod_name", Text),
    ("name", Text),
    ("image", Text),
    ("cpu_request", Float),
    ("memory_limit", Int),
    ("restarts", Int),
    ("ready", Bool),
    ("state", Text),
    ("started_at", Time),
    ("ports", Json),
];

/// The columns a query's FROM clause brings into scope, qualified.
struct Scope {
    from: String,
    columns: Vec<(String, Ty)>,
}

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("a non-empty choice")
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn table(&mut self, alias: &str) -> (String, Vec<(String, Ty)>) {
        let table = self.pick(TABLES);
        let columns = COMMON
            .iter()
            .chain(table.columns)
            .map(|(c, ty)| (format!("{alias}.{c}"), *ty))
            .collect();
        (format!("{} {alias}", table.name), columns)
    }

    fn scope(&mut self) -> Scope {
        if self.chance(0.2) {
            let mut columns: Vec<(String, Ty)> = COMMON
                .iter()
                .chain(TABLES[0].columns)
                .map(|(c, ty)| (format!("t.{c}"), *ty))
                .collect();
            columns.extend(CONTAINERS.iter().map(|(c, ty)| (format!("u.{c}"), *ty)));
            let kind = self.pick(&["JOIN", "LEFT JOIN"]);
            return Scope {
                from: format!(
                    "pods t {kind} containers u ON u.pod_name = t.name AND u.namespace = t.namespace"
                ),
                columns,
            };
        }
        let (from, columns) = self.table("t");
        Scope { from, columns }
    }

    fn column(&mut self, scope: &Scope, ty: Ty) -> Option<String> {
        let of: Vec<&String> = scope
            .columns
            .iter()
            .filter(|(_, t)| *t == ty)
            .map(|(c, _)| c)
            .collect();
        of.choose(&mut self.rng).map(|c| c.to_string())
    }

    fn literal(&mut self, ty: Ty) -> String {
        let s: &[&str] = match ty {
            Int => &[
                "0",
                "1",
                "-1",
                "7",
                "2147483647",
                "9223372036854775807",
                "-9223372036854775807",
                "NULL::bigint",
            ],
            Float => &[
                "0.0",
                "0.5",
                "-1.5",
                "1e308",
                "'NaN'::float8",
                "'Infinity'::float8",
                "NULL::float8",
            ],
            Text => &[
                "''",
                "'web'",
                "'Running'",
                "'%'",
                "'a''b'",
                "'ünï'",
                "'kube-system'",
                "NULL",
            ],
            Bool => &["true", "false", "NULL::boolean"],
            Time => &[
                "now()",
                "TIMESTAMPTZ '2024-01-01 00:00:00+00'",
                "to_timestamp(0)",
                "NULL::timestamptz",
            ],
            Json => &[
                "'{\"app\": \"web\"}'::jsonb",
                "'[1, 2, 3]'::jsonb",
                "'null'::jsonb",
                "'{}'::jsonb",
            ],
        };
        self.pick(s).to_string()
    }

    fn leaf(&mut self, scope: &Scope, ty: Ty) -> String {
        if self.chance(0.7)
            && let Some(c) = self.column(scope, ty)
        {
            return c;
        }
        self.literal(ty)
    }

    fn key(&mut self) -> String {
        self.pick(&["'app'", "'tier'", "'a'", "''", "'containers'", "'phase'"])
            .to_string()
    }

    fn expr(&mut self, scope: &Scope, ty: Ty, depth: u32) -> String {
        if depth == 0 || self.chance(0.35) {
            return self.leaf(scope, ty);
        }
        let d = depth - 1;
        match ty {
            Int => match self.rng.random_range(0..12) {
                0 => {
                    let op = self.pick(&["+", "-", "*", "/", "%"]);
                    format!(
                        "({} {op} {})",
                        self.expr(scope, Int, d),
                        self.expr(scope, Int, d)
                    )
                }
                1 => format!("abs({})", self.expr(scope, Int, d)),
                2 => format!("length({})", self.expr(scope, Text, d)),
                3 => format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    self.expr(scope, Bool, d),
                    self.expr(scope, Int, d),
                    self.expr(scope, Int, d)
                ),
                4 => format!(
                    "coalesce({}, {})",
                    self.expr(scope, Int, d),
                    self.expr(scope, Int, d)
                ),
                5 => format!("CAST({} AS bigint)", self.expr(scope, Text, d)),
                6 => format!("CAST({} AS bigint)", self.expr(scope, Float, d)),
                7 => format!("({} ->> {})::int", self.expr(scope, Json, d), self.key()),
                8 => format!("-{}", self.expr(scope, Int, d)),
                9 => format!(
                    "strpos({}, {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Text, d)
                ),
                10 => format!(
                    "(SELECT count(*) FROM {} x)",
                    self.pick(&["pods", "nodes", "services", "events"])
                ),
                _ => format!(
                    "CAST(extract(year FROM {}) AS bigint)",
                    self.expr(scope, Time, d)
                ),
            },
            Float => match self.rng.random_range(0..7) {
                0 => {
                    let op = self.pick(&["+", "-", "*", "/"]);
                    format!(
                        "({} {op} {})",
                        self.expr(scope, Float, d),
                        self.expr(scope, Float, d)
                    )
                }
                1 => format!("sqrt({})", self.expr(scope, Float, d)),
                2 => format!("round({})", self.expr(scope, Float, d)),
                3 => format!("ln({})", self.expr(scope, Float, d)),
                4 => format!(
                    "power({}, {})",
                    self.expr(scope, Float, d),
                    self.expr(scope, Float, d)
                ),
                5 => format!("CAST({} AS double precision)", self.expr(scope, Int, d)),
                _ => format!("({} / 3.0)", self.expr(scope, Int, d)),
            },
            Text => match self.rng.random_range(0..16) {
                0 => format!(
                    "({} || {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Text, d)
                ),
                1 => format!(
                    "{}({})",
                    self.pick(&["upper", "lower", "trim", "md5", "reverse", "initcap"]),
                    self.expr(scope, Text, d)
                ),
                2 => format!(
                    "substr({}, {}, {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Int, d),
                    self.pick(&["1", "3", "0", "-1"])
                ),
                3 => format!(
                    "left({}, {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Int, d)
                ),
                4 => format!(
                    "replace({}, {}, {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Text, d),
                    self.expr(scope, Text, d)
                ),
                5 => format!(
                    "split_part({}, {}, {})",
                    self.expr(scope, Text, d),
                    self.pick(&["'-'", "','", "''"]),
                    self.pick(&["1", "2", "0", "-1"])
                ),
                6 => format!(
                    "lpad({}, {}, {})",
                    self.expr(scope, Text, d),
                    self.pick(&["0", "5", "-3", "20"]),
                    self.pick(&["'*'", "''"])
                ),
                7 => format!(
                    "regexp_replace({}, {}, {})",
                    self.expr(scope, Text, d),
                    self.pick(&["'^a'", "'[0-9]+'", "'('", "'.*'", "'a{2,}'"]),
                    self.expr(scope, Text, d)
                ),
                8 => format!("({} ->> {})", self.expr(scope, Json, d), self.key()),
                9 => format!(
                    "({} #>> {})",
                    self.expr(scope, Json, d),
                    self.pick(&["'{app}'", "'{spec,nodeName}'", "'{0}'", "'{}'"])
                ),
                10 => format!("CAST({} AS text)", self.expr(scope, Int, d)),
                11 => format!("CAST({} AS text)", self.expr(scope, Time, d)),
                12 => format!(
                    "concat({}, {})",
                    self.expr(scope, Text, d),
                    self.expr(scope, Int, d)
                ),
                13 => format!(
                    "repeat({}, {})",
                    self.expr(scope, Text, d),
                    self.pick(&["0", "3", "-1"])
                ),
                14 => format!("chr({})", self.pick(&["65", "0", "-1", "1114112"])),
                _ => format!(
                    "CASE WHEN {} THEN {} END",
                    self.expr(scope, Bool, d),
                    self.expr(scope, Text, d)
                ),
            },
            Bool => match self.rng.random_range(0..16) {
                0..=2 => {
                    let ty = *self.pick(&[Int, Float, Text, Time, Bool]);
                    let cmp = self.pick(&["=", "<>", "<", "<=", ">", ">="]);
                    format!(
                        "{} {cmp} {}",
                        self.expr(scope, ty, d),
                        self.expr(scope, ty, d)
                    )
                }
                3 => format!(
                    "({} AND {})",
                    self.expr(scope, Bool, d),
                    self.expr(scope, Bool, d)
                ),
                4 => format!(
                    "({} OR {})",
                    self.expr(scope, Bool, d),
                    self.expr(scope, Bool, d)
                ),
                5 => format!("NOT {}", self.expr(scope, Bool, d)),
                6 => {
                    let ty = *self.pick(&[Int, Text, Json, Time]);
                    let not = self.pick(&["", "NOT "]);
                    format!("{} IS {not}NULL", self.expr(scope, ty, d))
                }
                7 => format!(
                    "{} {} {}",
                    self.expr(scope, Text, d),
                    self.pick(&["LIKE", "ILIKE", "NOT LIKE"]),
                    self.pick(&["'web%'", "'%'", "'_'", "'%-%'", "'a\\%'"])
                ),
                8 => format!(
                    "{} {} {}",
                    self.expr(scope, Text, d),
                    self.pick(&["~", "~*", "!~"]),
                    self.pick(&["'^w'", "'('", "'[a-'", "'.*'", "'a|b'"])
                ),
                9 => format!("{} IN ('web', 'api', 'Running')", self.expr(scope, Text, d)),
                10 => format!(
                    "{} BETWEEN {} AND {}",
                    self.expr(scope, Int, d),
                    self.expr(scope, Int, d),
                    self.expr(scope, Int, d)
                ),
                11 => format!("{} ? {}", self.expr(scope, Json, d), self.key()),
                12 => format!(
                    "{} @> '{{\"app\": \"web\"}}'::jsonb",
                    self.expr(scope, Json, d)
                ),
                13 => format!(
                    "labels_match({}, {})",
                    self.column(scope, Json)
                        .unwrap_or_else(|| "'{}'::jsonb".into()),
                    self.pick(&[
                        "'app=web'",
                        "'app in (web,api)'",
                        "'!app'",
                        "'a in ('",
                        "''"
                    ])
                ),
                14 => format!(
                    "EXISTS (SELECT 1 FROM pods x WHERE x.node_name = {})",
                    self.expr(scope, Text, d)
                ),
                _ => format!(
                    "{} IN (SELECT name FROM namespaces)",
                    self.expr(scope, Text, d)
                ),
            },
            Time => match self.rng.random_range(0..4) {
                0 => format!(
                    "({} + interval '{}')",
                    self.expr(scope, Time, d),
                    self.pick(&["1 hour", "-2 days", "1 month", "0 seconds"])
                ),
                1 => format!(
                    "date_trunc({}, {})",
                    self.pick(&["'hour'", "'day'", "'month'", "'foo'"]),
                    self.expr(scope, Time, d)
                ),
                2 => format!("to_timestamp({})", self.expr(scope, Int, d)),
                _ => format!(
                    "coalesce({}, {})",
                    self.expr(scope, Time, d),
                    self.expr(scope, Time, d)
                ),
            },
            Json => match self.rng.random_range(0..4) {
                0 => format!("({} -> {})", self.expr(scope, Json, d), self.key()),
                1 => format!(
                    "({} -> {})",
                    self.expr(scope, Json, d),
                    self.pick(&["0", "1", "-1"])
                ),
                2 => format!(
                    "({} #> {})",
                    self.expr(scope, Json, d),
                    self.pick(&["'{app}'", "'{spec,containers}'", "'{}'"])
                ),
                _ => format!("coalesce({}, '{{}}'::jsonb)", self.expr(scope, Json, d)),
            },
        }
    }

    fn any_ty(&mut self) -> Ty {
        *self.pick(&[Int, Int, Float, Text, Text, Text, Bool, Time, Json])
    }

    fn aggregate(&mut self, scope: &Scope) -> String {
        match self.rng.random_range(0..9) {
            0 => "count(*)".into(),
            1 => format!("count(DISTINCT {})", self.expr(scope, Text, 1)),
            2 => format!("sum({})", self.expr(scope, Int, 1)),
            3 => format!("avg({})", self.expr(scope, Float, 1)),
            4 => format!("min({})", self.expr(scope, Text, 1)),
            5 => format!("max({})", self.expr(scope, Time, 1)),
            6 => format!("string_agg({}, ',')", self.expr(scope, Text, 1)),
            7 => format!("bool_and({})", self.expr(scope, Bool, 1)),
            _ => format!("stddev({})", self.expr(scope, Float, 1)),
        }
    }

    fn window(&mut self, scope: &Scope) -> String {
        let partition = if self.chance(0.5) {
            format!("PARTITION BY {} ", self.expr(scope, Text, 1))
        } else {
            String::new()
        };
        let by = *self.pick(&[Int, Text, Time]);
        let order = format!("ORDER BY {}", self.expr(scope, by, 1));
        let f = match self.rng.random_range(0..7) {
            0 => "row_number()".to_string(),
            1 => "rank()".to_string(),
            2 => "dense_rank()".to_string(),
            3 => format!("lag({}, 1)", self.expr(scope, Int, 1)),
            4 => format!("sum({})", self.expr(scope, Int, 1)),
            5 => format!("ntile({})", self.pick(&["1", "3", "0", "-2"])),
            _ => format!("first_value({})", self.expr(scope, Text, 1)),
        };
        format!("{f} OVER ({partition}{order})")
    }

    fn tail(&mut self) -> String {
        let mut out = String::new();
        if self.chance(0.5) {
            out += &format!(
                " ORDER BY 1{}",
                self.pick(&["", " DESC", " NULLS FIRST", " DESC NULLS LAST"])
            );
        }
        if self.chance(0.4) {
            out += &format!(" LIMIT {}", self.pick(&["0", "1", "5", "100"]));
        }
        if self.chance(0.1) {
            out += &format!(" OFFSET {}", self.pick(&["0", "3", "1000"]));
        }
        out
    }

    fn filter(&mut self, scope: &Scope) -> String {
        if self.chance(0.6) {
            format!(" WHERE {}", self.expr(scope, Bool, 3))
        } else {
            String::new()
        }
    }

    fn query(&mut self) -> String {
        let scope = self.scope();
        match self.rng.random_range(0..7) {
            0 | 1 => {
                let n = self.rng.random_range(1..4);
                let exprs: Vec<String> = (0..n)
                    .map(|_| {
                        let ty = self.any_ty();
                        self.expr(&scope, ty, 3)
                    })
                    .collect();
                format!(
                    "SELECT {} FROM {}{}{}",
                    exprs.join(", "),
                    scope.from,
                    self.filter(&scope),
                    self.tail()
                )
            }
            2 => {
                let having = if self.chance(0.3) {
                    format!(" HAVING count(*) > {}", self.pick(&["0", "1", "3"]))
                } else {
                    String::new()
                };
                format!(
                    "SELECT {} AS g, {} FROM {}{} GROUP BY 1{having} ORDER BY 1",
                    self.expr(&scope, Text, 2),
                    self.aggregate(&scope),
                    scope.from,
                    self.filter(&scope)
                )
            }
            3 => format!(
                "SELECT {}, {} FROM {}{}{}",
                self.expr(&scope, Text, 1),
                self.window(&scope),
                scope.from,
                self.filter(&scope),
                self.tail()
            ),
            4 => format!(
                "WITH s AS (SELECT {} AS a, {} AS b FROM {}{}) SELECT a, count(*), sum(b) FROM s GROUP BY a ORDER BY 1",
                self.expr(&scope, Text, 2),
                self.expr(&scope, Int, 2),
                scope.from,
                self.filter(&scope)
            ),
            5 => {
                let other = self.scope();
                format!(
                    "SELECT {} AS a FROM {}{} {} SELECT {} FROM {}{} ORDER BY 1 LIMIT 20",
                    self.expr(&scope, Text, 2),
                    scope.from,
                    self.filter(&scope),
                    self.pick(&["UNION", "UNION ALL", "EXCEPT", "INTERSECT"]),
                    self.expr(&other, Text, 2),
                    other.from,
                    self.filter(&other)
                )
            }
            _ => format!(
                "SELECT count(*), max(v) FROM (SELECT {} AS v FROM {}{}) sub",
                self.expr(&scope, Int, 3),
                scope.from,
                self.filter(&scope)
            ),
        }
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
async fn random_queries_over_the_demo_get_an_answer_or_postgresqls_sqlstate() {
    let (server, health) = start(&[]);
    let cases = env_number("KUBEPG_FUZZ_CASES", CASES as u64);
    let mut g = Gen {
        rng: StdRng::seed_from_u64(env_number("KUBEPG_FUZZ_SEED", 20_261_201)),
    };
    let set_timeout = format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'");
    let mut db = connect(server.port).await;
    db.simple_query(&set_timeout).await.unwrap();
    let mut failures = Vec::new();
    let mut answered = 0;
    for _ in 0..cases {
        let sql = g.query();
        // A bound well past the statement timeout: only a hang reaches it.
        let outcome = tokio::time::timeout(Duration::from_secs(60), db.simple_query(&sql)).await;
        match outcome {
            Err(_) => failures.push(format!("no answer within 60 s: {sql}")),
            Ok(Ok(_)) => answered += 1,
            Ok(Err(e)) => match e.code().map(|c| c.code()) {
                Some("XX000") => failures.push(format!(
                    "XX000 {}: {sql}",
                    e.as_db_error().map_or("", |d| d.message())
                )),
                Some(_) => {}
                None => {
                    failures.push(format!("connection lost ({e}): {sql}"));
                    db = connect(server.port).await;
                    db.simple_query(&set_timeout).await.unwrap();
                }
            },
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cases} queries failed:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
    // A grammar that produced only errors would test nothing.
    assert!(
        answered > cases as usize / 3,
        "only {answered} of {cases} answered"
    );
    let fresh = connect(server.port).await;
    assert_eq!(
        crate::serve_hostile::outcome(&fresh, "SELECT 1").await,
        Ok(Some("1".into()))
    );
    assert_eq!(
        common::http_get(health, "/healthz").await,
        (200, "ok\n".into())
    );
}
