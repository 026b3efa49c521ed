//! Quoting for the fix lines porthole prints as commands: a value that came
//! from the machine or the user (an account name, a path) is made one shell
//! word, so the line runs as printed in a POSIX shell whatever the value
//! holds. Plain values stay as they are, so the common line reads naturally.

use std::borrow::Cow;

/// `value` as one POSIX shell word: unchanged when it has only characters
/// no shell treats specially, otherwise in single quotes (a single quote
/// inside becomes `'\''`).
pub fn word(value: &str) -> Cow<'_, str> {
    let plain = !value.is_empty()
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "_-.,:/@%+=".contains(c));
    if plain {
        Cow::Borrowed(value)
    } else {
        Cow::Owned(format!("'{}'", value.replace('\'', r"'\''")))
    }
}

/// `value` in single quotes even when it is plain: for a script argument
/// (SQL, JavaScript) that reads best as one visibly quoted unit.
pub fn word_always(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::word;

    #[test]
    fn plain_values_stay_and_others_become_one_word() {
        assert_eq!(word("postgres"), "postgres");
        assert_eq!(word("app.user@example"), "app.user@example");
        assert_eq!(word(""), "''");
        assert_eq!(word("two words"), "'two words'");
        assert_eq!(word("it's"), r"'it'\''s'");
        assert_eq!(word("$(reboot)"), "'$(reboot)'");
    }

    #[test]
    fn the_quoted_word_reads_back_unchanged_in_a_real_shell() {
        for value in
            ["two words", "it's", "$(id)", "a\"b", "back\\slash", "*", "~root", "new\nline"]
        {
            let output = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", word(value)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&output.stdout), value, "{value:?}");
        }
    }
}
