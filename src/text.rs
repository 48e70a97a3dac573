//! Text from model files made safe for a terminal, a text file or a message.
//!
//! Model, layer, input and ONNX node names are chosen by whoever wrote the model. Shown raw,
//! an ESC/OSC/CSI sequence would drive the terminal and a newline would forge a line of output
//! (a separate `error:` line, a table row). Every place that shows such a name goes through
//! [`escape`]; `main` applies [`escape_message`] to every error message as a second line of
//! defence.

/// True for characters that must never reach output raw: C0 and C1 controls (including
/// newline and tab), DEL, the line and paragraph separators and the bidirectional overrides
/// and isolates (which reorder what a reader sees).
pub fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}'
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every [`is_hostile`] character written as `\u{XX}` (as `char::escape_unicode`
/// does); all other characters, including `\` and quotes, are kept as they are.
pub fn escape(s: &str) -> String {
    if !s.chars().any(is_hostile) {
        return s.to_string();
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hostile(c) {
            o.extend(c.escape_unicode());
        } else {
            o.push(c);
        }
    }
    o
}

/// An error message made safe to print after `error: `: hostile characters other than the
/// message's own line breaks are escaped, and every line after the first is indented by two
/// spaces, so no part of a message can start a line of its own that reads like `error:`.
pub fn escape_message(s: &str) -> String {
    s.split('\n').map(escape).collect::<Vec<_>>().join("\n  ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped() {
        assert_eq!(escape("a\u{1b}]0;x\u{7}b"), "a\\u{1b}]0;x\\u{7}b");
        assert_eq!(escape("l\nerror: x"), "l\\u{a}error: x");
        assert_eq!(escape("dense_1 \\ \"q\" µ"), "dense_1 \\ \"q\" µ");
        assert_eq!(escape("\u{202e}x"), "\\u{202e}x");
    }

    #[test]
    fn messages_keep_one_error_line() {
        assert_eq!(escape_message("a\nerror: b\r"), "a\n  error: b\\u{d}");
    }
}
