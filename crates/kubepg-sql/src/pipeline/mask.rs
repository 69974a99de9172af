//! A statement as logs show it: every literal that can hold text (`'…'`, `E'…'`, `N'…'`,
//! `U&'…'`, `X'…'`, `B'…'`, `$$…$$`, the value of `DATE '…'`, a COPY's file name) becomes
//! `'***'` and comments are dropped, so that a token or password a client filters on never
//! reaches the log. Masking works on the statement's tokens rather than its syntax tree, so it
//! covers every statement kind, including those kubepg refuses.

use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

/// `statement` as logged.
pub fn masked(statement: &Statement) -> String {
    masked_text(&statement.to_string())
}

/// SQL text as logged; text that does not even tokenize is not shown.
pub fn masked_text(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize() else {
        return format!("<statement of {} bytes that does not tokenize>", sql.len());
    };
    let mut out = String::with_capacity(sql.len());
    for token in tokens {
        match token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => out.push(' '),
            t if is_text_literal(&t) => out.push_str("'***'"),
            t => out.push_str(&t.to_string()),
        }
    }
    out
}

/// An error message as logged: its quoted parts (values from the statement or from objects,
/// as `invalid input syntax for type integer: "hunter2"` quotes them) become `'***'`.
pub fn masked_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find(['\'', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('\'');
        let Some(close) = rest[open + 1..].find(quote) else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str("'***'");
        rest = &rest[open + 1 + close + 1..];
    }
    out.push_str(rest);
    out
}

fn is_text_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_text_literal_is_masked_and_the_rest_kept() {
        for (sql, want) in [
            (
                "SELECT name FROM secrets WHERE data->>'token' = 'hunter2' AND generation > 3",
                "SELECT name FROM secrets WHERE data->>'***' = '***' AND generation > 3",
            ),
            (
                "SELECT E'a\\'b', N'n', U&'d\\0061t', X'FF', $$dollar$$, DATE '2024-01-01'",
                "SELECT '***', '***', '***', '***', '***', DATE '***'",
            ),
            (
                "COPY pods TO '/etc/passwd' -- a comment with a secret\n",
                "COPY pods TO '***'  ",
            ),
            (
                "SELECT /* password=x */ 1 FROM \"weird 'name\"",
                "SELECT   1 FROM \"weird 'name\"",
            ),
        ] {
            assert_eq!(masked_text(sql), want, "{sql}");
        }
        assert!(masked_text("SELECT 'unterminated").contains("does not tokenize"));
    }

    #[test]
    fn quoted_parts_of_error_messages_are_masked() {
        assert_eq!(
            masked_quotes("invalid input syntax for type integer: \"hunter2\" in 'x'"),
            "invalid input syntax for type integer: '***' in '***'"
        );
        assert_eq!(masked_quotes("it's unbalanced"), "it's unbalanced");
    }
}
