use std::time::Duration;

use datafusion::prelude::{SessionConfig, SessionContext};

use super::*;
use crate::SqlState;

fn session() -> (SessionContext, SessionSettings) {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_option_extension(KubepgSettings::new(Consistency::Live)),
    );
    let settings = SessionSettings::new(Duration::from_secs(300));
    settings.attach(&ctx);
    (ctx, settings)
}

fn row(settings: &SessionSettings, name: &str) -> SettingRow {
    settings
        .rows()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

#[test]
fn one_setting_of_each_family_reads_the_same_everywhere() {
    let (ctx, settings) = session();
    settings.set("DATESTYLE", "iso, dmy").unwrap();
    settings.set("kubepg.consistency", "cached").unwrap();
    settings
        .set("datafusion.execution.batch_size", "1024")
        .unwrap();
    for (name, want) in [
        ("DateStyle", "ISO, DMY"),
        ("kubepg.consistency", "cached"),
        ("datafusion.execution.batch_size", "1024"),
    ] {
        assert_eq!(settings.get(name).unwrap(), want, "{name}");
        assert_eq!(settings.get(&name.to_ascii_uppercase()).unwrap(), want);
        let r = row(&settings, name);
        assert_eq!((r.setting.as_str(), r.source), (want, "session"), "{name}");
    }
    // Where scans and the planner read them.
    let state = ctx.state();
    assert_eq!(
        KubepgSettings::of(state.config_options()).consistency,
        Consistency::Cached
    );
    assert_eq!(state.config_options().execution.batch_size.get(), 1024);
}

#[test]
fn reset_returns_each_family_to_its_start() {
    let (_ctx, settings) = session();
    settings.set("statement_timeout", "5s").unwrap();
    settings.set("kubepg.consistency", "cached").unwrap();
    settings.set("myapp.tenant", "a").unwrap();
    settings.reset("statement_timeout").unwrap();
    settings.reset("kubepg.consistency").unwrap();
    assert_eq!(settings.get("statement_timeout").unwrap(), "5min");
    assert_eq!(settings.get("kubepg.consistency").unwrap(), "live");
    assert_eq!(settings.get("myapp.tenant").unwrap(), "a");
    settings.set("DateStyle", "German").unwrap();
    settings.reset_all().unwrap();
    assert_eq!(settings.get("DateStyle").unwrap(), "ISO, MDY");
    assert_eq!(settings.get("myapp.tenant").unwrap(), "");
}

#[test]
fn refusals_carry_postgresql_codes() {
    let (_ctx, settings) = session();
    let code = |r: Result<()>| r.unwrap_err().sqlstate();
    assert_eq!(
        code(settings.set("server_version", "9")),
        SqlState::CantChangeRuntimeParam
    );
    assert_eq!(
        code(settings.set("statement_timeout", "99999999999999999s")),
        SqlState::InvalidParameterValue
    );
    assert_eq!(
        code(settings.set("kubepg.consistency", "eventual")),
        SqlState::InvalidParameterValue
    );
    assert_eq!(
        code(settings.set("kubepg.nope", "1")),
        SqlState::UndefinedObject
    );
    assert_eq!(
        code(settings.set("datafusion.execution.batch_size", "many")),
        SqlState::InvalidParameterValue
    );
    assert_eq!(
        code(settings.set("client_encoding", "LATIN1")),
        SqlState::FeatureNotSupported
    );
    assert_eq!(
        settings.get("nosuch").unwrap_err().sqlstate(),
        SqlState::UndefinedObject
    );
    assert_eq!(settings.get("statement_timeout").unwrap(), "5min");
}

#[test]
fn reported_settings_are_told_to_the_front_end_once() {
    let (_ctx, settings) = session();
    settings.set("application_name", "grafana").unwrap();
    settings.set("extra_float_digits", "3").unwrap();
    assert_eq!(
        settings.take_changed(),
        [
            Changed {
                name: "application_name".into(),
                value: "grafana".into(),
                reported: true
            },
            Changed {
                name: "extra_float_digits".into(),
                value: "3".into(),
                reported: false
            },
        ]
    );
    assert!(settings.take_changed().is_empty());
}

#[test]
fn startup_parameters_count_as_the_client_s_and_survive_reset_all() {
    let (_ctx, settings) = session();
    settings.apply_startup([("application_name", "psql"), ("server_version", "1")]);
    assert_eq!(row(&settings, "application_name").source, "client");
    assert_eq!(settings.get("server_version").unwrap(), SERVER_VERSION);
    settings.set("application_name", "mine").unwrap();
    settings.reset_all().unwrap();
    assert_eq!(settings.get("application_name").unwrap(), "psql");
}

#[test]
fn engine_settings_that_multiply_memory_are_bounded_and_the_operators_are_refused() {
    let (_ctx, settings) = session();
    let code = |r: Result<()>| r.unwrap_err().sqlstate();
    assert_eq!(
        code(settings.set("datafusion.execution.target_partitions", "10000")),
        SqlState::InvalidParameterValue
    );
    settings
        .set("datafusion.execution.target_partitions", "4")
        .unwrap();
    assert_eq!(
        code(settings.set("datafusion.execution.batch_size", "100000000")),
        SqlState::InvalidParameterValue
    );
    assert_eq!(
        code(settings.set("datafusion.runtime.memory_limit", "100G")),
        SqlState::InsufficientPrivilege
    );
    assert_eq!(
        code(settings.set("datafusion.catalog.information_schema", "true")),
        SqlState::InsufficientPrivilege
    );
}

#[test]
fn long_values_are_cut_or_refused_as_postgresql_does() {
    let (_ctx, settings) = session();
    settings
        .set("application_name", &"é".repeat(40_000 / 2))
        .unwrap();
    let name = settings.get("application_name").unwrap();
    assert!(name.len() <= 63 && name.starts_with('é'), "{}", name.len());
    assert_eq!(
        settings
            .set("search_path", &"x".repeat(40_000))
            .unwrap_err()
            .sqlstate(),
        SqlState::InvalidParameterValue
    );
}
