//! The one pushdown classifier: for each filter DataFusion offers a table, whether the API can
//! evaluate it exactly (namespace endpoint, label selector, field selector, cluster choice), can
//! narrow it (and DataFusion re-checks), or cannot help. `supports_filters_pushdown` and the scan
//! both call [`classify`], so what is promised and what is sent never disagree.

use std::collections::BTreeSet;

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::scalar::ScalarValue;
use kubepg_kube::selector::{
    FieldOp, FieldRequirement, FieldSelector, LabelRequirement, LabelSelector, valid_label_key,
    valid_label_value,
};

use crate::columns::ColumnSpec;

use TableProviderFilterPushDown::{Exact, Inexact, Unsupported};

/// What a scan asks of the API, from the filters it was given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pushdown {
    /// Each inner list is one `_cluster` filter's patterns; a cluster is scanned when it matches
    /// some pattern of every list. Empty: the session's scope.
    pub clusters: Vec<Vec<String>>,
    /// `None`: every namespace. `Some(empty)`: the filters contradict, nothing is listed.
    pub namespaces: Option<BTreeSet<String>>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Pushdown {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
            && self.namespaces.is_none()
            && self.labels.is_empty()
            && self.fields.is_empty()
    }
}

/// The verdict on each filter and the request they add up to.
pub fn classify(
    filters: &[&Expr],
    columns: &[ColumnSpec],
    namespaced: bool,
) -> (Pushdown, Vec<TableProviderFilterPushDown>) {
    let mut p = Pushdown::default();
    let verdicts = filters
        .iter()
        .map(|f| classify_one(f, columns, namespaced, &mut p))
        .collect();
    (p, verdicts)
}

fn classify_one(
    expr: &Expr,
    columns: &[ColumnSpec],
    namespaced: bool,
    p: &mut Pushdown,
) -> TableProviderFilterPushDown {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right })
            if matches!(op, Operator::Eq | Operator::NotEq) =>
        {
            let (target, value) = match (target_of(left), literal(right)) {
                (Some(t), Some(v)) => (t, v),
                _ => match (target_of(right), literal(left)) {
                    (Some(t), Some(v)) => (t, v),
                    _ => return Unsupported,
                },
            };
            if *op == Operator::Eq {
                equals(target, value, columns, namespaced, p)
            } else {
                not_equals(target, value, columns, namespaced, p)
            }
        }
        // DataFusion turns a short `IN (...)` into `x = a OR x = b`.
        Expr::BinaryExpr(BinaryExpr {
            op: Operator::Or, ..
        }) => match or_of_equalities(expr) {
            Some((target, values)) => in_list(target, values, false, namespaced, p),
            None => Unsupported,
        },
        Expr::InList(list) => {
            let Some(target) = target_of(&list.expr) else {
                return Unsupported;
            };
            let Some(values) = list.list.iter().map(literal).collect::<Option<Vec<_>>>() else {
                return Unsupported;
            };
            in_list(target, values, list.negated, namespaced, p)
        }
        Expr::ScalarFunction(_) => match label_exists(expr) {
            Some(key) if valid_label_key(&key) => {
                p.labels.push(LabelRequirement::Exists(key));
                Exact
            }
            _ => Unsupported,
        },
        // DataFusion simplifies `flag = true` to `flag` and `flag = false` to `NOT flag`.
        Expr::Column(c) => equals(
            Target::Column(c.name.clone()),
            Lit::Bool(true),
            columns,
            namespaced,
            p,
        ),
        Expr::Not(inner) if matches!(inner.as_ref(), Expr::Column(_)) => match inner.as_ref() {
            Expr::Column(c) => equals(
                Target::Column(c.name.clone()),
                Lit::Bool(false),
                columns,
                namespaced,
                p,
            ),
            _ => Unsupported,
        },
        Expr::Not(inner) => match label_exists(inner) {
            // Objects without any labels make `NOT (labels ? 'k')` NULL in SQL but match `!k`:
            // the selector narrows, DataFusion decides.
            Some(key) if valid_label_key(&key) => {
                p.labels.push(LabelRequirement::NotExists(key));
                Inexact
            }
            _ => Unsupported,
        },
        Expr::IsNotNull(inner) | Expr::IsNull(inner) => match target_of(inner) {
            Some(Target::Label(key)) if valid_label_key(&key) => {
                p.labels.push(if matches!(expr, Expr::IsNotNull(_)) {
                    LabelRequirement::Exists(key)
                } else {
                    LabelRequirement::NotExists(key)
                });
                Exact
            }
            _ => Unsupported,
        },
        Expr::Between(Between { .. }) => Unsupported,
        _ => Unsupported,
    }
}

/// What a filter's non-literal side refers to.
enum Target {
    Column(String),
    /// `labels->>'key'`.
    Label(String),
}

fn target_of(e: &Expr) -> Option<Target> {
    match e {
        Expr::Column(c) => Some(Target::Column(c.name.clone())),
        Expr::ScalarFunction(f)
            if matches!(f.name(), "json_as_text" | "json_get_str") && f.args.len() == 2 =>
        {
            match (&f.args[0], literal(&f.args[1])) {
                (Expr::Column(c), Some(Lit::Str(key))) if c.name == "labels" => {
                    Some(Target::Label(key))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `x = a OR x = b OR ...` on one target, as that target and its values.
fn or_of_equalities(e: &Expr) -> Option<(Target, Vec<Lit>)> {
    let mut disjuncts = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                stack.push(right);
                stack.push(left);
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => {
                let pair = match (target_of(left), literal(right)) {
                    (Some(t), Some(v)) => (t, v),
                    _ => (target_of(right)?, literal(left)?),
                };
                disjuncts.push(pair);
            }
            _ => return None,
        }
    }
    let mut iter = disjuncts.into_iter();
    let (first, value) = iter.next()?;
    let mut values = vec![value];
    for (t, v) in iter {
        if !t.same_as(&first) {
            return None;
        }
        values.push(v);
    }
    Some((first, values))
}

impl Target {
    fn same_as(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Column(a), Target::Column(b)) | (Target::Label(a), Target::Label(b)) => a == b,
            _ => false,
        }
    }
}

/// `labels ? 'key'`.
fn label_exists(e: &Expr) -> Option<String> {
    match e {
        Expr::ScalarFunction(f) if f.name() == "json_contains" && f.args.len() == 2 => {
            match (&f.args[0], literal(&f.args[1])) {
                (Expr::Column(c), Some(Lit::Str(key))) if c.name == "labels" => Some(key),
                _ => None,
            }
        }
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Lit {
    Str(String),
    Bool(bool),
}

impl Lit {
    fn as_field_value(&self) -> String {
        match self {
            Lit::Str(s) => s.clone(),
            Lit::Bool(b) => b.to_string(),
        }
    }
}

fn literal(e: &Expr) -> Option<Lit> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(Lit::Str(s.clone())),
        Expr::Literal(ScalarValue::Boolean(Some(b)), _) => Some(Lit::Bool(*b)),
        Expr::Cast(c) => literal(&c.expr),
        Expr::TryCast(c) => literal(&c.expr),
        _ => None,
    }
}

fn field_path<'a>(columns: &'a [ColumnSpec], name: &str) -> Option<&'a str> {
    columns
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.field_path.as_deref())
}

fn intersect_namespaces(p: &mut Pushdown, values: BTreeSet<String>) {
    p.namespaces = Some(match p.namespaces.take() {
        None => values,
        Some(prev) => prev.intersection(&values).cloned().collect(),
    });
}

fn equals(
    target: Target,
    value: Lit,
    columns: &[ColumnSpec],
    namespaced: bool,
    p: &mut Pushdown,
) -> TableProviderFilterPushDown {
    match (target, value) {
        (Target::Column(c), Lit::Str(v)) if c == "_cluster" => {
            p.clusters.push(vec![v]);
            Exact
        }
        (Target::Column(c), Lit::Str(v)) if c == "namespace" && namespaced => {
            intersect_namespaces(p, BTreeSet::from([v]));
            Exact
        }
        (Target::Label(k), Lit::Str(v))
            if valid_label_key(&k) && valid_label_value(&v) && !v.is_empty() =>
        {
            p.labels.push(LabelRequirement::Equals(k, v));
            Exact
        }
        (Target::Column(c), v) => match field_path(columns, &c) {
            Some(path) => {
                let value = v.as_field_value();
                // The server compares a missing field as "", where SQL has NULL.
                let verdict = if value.is_empty() { Inexact } else { Exact };
                p.fields.push(FieldRequirement {
                    path: path.to_string(),
                    op: FieldOp::Eq,
                    value,
                });
                verdict
            }
            None => Unsupported,
        },
        _ => Unsupported,
    }
}

fn not_equals(
    target: Target,
    value: Lit,
    columns: &[ColumnSpec],
    namespaced: bool,
    p: &mut Pushdown,
) -> TableProviderFilterPushDown {
    match (target, value) {
        (Target::Column(c), Lit::Str(v)) if c == "namespace" && namespaced => {
            p.fields.push(FieldRequirement {
                path: "metadata.namespace".into(),
                op: FieldOp::NotEq,
                value: v,
            });
            Exact
        }
        (Target::Label(k), Lit::Str(v)) if valid_label_key(&k) && valid_label_value(&v) => {
            // `k!=v` alone also matches objects without `k`, whose `labels->>'k'` is NULL.
            p.labels.push(LabelRequirement::Exists(k.clone()));
            p.labels.push(LabelRequirement::NotEquals(k, v));
            Exact
        }
        (Target::Column(c), v) if c != "_cluster" => match field_path(columns, &c) {
            Some(path) => {
                p.fields.push(FieldRequirement {
                    path: path.to_string(),
                    op: FieldOp::NotEq,
                    value: v.as_field_value(),
                });
                // `name` is never missing; other fields may be, and SQL drops those rows.
                if c == "name" { Exact } else { Inexact }
            }
            None => Unsupported,
        },
        _ => Unsupported,
    }
}

fn in_list(
    target: Target,
    values: Vec<Lit>,
    negated: bool,
    namespaced: bool,
    p: &mut Pushdown,
) -> TableProviderFilterPushDown {
    let strings: Option<Vec<String>> = values
        .into_iter()
        .map(|v| match v {
            Lit::Str(s) => Some(s),
            Lit::Bool(_) => None,
        })
        .collect();
    let Some(strings) = strings else {
        return Unsupported;
    };
    match target {
        Target::Column(c) if c == "_cluster" && !negated => {
            p.clusters.push(strings);
            Exact
        }
        Target::Column(c) if c == "namespace" && namespaced && !negated => {
            intersect_namespaces(p, strings.into_iter().collect());
            Exact
        }
        Target::Label(k)
            if valid_label_key(&k)
                && strings.iter().all(|v| valid_label_value(v))
                && !strings.is_empty() =>
        {
            if negated {
                p.labels.push(LabelRequirement::Exists(k.clone()));
                p.labels.push(LabelRequirement::NotIn(k, strings));
            } else {
                p.labels.push(LabelRequirement::In(k, strings));
            }
            Exact
        }
        _ => Unsupported,
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::{col, lit};
    use datafusion_functions_json::udfs::{json_as_text_udf, json_contains_udf};
    use kubepg_kube::ResourceInfo;

    use super::*;

    fn pods() -> Vec<ColumnSpec> {
        crate::kinds::table_columns(&ResourceInfo {
            group: String::new(),
            version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
            singular: "pod".into(),
            short_names: vec!["po".into()],
            namespaced: true,
            verbs: vec!["list".into()],
            crd: None,
        })
    }

    fn label(key: &str) -> Expr {
        json_as_text_udf().call(vec![col("labels"), lit(key)])
    }

    /// What the filters ask of the API, as query parameters, and each filter's verdict.
    fn sent(
        filters: &[Expr],
    ) -> (
        Option<Vec<String>>,
        String,
        String,
        Vec<TableProviderFilterPushDown>,
    ) {
        let refs: Vec<&Expr> = filters.iter().collect();
        let (p, verdicts) = classify(&refs, &pods(), true);
        (
            p.namespaces.map(|n| n.into_iter().collect()),
            p.labels.to_query().unwrap_or_default(),
            p.fields.to_query().unwrap_or_default(),
            verdicts,
        )
    }

    #[test]
    fn namespaces_become_the_namespaces_listed_and_contradictions_list_nothing() {
        let (ns, ..) = sent(&[col("namespace").eq(lit("shop"))]);
        assert_eq!(ns, Some(vec!["shop".to_string()]));
        let (ns, _, _, v) = sent(&[col("namespace")
            .eq(lit("a"))
            .or(col("namespace").eq(lit("b")))]);
        assert_eq!((ns, v), (Some(vec!["a".into(), "b".into()]), vec![Exact]));
        let (ns, ..) = sent(&[col("namespace").eq(lit("a")), col("namespace").eq(lit("b"))]);
        assert_eq!(ns, Some(vec![]));
        let (ns, _, fields, v) = sent(&[col("namespace").not_eq(lit("kube-system"))]);
        assert_eq!(
            (ns, fields.as_str(), v),
            (None, "metadata.namespace!=kube-system", vec![Exact])
        );
    }

    #[test]
    fn label_filters_become_label_selectors_with_sqls_null_semantics() {
        let (_, labels, _, v) = sent(&[label("app").eq(lit("web"))]);
        assert_eq!((labels.as_str(), v), ("app=web", vec![Exact]));
        // SQL drops rows without the label; the selector must too.
        let (_, labels, ..) = sent(&[label("app").not_eq(lit("web"))]);
        assert_eq!(labels, "app,app!=web");
        let (_, labels, _, v) = sent(&[json_contains_udf().call(vec![col("labels"), lit("tier")])]);
        assert_eq!((labels.as_str(), v), ("tier", vec![Exact]));
        let (_, labels, _, v) = sent(&[label("app").is_null()]);
        assert_eq!((labels.as_str(), v), ("!app", vec![Exact]));
        // A value no selector can carry is not sent, and DataFusion filters.
        let (_, labels, _, v) = sent(&[label("app").eq(lit("has space"))]);
        assert_eq!((labels.as_str(), v), ("", vec![Unsupported]));
    }

    #[test]
    fn field_selectors_are_exact_for_equality_and_narrow_for_inequality() {
        let (_, _, fields, v) = sent(&[col("phase").eq(lit("Running"))]);
        assert_eq!((fields.as_str(), v), ("status.phase=Running", vec![Exact]));
        // A missing field is "" to the server and NULL to SQL.
        let (_, _, fields, v) = sent(&[col("phase").not_eq(lit("Running"))]);
        assert_eq!(
            (fields.as_str(), v),
            ("status.phase!=Running", vec![Inexact])
        );
        let (_, _, fields, v) = sent(&[col("name").eq(lit("web-1"))]);
        assert_eq!((fields.as_str(), v), ("metadata.name=web-1", vec![Exact]));
        let (_, _, fields, v) = sent(&[col("restarts").gt(lit(3))]);
        assert_eq!((fields.as_str(), v), ("", vec![Unsupported]));
    }

    #[test]
    fn cluster_filters_choose_clusters_and_nothing_else() {
        let refs = [col("_cluster").eq(lit("prod-*"))];
        let (p, v) = classify(&refs.iter().collect::<Vec<_>>(), &pods(), true);
        assert_eq!(
            (p.clusters, v),
            (vec![vec!["prod-*".to_string()]], vec![Exact])
        );
    }
}
