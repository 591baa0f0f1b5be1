//! Text shown to an operator: control characters from files, the network or a
//! child process are escaped so they can never drive the terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Escapes every control character (C0, DEL, C1) of `s` as `\x1b`, `\n`, `\t`,
/// `\u{9b}`…; text without one is returned borrowed.
pub fn escape_control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(
            escape_control("a ü 1.2"),
            Cow::Borrowed("a ü 1.2")
        ));
    }

    #[test]
    fn terminal_sequences_are_escaped() {
        let hostile = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}y\u{7f}";
        let shown = escape_control(hostile);
        assert_eq!(shown, "x\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}y\\x7f");
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(escape_control("a\nb\tc\r"), "a\\nb\\tc\\r");
    }
}
