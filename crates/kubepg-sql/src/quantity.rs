//! Kubernetes resource quantities (`500m`, `1Gi`, `2.5e3`) as numbers: CPU in cores, memory and
//! storage in bytes.
//!
//! Written here because no maintained crate parses the apimachinery quantity grammar.

/// The value of a quantity in base units (`500m` → 0.5, `1Gi` → 1073741824, `1k` → 1000).
pub fn parse(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    // An exponent suffix (`1e3`, `2E-2`) is part of the number.
    if let Some(exp) = suffix.strip_prefix(['e', 'E'])
        && !exp.is_empty()
        && exp
            .trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c.is_ascii_digit())
    {
        return s.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    let base: f64 = number.parse().ok()?;
    // Dividing keeps `3800m` exactly 3.8, where multiplying by 1e-3 would not.
    let divisor = match suffix {
        "n" => 1e9,
        "u" => 1e6,
        "m" => 1e3,
        _ => 1.0,
    };
    if divisor != 1.0 {
        return Some(base / divisor);
    }
    let factor = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(base * factor)
}

/// A quantity in whole base units, rounded up as Kubernetes does for byte quantities.
pub fn parse_int(s: &str) -> Option<i64> {
    let v = parse(s)?.ceil();
    (v.abs() < 9.2e18).then_some(v as i64)
}

/// A CPU quantity in a JSON value (a string like `500m`, or a bare number) as cores.
pub fn json_cores(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// A memory or storage quantity in a JSON value as bytes.
pub fn json_bytes(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::String(s) => parse_int(s),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_cores_become_fractions_of_a_core() {
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("2"), Some(2.0));
        assert_eq!(parse("3800m"), Some(3.8));
    }

    #[test]
    fn binary_and_decimal_suffixes_become_bytes() {
        assert_eq!(parse_int("1Gi"), Some(1_073_741_824));
        assert_eq!(parse_int("512Mi"), Some(536_870_912));
        assert_eq!(parse_int("1k"), Some(1000));
        assert_eq!(parse_int("128974848"), Some(128_974_848));
        assert_eq!(parse_int("129e6"), Some(129_000_000));
        assert_eq!(parse_int("1.5Gi"), Some(1_610_612_736));
    }

    #[test]
    fn garbage_is_not_a_quantity() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("1Xi"), None);
        assert_eq!(parse("1e"), None);
    }
}
