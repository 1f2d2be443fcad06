//! Text as a blocklist sees it: what a reader would read, whatever the
//! spelling. Words match the *skeleton* (NFKC, full case folding, default
//! ignorables removed, confusables mapped to their prototype per Unicode
//! TR39, marks stripped, lower case); patterns match the *plain* form
//! (NFKC, full case folding, default ignorables removed), since a skeleton
//! maps digits and some letters to look-alikes a regular expression would
//! not expect. In both, every run of white space is one space.
//!
//! Each byte of a folded text knows the original character it came from,
//! so a match masks the characters the sender typed.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::GeneralSecurityProfile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    Skeleton = 0,
    Plain = 1,
}

/// A folded text, and for each of its bytes the byte offset of the
/// original character it came from.
#[derive(Debug, Default)]
pub struct Folded {
    pub text: String,
    origin: Vec<usize>,
}

impl Folded {
    /// The original text's byte range behind the folded range `start..end`
    /// (whole characters).
    pub fn original(&self, original: &str, start: usize, end: usize) -> std::ops::Range<usize> {
        let first = self.origin[start];
        let last = self.origin[end - 1];
        let last_len = original[last..].chars().next().map_or(0, char::len_utf8);
        first..last + last_len
    }
}

fn ignorable(c: char) -> bool {
    c.identifier_type() == Some(IdentifierType::Default_Ignorable)
}

/// The folded forms of the ASCII characters, computed once: most text is
/// ASCII, and the full pipeline costs far more than a table look-up.
fn ascii(form: Form) -> &'static [String; 128] {
    static TABLES: std::sync::OnceLock<[[String; 128]; 2]> = std::sync::OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let table = |form| {
            std::array::from_fn(|i| {
                let mut out = String::new();
                fold_slow(char::from(i as u8), form, &mut out);
                out
            })
        };
        [table(Form::Skeleton), table(Form::Plain)]
    });
    &tables[form as usize]
}

/// One character's folded form (empty for an ignorable one).
fn fold_char(c: char, form: Form, out: &mut String) {
    if c.is_ascii() {
        out.push_str(&ascii(form)[c as usize]);
    } else {
        fold_slow(c, form, out);
    }
}

fn fold_slow(c: char, form: Form, out: &mut String) {
    if c.is_whitespace() {
        out.push(' ');
        return;
    }
    let compatible: String = std::iter::once(c).nfkc().collect();
    let folded = caseless::default_case_fold_str(&compatible);
    match form {
        Form::Plain => out.extend(folded.chars().filter(|c| !ignorable(*c))),
        Form::Skeleton => {
            for d in unicode_security::skeleton(&folded) {
                if !is_combining_mark(d) {
                    out.extend(d.to_lowercase());
                }
            }
        }
    }
}

/// `text` in `form`, with white space runs collapsed to one space.
pub fn fold(text: &str, form: Form) -> Folded {
    let mut folded = Folded {
        text: String::with_capacity(text.len()),
        origin: Vec::with_capacity(text.len()),
    };
    let mut piece = String::new();
    for (at, c) in text.char_indices() {
        piece.clear();
        fold_char(c, form, &mut piece);
        for d in piece.chars() {
            let d = if d.is_whitespace() { ' ' } else { d };
            if d == ' ' && folded.text.ends_with(' ') {
                continue;
            }
            folded.text.push(d);
            folded.origin.extend(std::iter::repeat_n(at, d.len_utf8()));
        }
    }
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_a_reader_reads_alike_fold_alike() {
        let plain = fold("cheap pills", Form::Skeleton).text;
        for spelling in [
            "CHEAP PILLS",
            "ｃｈｅａｐ ｐｉｌｌｓ",       // fullwidth
            "ch\u{200b}eap pi\u{200d}lls", // zero-width space and joiner
            "che\u{ad}ap pills",           // soft hyphen
            "cheap\u{fe0f} pills",         // variation selector
            "cheap\u{e0041} pills",        // tag character
            "chеap pills",                 // Cyrillic е
            "cheáp píllś",                 // combining and precomposed accents
            "che\u{301}ap pills",
            "𝐜𝐡𝐞𝐚𝐩 𝐩𝐢𝐥𝐥𝐬",      // mathematical bold
            "ⓒⓗⓔⓐⓟ ⓟⓘⓛⓛⓢ",      // circled
            "cheap  pills",     // double space
            "cheap\u{a0}pills", // no-break space
            "cheap\npills",
            "cheap\t \tpills",
        ] {
            assert_eq!(fold(spelling, Form::Skeleton).text, plain, "{spelling:?}");
        }
        assert_ne!(fold("cheap bills", Form::Skeleton).text, plain);
    }

    #[test]
    fn the_plain_form_keeps_digits_and_maps_back_to_the_original() {
        let text = "Call ＃１２３４ now";
        let folded = fold(text, Form::Plain);
        assert_eq!(folded.text, "call #1234 now");
        let start = folded.text.find("1234").unwrap();
        let range = folded.original(text, start, start + 4);
        assert_eq!(&text[range], "１２３４");
    }
}
