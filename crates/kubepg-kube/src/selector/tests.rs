use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::field::*;
use super::label::*;
use crate::Error;
use serde_json::json;

fn labels(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("labels must be an object, got {other}"),
    }
}

fn sel(s: &str) -> LabelSelector {
    LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn fsel(s: &str) -> FieldSelector {
    FieldSelector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn st(v: &str) -> String {
    v.to_string()
}

// --- label selectors: evaluation -------------------------------------------------------

#[test]
fn empty_selector_matches_everything_and_has_no_query() {
    let empty = LabelSelector::default();
    assert!(empty.is_empty());
    assert_eq!(empty.to_query(), None);
    assert!(empty.matches(None));
    assert!(empty.matches(Some(&labels(json!({"app": "web"})))));
    assert_eq!(sel(""), empty);
    assert_eq!(sel("  \t "), empty);
}

#[test]
fn equals_requires_the_key_with_that_value() {
    let s = sel("app=web");
    assert!(s.matches(Some(&labels(json!({"app": "web", "x": "y"})))));
    assert!(!s.matches(Some(&labels(json!({"app": "db"})))));
    assert!(!s.matches(Some(&labels(json!({"other": "web"})))));
    assert!(!s.matches(None));
}

#[test]
fn equals_empty_value_matches_only_a_present_empty_label() {
    let s = sel("app=");
    assert!(s.matches(Some(&labels(json!({"app": ""})))));
    assert!(!s.matches(Some(&labels(json!({})))));
    assert!(!s.matches(None));
}

#[test]
fn not_equals_matches_objects_without_the_key() {
    let s = sel("app!=web");
    assert!(s.matches(None));
    assert!(s.matches(Some(&labels(json!({})))));
    assert!(s.matches(Some(&labels(json!({"app": "db"})))));
    assert!(!s.matches(Some(&labels(json!({"app": "web"})))));
}

#[test]
fn in_requires_the_key_with_one_of_the_values() {
    let s = sel("tier in (a,b)");
    assert!(s.matches(Some(&labels(json!({"tier": "a"})))));
    assert!(s.matches(Some(&labels(json!({"tier": "b"})))));
    assert!(!s.matches(Some(&labels(json!({"tier": "c"})))));
    assert!(!s.matches(None));
}

#[test]
fn not_in_matches_objects_without_the_key() {
    let s = sel("tier notin (a,b)");
    assert!(s.matches(None));
    assert!(s.matches(Some(&labels(json!({"app": "x"})))));
    assert!(s.matches(Some(&labels(json!({"tier": "c"})))));
    assert!(!s.matches(Some(&labels(json!({"tier": "a"})))));
}

#[test]
fn in_with_no_values_never_matches() {
    let s = LabelSelector {
        requirements: vec![LabelRequirement::In(st("tier"), vec![])],
    };
    assert!(!s.matches(None));
    assert!(!s.matches(Some(&labels(json!({"tier": ""})))));
    assert!(!s.matches(Some(&labels(json!({"tier": "a"})))));
}

#[test]
fn not_in_with_no_values_matches_everything() {
    let s = LabelSelector {
        requirements: vec![LabelRequirement::NotIn(st("tier"), vec![])],
    };
    assert!(s.matches(None));
    assert!(s.matches(Some(&labels(json!({"tier": "a"})))));
}

#[test]
fn exists_and_not_exists_look_only_at_the_key() {
    let exists = sel("legacy");
    let absent = sel("!legacy");
    let with_empty = labels(json!({"legacy": ""}));
    let with_value = labels(json!({"legacy": "true"}));
    let without = labels(json!({"app": "web"}));
    assert!(exists.matches(Some(&with_empty)));
    assert!(exists.matches(Some(&with_value)));
    assert!(!exists.matches(Some(&without)));
    assert!(!exists.matches(None));
    assert!(!absent.matches(Some(&with_empty)));
    assert!(absent.matches(Some(&without)));
    assert!(absent.matches(None));
}

#[test]
fn objects_without_labels_match_only_absence_requirements() {
    for (q, expected) in [
        ("a=b", false),
        ("a!=b", true),
        ("a in (b)", false),
        ("a notin (b)", true),
        ("a", false),
        ("!a", true),
    ] {
        assert_eq!(sel(q).matches(None), expected, "{q}");
    }
}

#[test]
fn all_requirements_must_match() {
    let s = sel("app=web,tier in (front,back),!legacy");
    assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "front"})))));
    assert!(!s.matches(Some(&labels(json!({"app": "web", "tier": "mid"})))));
    assert!(!s.matches(Some(&labels(
        json!({"app": "web", "tier": "front", "legacy": "1"})
    ))));
}

#[test]
fn non_string_label_values_compare_by_their_text() {
    let l = labels(json!({"version": 2, "canary": true, "empty": null}));
    assert!(sel("version=2").matches(Some(&l)));
    assert!(sel("canary=true").matches(Some(&l)));
    assert!(sel("empty=").matches(Some(&l)));
    assert!(sel("empty").matches(Some(&l)));
}

// --- label selectors: query strings ----------------------------------------------------

#[test]
fn to_query_renders_each_operator_like_apimachinery() {
    let mut s = LabelSelector::default();
    s.push(LabelRequirement::Equals(st("app"), st("web")));
    s.push(LabelRequirement::NotEquals(st("env"), st("prod")));
    s.push(LabelRequirement::In(st("tier"), vec![st("a"), st("b")]));
    s.push(LabelRequirement::NotIn(st("zone"), vec![st("x")]));
    s.push(LabelRequirement::Exists(st("example.com/owner")));
    s.push(LabelRequirement::NotExists(st("legacy")));
    assert_eq!(
        s.to_query().as_deref(),
        Some("app=web,env!=prod,tier in (a,b),zone notin (x),example.com/owner,!legacy")
    );
}

#[test]
fn to_query_sorts_and_dedups_set_values() {
    let s = LabelSelector {
        requirements: vec![LabelRequirement::In(
            st("k"),
            vec![st("c"), st("a"), st("c"), st("b")],
        )],
    };
    assert_eq!(s.to_query().as_deref(), Some("k in (a,b,c)"));
}

#[test]
fn to_query_writes_the_empty_value_as_an_empty_member() {
    let s = LabelSelector {
        requirements: vec![
            LabelRequirement::In(st("k"), vec![st("")]),
            LabelRequirement::In(st("j"), vec![st("a"), st("")]),
            LabelRequirement::Equals(st("e"), st("")),
        ],
    };
    let q = s.to_query().unwrap_or_default();
    assert_eq!(q, "k in (),j in (,a),e=");
    assert_eq!(sel(&q), s.normalized());
}

#[test]
fn to_query_turns_unsatisfiable_requirements_into_a_contradiction() {
    let never = |r: LabelRequirement| {
        LabelSelector {
            requirements: vec![r],
        }
        .to_query()
    };
    assert_eq!(
        never(LabelRequirement::In(st("tier"), vec![])).as_deref(),
        Some("tier,!tier")
    );
    assert_eq!(
        never(LabelRequirement::In(st("tier"), vec![st("not valid")])).as_deref(),
        Some("tier,!tier")
    );
    assert_eq!(
        never(LabelRequirement::Equals(st("app"), st("a b"))).as_deref(),
        Some("app,!app")
    );
    assert_eq!(
        never(LabelRequirement::Exists(st("bad key"))).as_deref(),
        Some("kubepg.invalid/never,!kubepg.invalid/never")
    );
    // The contradiction is itself valid syntax and really matches nothing.
    let q = never(LabelRequirement::In(st("tier"), vec![])).unwrap_or_default();
    let parsed = sel(&q);
    assert!(!parsed.matches(None));
    assert!(!parsed.matches(Some(&labels(json!({"tier": "a"})))));
}

#[test]
fn to_query_drops_requirements_every_object_satisfies() {
    let s = LabelSelector {
        requirements: vec![
            LabelRequirement::NotIn(st("tier"), vec![]),
            LabelRequirement::NotEquals(st("app"), st("has space")),
            LabelRequirement::NotExists(st("-bad")),
            LabelRequirement::NotIn(st("zone"), vec![st("ok"), st("not ok")]),
        ],
    };
    assert_eq!(s.to_query().as_deref(), Some("zone notin (ok)"));
    let vacuous = LabelSelector {
        requirements: vec![LabelRequirement::NotIn(st("tier"), vec![])],
    };
    assert!(!vacuous.is_empty());
    assert_eq!(vacuous.to_query(), None);
}

// --- label selectors: parsing ----------------------------------------------------------

impl LabelSelector {
    /// What `parse` gives back for this selector: set values sorted and de-duplicated.
    fn normalized(&self) -> LabelSelector {
        let norm = |vs: &Vec<String>| {
            vs.iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        };
        LabelSelector {
            requirements: self
                .requirements
                .iter()
                .map(|r| match r {
                    LabelRequirement::In(k, vs) => LabelRequirement::In(k.clone(), norm(vs)),
                    LabelRequirement::NotIn(k, vs) => LabelRequirement::NotIn(k.clone(), norm(vs)),
                    other => other.clone(),
                })
                .collect(),
        }
    }
}

#[test]
fn parse_reads_every_operator() {
    use LabelRequirement::*;
    assert_eq!(
        sel("a=1,b==2,c!=3,d in (x,y),e notin (z),f,!g").requirements,
        vec![
            Equals(st("a"), st("1")),
            Equals(st("b"), st("2")),
            NotEquals(st("c"), st("3")),
            In(st("d"), vec![st("x"), st("y")]),
            NotIn(st("e"), vec![st("z")]),
            Exists(st("f")),
            NotExists(st("g")),
        ]
    );
}

#[test]
fn parse_then_to_query_round_trips() {
    for q in [
        "app=web",
        "app!=web",
        "app=",
        "tier in (a,b)",
        "tier notin (a)",
        "legacy",
        "!legacy",
        "k in ()",
        "k in (,a)",
        "example.com/app=web,app.kubernetes.io/name in (db,web),!kubernetes.io/legacy",
        "a=b,c!=d,e in (f),g notin (h,i),j,!k",
    ] {
        assert_eq!(sel(q).to_query().as_deref(), Some(q), "{q}");
    }
}

#[test]
fn to_query_then_parse_round_trips() {
    use LabelRequirement::*;
    let selectors = [
        vec![Equals(st("app"), st("web"))],
        vec![NotEquals(st("app"), st(""))],
        vec![In(st("x.io/tier"), vec![st("b"), st("a"), st("b")])],
        vec![NotIn(st("in"), vec![st("notin"), st("in")])],
        vec![
            Exists(st("a")),
            NotExists(st("b")),
            Equals(st("c"), st("D.e_f-9")),
        ],
    ];
    for requirements in selectors {
        let original = LabelSelector { requirements };
        let q = original.to_query().unwrap_or_default();
        assert_eq!(sel(&q), original.normalized(), "{q}");
    }
}

#[test]
fn parse_sorts_and_dedups_set_values() {
    assert_eq!(
        sel("k in (c,a,c,b)").requirements,
        vec![LabelRequirement::In(
            st("k"),
            vec![st("a"), st("b"), st("c")]
        )]
    );
}

#[test]
fn parse_ignores_whitespace_between_tokens() {
    assert_eq!(
        sel(" app = web ,\ttier  in ( a , b ) ,\n! legacy , x !=y"),
        sel("app=web,tier in (a,b),!legacy,x!=y")
    );
    assert_eq!(sel("tier in(a)"), sel("tier in (a)"));
}

#[test]
fn parse_treats_empty_parentheses_as_the_empty_value() {
    let s = sel("k in ()");
    assert_eq!(
        s.requirements,
        vec![LabelRequirement::In(st("k"), vec![st("")])]
    );
    assert!(s.matches(Some(&labels(json!({"k": ""})))));
    assert!(!s.matches(Some(&labels(json!({"k": "a"})))));
}

#[test]
fn parse_accepts_empty_values_inside_sets() {
    let set = |q: &str| match sel(q).requirements.as_slice() {
        [LabelRequirement::In(_, vs)] => vs.clone(),
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(set("k in (,a)"), vec![st(""), st("a")]);
    assert_eq!(set("k in (a,)"), vec![st(""), st("a")]);
    assert_eq!(set("k in (a,,b)"), vec![st(""), st("a"), st("b")]);
    assert_eq!(set("k in (,)"), vec![st("")]);
}

#[test]
fn parse_accepts_in_and_notin_as_keys_and_values() {
    assert_eq!(
        sel("in in (notin),notin=in").requirements,
        vec![
            LabelRequirement::In(st("in"), vec![st("notin")]),
            LabelRequirement::Equals(st("notin"), st("in")),
        ]
    );
    assert_eq!(
        sel("in").requirements,
        vec![LabelRequirement::Exists(st("in"))]
    );
}

#[test]
fn parse_rejects_malformed_syntax() {
    for q in [
        ",",
        "a,",
        ",a",
        "a,,b",
        "a b",
        "a=b=c",
        "a=(b)",
        "a in b",
        "a in (b",
        "a in (b c)",
        "a in (b,,)",
        "a in (,,)",
        "a notin",
        "(a)",
        "=a",
        "!",
        "!a=b",
        "!a in (b)",
        "a=b c",
    ] {
        assert!(LabelSelector::parse(q).is_err(), "{q:?} should be rejected");
    }
}

#[test]
fn parse_rejects_invalid_keys_and_values() {
    for q in [
        "-a=b",
        "a-=b",
        "a b=c",
        "Example.com/a=b",
        "/a=b",
        "a/=b",
        "a/b/c=d",
        "a=-b",
        "a=b-",
        "a=has/slash",
        "a in (ok,-bad)",
        "a notin (bad_)",
        "!bad_",
        "é=b",
    ] {
        assert!(LabelSelector::parse(q).is_err(), "{q:?} should be rejected");
    }
    let long_value = format!("a={}", "v".repeat(64));
    assert!(LabelSelector::parse(&long_value).is_err());
    let max_value = format!("a={}", "v".repeat(63));
    assert!(LabelSelector::parse(&max_value).is_ok());
}

#[test]
fn parse_rejects_greater_and_less_than() {
    for q in ["replicas>1", "replicas<3"] {
        match LabelSelector::parse(q) {
            Err(Error::Selector(msg)) => assert!(msg.contains("not supported"), "{msg}"),
            other => panic!("{q}: {other:?}"),
        }
    }
}

#[test]
fn parse_errors_are_selector_errors_naming_the_input() {
    match LabelSelector::parse("app==web,") {
        Err(Error::Selector(msg)) => assert!(msg.contains("app==web,"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match FieldSelector::parse("metadata.name") {
        Err(Error::Selector(msg)) => assert!(msg.contains("metadata.name"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

// --- label keys and values -------------------------------------------------------------

#[test]
fn valid_label_key_follows_qualified_name_rules() {
    for k in [
        "a",
        "A",
        "9",
        "app",
        "App_Name.v-1",
        "example.com/app",
        "app.kubernetes.io/name",
        "a-b.c/D_e",
        "k8s.io/x",
    ] {
        assert!(valid_label_key(k), "{k:?} should be valid");
    }
    let name63 = "n".repeat(63);
    let prefix253 = format!("{}.{}", "p".repeat(126), "q".repeat(126));
    assert_eq!(prefix253.len(), 253);
    assert!(valid_label_key(&name63));
    assert!(valid_label_key(&format!("{prefix253}/{name63}")));
    for k in [
        "".to_string(),
        "-a".into(),
        "a-".into(),
        "_a".into(),
        ".a".into(),
        "a b".into(),
        "a=b".into(),
        "/a".into(),
        "a/".into(),
        "a/b/c".into(),
        "Example.com/a".into(),
        "ex_ample.com/a".into(),
        "-ex.com/a".into(),
        "ex..com/a".into(),
        "ex.com./a".into(),
        "é".into(),
        "n".repeat(64),
        format!("{prefix253}x/a"),
    ] {
        assert!(!valid_label_key(&k), "{k:?} should be invalid");
    }
}

#[test]
fn valid_label_value_follows_label_value_rules() {
    for v in ["", "a", "Z9", "web", "v1.2.3", "a_b-c.D"] {
        assert!(valid_label_value(v), "{v:?} should be valid");
    }
    assert!(valid_label_value(&"v".repeat(63)));
    for v in ["-a", "a-", ".a", "a.", "_", "a b", "a/b", "a,b", "é", "a=b"] {
        assert!(!valid_label_value(v), "{v:?} should be invalid");
    }
    assert!(!valid_label_value(&"v".repeat(64)));
}

// --- field selectors -------------------------------------------------------------------

fn field(path: &str, op: FieldOp, value: &str) -> FieldRequirement {
    FieldRequirement {
        path: path.into(),
        op,
        value: value.into(),
    }
}

#[test]
fn empty_field_selector_matches_everything_and_has_no_query() {
    let empty = FieldSelector::default();
    assert!(empty.is_empty());
    assert_eq!(empty.to_query(), None);
    assert!(empty.matches(&json!({})));
    assert_eq!(fsel(""), empty);
    assert_eq!(fsel(",,"), empty);
}

#[test]
fn field_to_query_escapes_backslash_comma_and_equals() {
    let mut s = FieldSelector::default();
    s.push(field("metadata.name", FieldOp::Eq, r"a\b,c=d"));
    s.push(field("spec.nodeName", FieldOp::NotEq, "node-1"));
    assert_eq!(
        s.to_query().as_deref(),
        Some(r"metadata.name=a\\b\,c\=d,spec.nodeName!=node-1")
    );
}

#[test]
fn field_parse_unescapes_values() {
    assert_eq!(
        fsel(r"metadata.name=a\\b\,c\=d").requirements,
        vec![field("metadata.name", FieldOp::Eq, r"a\b,c=d")]
    );
}

#[test]
fn field_parse_accepts_double_equals_and_not_equals() {
    assert_eq!(
        fsel("status.phase==Running,spec.nodeName!=n1,type=Warning").requirements,
        vec![
            field("status.phase", FieldOp::Eq, "Running"),
            field("spec.nodeName", FieldOp::NotEq, "n1"),
            field("type", FieldOp::Eq, "Warning"),
        ]
    );
    assert_eq!(
        fsel("spec.nodeName=").requirements,
        vec![field("spec.nodeName", FieldOp::Eq, "")]
    );
    assert_eq!(
        fsel("a=!b").requirements,
        vec![field("a", FieldOp::Eq, "!b")]
    );
}

#[test]
fn field_parse_splits_only_on_unescaped_commas() {
    assert_eq!(
        fsel(r"a=x\,y,b=z").requirements,
        vec![field("a", FieldOp::Eq, "x,y"), field("b", FieldOp::Eq, "z")]
    );
    assert_eq!(
        fsel(r"a=x\\,b=z").requirements,
        vec![field("a", FieldOp::Eq, r"x\"), field("b", FieldOp::Eq, "z")]
    );
}

#[test]
fn field_parse_keeps_whitespace_like_the_server() {
    assert_eq!(
        fsel("metadata.name = web").requirements,
        vec![field("metadata.name ", FieldOp::Eq, " web")]
    );
}

#[test]
fn field_parse_rejects_unescaped_specials_and_bad_escapes() {
    for q in ["a=b=c", "a==b=c", "a!=b=c", r"a=b\n", r"a=b\", r"a=\x"] {
        assert!(FieldSelector::parse(q).is_err(), "{q:?} should be rejected");
    }
}

#[test]
fn field_parse_rejects_terms_without_an_operator_or_a_path() {
    for q in ["metadata.name", "a=b,c", " ", "=x", "!=x", "a=b,==c"] {
        assert!(FieldSelector::parse(q).is_err(), "{q:?} should be rejected");
    }
}

#[test]
fn field_round_trips_through_the_query_string() {
    let original = FieldSelector {
        requirements: vec![
            field("metadata.name", FieldOp::Eq, r"we\ird,na=me"),
            field("metadata.namespace", FieldOp::NotEq, "kube-system"),
            field("spec.nodeName", FieldOp::Eq, ""),
            field("involvedObject.kind", FieldOp::NotEq, "=Pod"),
        ],
    };
    let q = original.to_query().unwrap_or_default();
    assert_eq!(fsel(&q), original);
    for q in ["a=b", "a!=b", r"a=\\", r"a=\,\=", "a=b,c!=d"] {
        assert_eq!(fsel(q).to_query().as_deref(), Some(q), "{q}");
    }
}

#[test]
fn missing_and_null_fields_compare_as_empty_strings() {
    let pod = json!({"metadata": {"name": "p"}, "spec": {"nodeName": null}});
    assert!(fsel("spec.nodeName=").matches(&pod));
    assert!(fsel("spec.schedulerName=").matches(&pod));
    assert!(fsel("no.such.path=").matches(&pod));
    assert!(fsel("metadata.namespace=").matches(&pod));
    assert!(!fsel("spec.nodeName!=").matches(&pod));
    assert!(fsel("metadata.name.deeper=").matches(&pod));
}

#[test]
fn field_equals_compares_strings_booleans_and_integers() {
    let obj = json!({
        "metadata": {"name": "web-1", "namespace": "prod"},
        "spec": {"paused": true, "count": 3, "big": -12345678901_i64},
        "type": "Opaque"
    });
    assert!(fsel("metadata.name=web-1,metadata.namespace=prod").matches(&obj));
    assert!(fsel("spec.paused=true").matches(&obj));
    assert!(fsel("spec.count=3").matches(&obj));
    assert!(fsel("spec.big=-12345678901").matches(&obj));
    assert!(fsel("type=Opaque").matches(&obj));
    assert!(!fsel("type=opaque").matches(&obj));
    assert!(!fsel("metadata.name=web-1,metadata.namespace=dev").matches(&obj));
}

#[test]
fn field_not_equals_matches_objects_without_the_field() {
    let pending = json!({"metadata": {"name": "p"}, "spec": {}});
    let scheduled = json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}});
    let s = fsel("spec.nodeName!=n1");
    assert!(s.matches(&pending));
    assert!(!s.matches(&scheduled));
    assert!(fsel("spec.nodeName!=n2").matches(&scheduled));
}

#[test]
fn structured_fields_never_equal_the_empty_string() {
    let obj = json!({"spec": {"template": {"a": 1}, "list": []}});
    assert!(!fsel("spec.template=").matches(&obj));
    assert!(!fsel("spec.list=").matches(&obj));
}

#[test]
fn job_successful_count_reads_status_succeeded_and_defaults_to_zero() {
    let done = json!({"kind": "Job", "status": {"succeeded": 2}});
    let fresh = json!({"kind": "Job", "status": {}});
    assert!(fsel("status.successful=2").matches(&done));
    assert!(fsel("status.successful=0").matches(&fresh));
    assert!(fsel("status.successful!=0").matches(&done));
    assert!(fsel("status.successful=0").matches(&json!({})));
}

#[test]
fn replicas_and_unschedulable_default_like_the_server() {
    let rs = json!({"status": {}});
    assert!(fsel("status.replicas=0").matches(&rs));
    assert!(fsel("status.replicas=4").matches(&json!({"status": {"replicas": 4}})));
    let schedulable = json!({"spec": {}});
    let cordoned = json!({"spec": {"unschedulable": true}});
    assert!(fsel("spec.unschedulable=false").matches(&schedulable));
    assert!(!fsel("spec.unschedulable=false").matches(&cordoned));
    assert!(fsel("spec.unschedulable=true").matches(&cordoned));
    assert!(fsel("spec.hostNetwork=false").matches(&json!({"spec": {}})));
}

#[test]
fn event_source_is_the_component_or_the_reporting_controller() {
    let kubelet = json!({"source": {"component": "kubelet", "host": "n1"}});
    let new_style = json!({"source": {}, "reportingComponent": "sched"});
    let neither = json!({"type": "Normal"});
    assert!(fsel("source=kubelet").matches(&kubelet));
    assert!(fsel("source=sched").matches(&new_style));
    assert!(fsel("source=").matches(&neither));
    assert!(fsel("reportingComponent=sched").matches(&new_style));
    assert!(fsel("source=custom").matches(&json!({"source": "custom"})));
}

#[test]
fn pod_ip_comes_from_the_first_pod_ips_entry() {
    let dual = json!({"status": {"podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}});
    assert!(fsel("status.podIP=10.0.0.1").matches(&dual));
    assert!(!fsel("status.podIP=fd00::1").matches(&dual));
    let old = json!({"status": {"podIP": "10.0.0.2"}});
    assert!(fsel("status.podIP=10.0.0.2").matches(&old));
    assert!(fsel("status.podIP=").matches(&json!({"status": {}})));
}
