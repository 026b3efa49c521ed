//! The words Go's JSON scanner uses for a malformed request body, so a
//! bad body is answered as Toxiproxy answers it (`bad request body:
//! invalid character 'o' in literal null (expecting 'u')`) and not in
//! serde_json's words (`expected ident at line 1 column 2`).
//!
//! This only finds the first syntax error the way Go's `encoding/json`
//! scanner meets it, byte by byte; the body itself is still parsed by
//! serde_json (see `api::decode`). Like `json.Decoder.Decode`, it reads one
//! value from the start and nothing after an object or array; a bare number
//! or literal must be followed by a space or the end.
//!
//! See: <https://github.com/golang/go/blob/master/src/encoding/json/scanner.go>

/// Nesting beyond which the scan gives up (serde_json refuses such bodies
/// long before, in its own words), so a body of a million `[` cannot
/// exhaust the stack.
const MAX_DEPTH: usize = 512;

/// Go's message for the first syntax error of `body`, or `None` when Go's
/// scanner finds none (serde_json refuses a few texts Go takes, such as a
/// lone surrogate escape or very deep nesting; their words stay serde's).
pub(crate) fn go_syntax_error(body: &[u8]) -> Option<String> {
    let mut scanner = Scanner { bytes: body, at: 0, depth: 0 };
    scanner.skip_space();
    match scanner.value() {
        Ok(Ended::Bracket) => None,
        // A number or literal ends at the byte after it, which Go reads.
        Ok(Ended::Open) => match scanner.peek() {
            Some(byte) if !is_space(byte) => Some(invalid(byte, "after top-level value")),
            _ => None,
        },
        Err(Stop::Syntax(message)) => Some(message),
        Err(Stop::GaveUp) => None,
    }
}

/// How a value ended: at its own closing byte, or only where the next byte
/// is not part of it.
enum Ended {
    Bracket,
    Open,
}

enum Stop {
    Syntax(String),
    GaveUp,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

/// Go's `isSpace`: JSON's four whitespace bytes.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

fn invalid(byte: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_byte(byte))
}

/// Go's `quoteChar`: the byte taken as a code point (so a UTF-8 lead byte
/// shows as a Latin-1 letter) and quoted as `strconv.Quote` quotes it.
fn quote_byte(byte: u8) -> String {
    let inner = match byte {
        b'\'' => "\\'".to_string(),
        b'"' => "\"".to_string(),
        b'\\' => "\\\\".to_string(),
        0x07 => "\\a".to_string(),
        0x08 => "\\b".to_string(),
        0x0c => "\\f".to_string(),
        b'\n' => "\\n".to_string(),
        b'\r' => "\\r".to_string(),
        b'\t' => "\\t".to_string(),
        0x0b => "\\v".to_string(),
        0x00..=0x1f | 0x7f => format!("\\x{byte:02x}"),
        // C1 controls, the no-break space and the soft hyphen are not
        // printable to `strconv.IsPrint`.
        0x80..=0xa0 | 0xad => format!("\\u{:04x}", u32::from(byte)),
        _ => char::from(byte).to_string(),
    };
    format!("'{inner}'")
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// The next byte; running out inside a value is Go's `unexpected EOF`.
    fn next(&mut self) -> Result<u8, Stop> {
        let byte = self.peek().ok_or_else(|| Stop::Syntax("unexpected EOF".to_string()))?;
        self.at += 1;
        Ok(byte)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace.
    fn next_after_space(&mut self) -> Result<u8, Stop> {
        self.skip_space();
        self.next()
    }

    /// One value, from its first byte (whitespace before it skipped).
    fn value(&mut self) -> Result<Ended, Stop> {
        let first = self.next()?;
        match first {
            b'{' => self.nested(Self::object),
            b'[' => self.nested(Self::array),
            b'"' => self.string().map(|()| Ended::Bracket),
            b'-' | b'0'..=b'9' => self.number(first).map(|()| Ended::Open),
            b't' => self.literal("true").map(|()| Ended::Open),
            b'f' => self.literal("false").map(|()| Ended::Open),
            b'n' => self.literal("null").map(|()| Ended::Open),
            other => Err(Stop::Syntax(invalid(other, "looking for beginning of value"))),
        }
    }

    fn nested(&mut self, inside: fn(&mut Self) -> Result<(), Stop>) -> Result<Ended, Stop> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Stop::GaveUp);
        }
        inside(self)?;
        self.depth -= 1;
        Ok(Ended::Bracket)
    }

    /// After `{`.
    fn object(&mut self) -> Result<(), Stop> {
        let mut byte = self.next_after_space()?;
        if byte == b'}' {
            return Ok(());
        }
        loop {
            if byte != b'"' {
                return Err(Stop::Syntax(invalid(
                    byte,
                    "looking for beginning of object key string",
                )));
            }
            self.string()?;
            let colon = self.next_after_space()?;
            if colon != b':' {
                return Err(Stop::Syntax(invalid(colon, "after object key")));
            }
            self.skip_space();
            self.value()?;
            match self.next_after_space()? {
                b',' => byte = self.next_after_space()?,
                b'}' => return Ok(()),
                other => return Err(Stop::Syntax(invalid(other, "after object key:value pair"))),
            }
        }
    }

    /// After `[`.
    fn array(&mut self) -> Result<(), Stop> {
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            self.value()?;
            match self.next_after_space()? {
                b',' => {}
                b']' => return Ok(()),
                other => return Err(Stop::Syntax(invalid(other, "after array element"))),
            }
        }
    }

    /// After the opening `"`.
    fn string(&mut self) -> Result<(), Stop> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let digit = self.next()?;
                            if !digit.is_ascii_hexdigit() {
                                return Err(Stop::Syntax(invalid(
                                    digit,
                                    "in \\u hexadecimal character escape",
                                )));
                            }
                        }
                    }
                    other => return Err(Stop::Syntax(invalid(other, "in string escape code"))),
                },
                control @ 0x00..=0x1f => {
                    return Err(Stop::Syntax(invalid(control, "in string literal")))
                }
                _ => {}
            }
        }
    }

    /// A number from its first byte (`-` or a digit). Stops before the
    /// first byte that is not part of it.
    fn number(&mut self, first: u8) -> Result<(), Stop> {
        let lead = if first == b'-' { self.next()? } else { first };
        match lead {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            other => return Err(Stop::Syntax(invalid(other, "in numeric literal"))),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let digit = self.next()?;
            if !digit.is_ascii_digit() {
                return Err(Stop::Syntax(invalid(digit, "after decimal point in numeric literal")));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut digit = self.next()?;
            if matches!(digit, b'+' | b'-') {
                digit = self.next()?;
            }
            if !digit.is_ascii_digit() {
                return Err(Stop::Syntax(invalid(digit, "in exponent of numeric literal")));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
    }

    /// The rest of `true`, `false` or `null` after its first byte.
    fn literal(&mut self, word: &str) -> Result<(), Stop> {
        for expected in word.bytes().skip(1) {
            let byte = self.next()?;
            if byte != expected {
                let context = format!("in literal {word} (expecting {})", quote_byte(expected));
                return Err(Stop::Syntax(invalid(byte, &context)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(body: &[u8]) -> Option<String> {
        go_syntax_error(body)
    }

    #[test]
    fn messages_are_go_scanner_messages() {
        let cases: &[(&[u8], &str)] = &[
            (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
            (b"{\"a\":tru}", "invalid character '}' in literal true (expecting 'e')"),
            (b"{\"name\":}", "invalid character '}' looking for beginning of value"),
            (b"{\"a\" 1}", "invalid character '1' after object key"),
            (b"{\"a\":1 \"b\":2}", "invalid character '\"' after object key:value pair"),
            (b"[1 2]", "invalid character '2' after array element"),
            (b"{a:1}", "invalid character 'a' looking for beginning of object key string"),
            (b"{\"a\":1,}", "invalid character '}' looking for beginning of object key string"),
            (b"[1,]", "invalid character ']' looking for beginning of value"),
            (b"{\"a\":01}", "invalid character '1' after object key:value pair"),
            (b"{\"a\":-x}", "invalid character 'x' in numeric literal"),
            (b"{\"a\":1.}", "invalid character '}' after decimal point in numeric literal"),
            (b"{\"a\":1e+}", "invalid character '}' in exponent of numeric literal"),
            (b"{\"a\":\"\\q\"}", "invalid character 'q' in string escape code"),
            (b"{\"a\":\"\\u12g4\"}", "invalid character 'g' in \\u hexadecimal character escape"),
            (b"{\"a\":\"\t\"}", "invalid character '\\t' in string literal"),
            (b"'x'", "invalid character '\\'' looking for beginning of value"),
            (b"\xff", "invalid character '\u{ff}' looking for beginning of value"),
            (b"\x1b", "invalid character '\\x1b' looking for beginning of value"),
            (b"\xa0", "invalid character '\\u00a0' looking for beginning of value"),
            (b"\xc3\xa9", "invalid character '\u{c3}' looking for beginning of value"),
            (b"1x", "invalid character 'x' after top-level value"),
            (b"{\"a\":\"x", "unexpected EOF"),
            (b"[", "unexpected EOF"),
            (b"-", "unexpected EOF"),
        ];
        for (body, message) in cases {
            assert_eq!(
                error(body).as_deref(),
                Some(*message),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn valid_first_values_have_no_error() {
        for body in [
            &b"{\"a\":[1,-2.5e+3,{\"b\":null}],\"c\":\"\\u00e9\\n\"}"[..],
            b" [] ",
            b"{} trailing",
            b"1 x",
            b"true",
            b"{\"caf\xc3\xa9\":\"\xff\"}",
        ] {
            assert_eq!(error(body), None, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde() {
        assert_eq!(error(&vec![b'['; 1 << 20]), None);
    }
}
