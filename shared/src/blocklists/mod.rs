//! Blocklists: per app, lists of words and patterns, each with an action.
//! A message's text is screened on send and on edit (REST and socket go
//! through the same code): a `block` list refuses it, a `mask` list stars
//! out what it matched, a `flag` list lets it through and opens a report.
//! Matching sees what a reader sees ([`fold`]): words match the text's
//! skeleton whole (a word's edge is a Unicode letter, digit or `_`
//! boundary), patterns its plain folded form; a mask covers the characters
//! the sender typed.

mod fold;

use std::ops::Range;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::AppId;

/// Lists an app may hold, and what they may hold in all: the lists live in
/// the app item (400 KB) and are compiled into one automaton per list.
pub const MAX_LISTS: usize = 20;
pub const MAX_WORDS: usize = 2_000;
pub const MAX_PATTERNS: usize = 50;
pub const MAX_STORED_BYTES: usize = 65_536;
/// The compiled size of one list (regex's own limit), so a pathological
/// pattern is refused when set, never on a send.
const COMPILED_LIMIT: usize = 2 * 1024 * 1024;

/// What a match does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlocklistAction {
    /// The message is refused: the sender gets a `403 message_rejected`.
    Block,
    /// The message is sent, and a report is opened for its moderators.
    Flag,
    /// The matched text is replaced by `*`, one per character.
    Mask,
}

/// One list, as `PATCH /app` sets it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Blocklist {
    /// `a-z`, `0-9`, `_`, `-`; 1 to 64 characters, unique in the app.
    pub name: String,
    pub action: BlocklistAction,
    /// Words or phrases, matched whole against what a reader sees: case,
    /// width, accents, look-alike letters, invisible characters and runs of
    /// white space make no difference.
    #[serde(default)]
    pub words: Vec<String>,
    /// Regular expressions (Rust `regex` syntax, no look-around), ignoring
    /// case, matched against the text folded to compatibility forms
    /// without invisible characters.
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// Why a set of lists cannot be stored, if it cannot.
pub fn problem(lists: &[Blocklist]) -> Option<String> {
    if lists.len() > MAX_LISTS {
        return Some(format!("blocklists: at most {MAX_LISTS} lists"));
    }
    let words: usize = lists.iter().map(|l| l.words.len()).sum();
    let patterns: usize = lists.iter().map(|l| l.patterns.len()).sum();
    if words > MAX_WORDS || patterns > MAX_PATTERNS {
        return Some(format!(
            "blocklists: at most {MAX_WORDS} words and {MAX_PATTERNS} patterns in all"
        ));
    }
    if serde_json::to_vec(lists).map_or(usize::MAX, |b| b.len()) > MAX_STORED_BYTES {
        return Some(format!(
            "blocklists: at most {MAX_STORED_BYTES} bytes in all"
        ));
    }
    for (i, list) in lists.iter().enumerate() {
        let name_ok = !list.name.is_empty()
            && list.name.len() <= 64
            && list
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return Some(format!(
                "blocklists: `{}` is not a name (a-z, 0-9, _ and -, 1 to 64)",
                list.name
            ));
        }
        if lists[..i].iter().any(|l| l.name == list.name) {
            return Some(format!("blocklists: `{}` is named twice", list.name));
        }
        if list.words.is_empty() && list.patterns.is_empty() {
            return Some(format!(
                "blocklists: `{}` has neither words nor patterns",
                list.name
            ));
        }
        if let Some(word) = list.words.iter().find(|w| {
            fold::fold(w, fold::Form::Skeleton).text.trim().is_empty() || w.chars().count() > 100
        }) {
            return Some(format!(
                "blocklists: `{}` has a word that is blank or over 100 characters: {word:?}",
                list.name
            ));
        }
        if let Some(pattern) = list.patterns.iter().find(|p| p.len() > 512) {
            return Some(format!(
                "blocklists: `{}` has a pattern over 512 bytes: {pattern:?}",
                list.name
            ));
        }
        if let Err(err) = compile(list) {
            return Some(format!(
                "blocklists: `{}` does not compile: {err}",
                list.name
            ));
        }
    }
    None
}

/// One list compiled: its words as one automaton over the skeleton, its
/// patterns as one expression over the plain form.
struct Matcher {
    words: Option<Words>,
    patterns: Option<Regex>,
}

/// A list's folded words, and for each whether it must start and end at a
/// word boundary (only where the word itself starts or ends with a word
/// character: `c++` or `@@` still match whole).
struct Words {
    automaton: AhoCorasick,
    edges: Vec<(bool, bool)>,
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Words {
    fn new(words: &[String]) -> Result<Option<Self>, String> {
        let folded: Vec<String> = words
            .iter()
            .map(|w| {
                fold::fold(w.trim(), fold::Form::Skeleton)
                    .text
                    .trim()
                    .to_string()
            })
            .collect();
        if folded.is_empty() {
            return Ok(None);
        }
        let edges = folded
            .iter()
            .map(|w| {
                (
                    w.chars().next().is_some_and(word_char),
                    w.chars().next_back().is_some_and(word_char),
                )
            })
            .collect();
        let automaton = AhoCorasick::new(&folded).map_err(|e| e.to_string())?;
        Ok(Some(Self { automaton, edges }))
    }

    /// Every whole-word match in `text`, overlapping ones included.
    fn find<'t>(&'t self, text: &'t str) -> impl Iterator<Item = (usize, usize)> + 't {
        self.automaton
            .find_overlapping_iter(text)
            .filter(move |m| {
                let (start, end) = self.edges[m.pattern().as_usize()];
                (!start || !text[..m.start()].chars().next_back().is_some_and(word_char))
                    && (!end || !text[m.end()..].chars().next().is_some_and(word_char))
            })
            .map(|m| (m.start(), m.end()))
    }
}

/// A message's text in the forms its lists need, each folded once per
/// screening.
struct Texts<'a> {
    original: &'a str,
    skeleton: std::cell::OnceCell<fold::Folded>,
    plain: std::cell::OnceCell<fold::Folded>,
}

impl<'a> Texts<'a> {
    fn new(original: &'a str) -> Self {
        Self {
            original,
            skeleton: std::cell::OnceCell::new(),
            plain: std::cell::OnceCell::new(),
        }
    }

    fn skeleton(&self) -> &fold::Folded {
        self.skeleton
            .get_or_init(|| fold::fold(self.original, fold::Form::Skeleton))
    }

    fn plain(&self) -> &fold::Folded {
        self.plain
            .get_or_init(|| fold::fold(self.original, fold::Form::Plain))
    }
}

impl Matcher {
    fn is_match(&self, t: &Texts) -> bool {
        self.words
            .as_ref()
            .is_some_and(|w| w.find(&t.skeleton().text).next().is_some())
            || self
                .patterns
                .as_ref()
                .is_some_and(|r| r.is_match(&t.plain().text))
    }

    /// The original text's ranges behind every match.
    fn ranges(&self, t: &Texts, out: &mut Vec<Range<usize>>) {
        if let Some(words) = &self.words {
            let folded = t.skeleton();
            out.extend(
                words
                    .find(&folded.text)
                    .map(|(start, end)| folded.original(t.original, start, end)),
            );
        }
        if let Some(regex) = &self.patterns {
            let folded = t.plain();
            out.extend(
                regex
                    .find_iter(&folded.text)
                    .filter(|m| !m.is_empty())
                    .map(|m| folded.original(t.original, m.start(), m.end())),
            );
        }
    }
}

fn compile(list: &Blocklist) -> Result<Matcher, String> {
    let patterns = (!list.patterns.is_empty())
        .then(|| {
            let alternation: Vec<String> =
                list.patterns.iter().map(|p| format!("(?:{p})")).collect();
            RegexBuilder::new(&alternation.join("|"))
                .case_insensitive(true)
                .size_limit(COMPILED_LIMIT)
                .build()
        })
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Matcher {
        words: Words::new(&list.words)?,
        patterns,
    })
}

/// An app's lists, compiled.
struct Compiled(Vec<(Blocklist, Matcher)>);

/// Compiled lists per app and settings version: a warm function compiles
/// an app's lists once, not per message.
fn compiled(app: &AppId, version: u64, lists: &[Blocklist]) -> Arc<Compiled> {
    static CACHE: std::sync::OnceLock<moka::sync::Cache<(String, u64), Arc<Compiled>>> =
        std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| moka::sync::Cache::new(1_000));
    cache.get_with((app.to_string(), version), || {
        Arc::new(Compiled(
            lists
                .iter()
                // Lists were checked when set; one that no longer compiles
                // (a newer regex) is skipped, not fatal to every send.
                .filter_map(|l| compile(l).ok().map(|r| (l.clone(), r)))
                .collect(),
        ))
    })
}

/// Lists compiled outside an app (the benchmark's and tools' entry).
pub struct Screener(Vec<(Blocklist, Matcher)>);

impl Screener {
    pub fn new(lists: &[Blocklist]) -> Result<Self, String> {
        lists
            .iter()
            .map(|l| compile(l).map(|m| (l.clone(), m)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn screen(&self, text: &str) -> Result<Screened, ApiError> {
        screen_with(&self.0, text)
    }
}

/// What screening let through: the text (masked where a `mask` list
/// matched) and the `flag` lists that matched.
#[derive(Debug, Default, PartialEq)]
pub struct Screened {
    pub text: String,
    pub flagged_by: Vec<String>,
}

/// Screens a message's text against an app's lists (`version`: the app's
/// settings version, which keys the compiled cache): `Err` when a `block`
/// list matches.
pub fn screen(
    app: &AppId,
    version: u64,
    lists: &[Blocklist],
    text: &str,
) -> Result<Screened, ApiError> {
    if lists.is_empty() {
        return Ok(Screened {
            text: text.to_string(),
            flagged_by: Vec::new(),
        });
    }
    let lists = compiled(app, version, lists);
    screen_with(&lists.0, text)
}

fn screen_with(lists: &[(Blocklist, Matcher)], text: &str) -> Result<Screened, ApiError> {
    let texts = Texts::new(text);
    if let Some((list, _)) = lists
        .iter()
        .find(|(l, m)| l.action == BlocklistAction::Block && m.is_match(&texts))
    {
        return Err(ApiError::Rejected(format!(
            "the message contains text this app does not allow (blocklist `{}`)",
            list.name
        )));
    }
    let flagged_by = lists
        .iter()
        .filter(|(l, m)| l.action == BlocklistAction::Flag && m.is_match(&texts))
        .map(|(l, _)| l.name.clone())
        .collect();
    let mut masked_ranges = Vec::new();
    for (_, matcher) in lists
        .iter()
        .filter(|(l, _)| l.action == BlocklistAction::Mask)
    {
        matcher.ranges(&texts, &mut masked_ranges);
    }
    Ok(Screened {
        text: mask(text, &masked_ranges),
        flagged_by,
    })
}

/// `text` with every character inside one of `ranges` replaced by `*`.
fn mask(text: &str, ranges: &[Range<usize>]) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    text.char_indices()
        .map(|(at, c)| {
            if ranges.iter().any(|r| r.contains(&at)) {
                '*'
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(name: &str, action: BlocklistAction, words: &[&str], patterns: &[&str]) -> Blocklist {
        Blocklist {
            name: name.into(),
            action,
            words: words.iter().map(|w| w.to_string()).collect(),
            patterns: patterns.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn compiled(lists: &[Blocklist]) -> Vec<(Blocklist, Matcher)> {
        lists
            .iter()
            .map(|l| (l.clone(), compile(l).unwrap()))
            .collect()
    }

    #[test]
    fn words_match_whole_ignoring_case_and_spelling_in_any_script() {
        let lists = compiled(&[list(
            "m",
            BlocklistAction::Mask,
            &["darn", "ÉPÉE", "c++", "straße"],
            &[],
        )]);
        let out = screen_with(
            &lists,
            "Darn it, darning is fine; épée and C++ and STRASSE Straße",
        )
        .unwrap();
        assert_eq!(
            out.text,
            "**** it, darning is fine; **** and *** and ******* ******"
        );
        assert!(out.flagged_by.is_empty());
    }

    #[test]
    fn disguised_spellings_are_blocked_and_masked_as_typed() {
        let block = compiled(&[list("pills", BlocklistAction::Block, &["cheap pills"], &[])]);
        for disguised in [
            "ＣＨＥＡＰ ｐｉｌｌｓ here",
            "get ch\u{200b}eap p\u{200c}ills",
            "che\u{ad}ap pi\u{fe0f}lls",
            "cheap pil\u{e0020}ls",
            "chеap pills (Cyrillic е)",
            "chéap píllş",
            "𝐜𝐡𝐞𝐚𝐩 𝐩𝐢𝐥𝐥𝐬",
            "ⓒⓗⓔⓐⓟ ⓟⓘⓛⓛⓢ",
            "cheap  pills",
            "cheap\u{a0}pills",
            "cheap\npills",
            "cheap\tpills",
        ] {
            let err = screen_with(&block, disguised).map(|s| s.text).unwrap_err();
            assert_eq!(err.code(), "message_rejected", "{disguised:?}");
        }
        assert!(screen_with(&block, "cheap bills").is_ok());
        assert!(screen_with(&block, "cheappills").is_ok());

        let masking = compiled(&[list("m", BlocklistAction::Mask, &["heck"], &[])]);
        let out = screen_with(&masking, "oh ＨＥ\u{200b}ＣＫ, hеck!").unwrap();
        assert_eq!(out.text, "oh *****, ****!");
    }

    #[test]
    fn block_beats_flag_and_mask_and_names_its_list() {
        let lists = compiled(&[
            list("soft", BlocklistAction::Mask, &["heck"], &[]),
            list("watch", BlocklistAction::Flag, &[], &[r"\d{4}-\d{4}"]),
            list("hard", BlocklistAction::Block, &["scam link"], &[]),
        ]);
        let err = screen_with(&lists, "heck, a SCAM  link? no: a Scam Link").unwrap_err();
        assert_eq!(err.code(), "message_rejected");
        assert!(err.to_string().contains("`hard`"), "{err}");
        let out = screen_with(&lists, "heck, call 1234-5678").unwrap();
        assert_eq!(out.text, "****, call 1234-5678");
        assert_eq!(out.flagged_by, ["watch"]);
        assert_eq!(screen_with(&lists, "all fine").unwrap().text, "all fine");
    }

    #[test]
    fn bad_lists_are_refused_with_their_reason() {
        let good = list("ok", BlocklistAction::Block, &["x"], &[]);
        assert_eq!(problem(std::slice::from_ref(&good)), None);
        for (bad, why) in [
            (
                list("Bad Name", BlocklistAction::Block, &["x"], &[]),
                "not a name",
            ),
            (list("empty", BlocklistAction::Block, &[], &[]), "neither"),
            (list("blank", BlocklistAction::Block, &["  "], &[]), "blank"),
            (
                list("re", BlocklistAction::Block, &[], &["(unclosed"]),
                "does not compile",
            ),
            (
                list("huge", BlocklistAction::Block, &[], &[r"\w{1000}{1000}"]),
                "does not compile",
            ),
        ] {
            let found = problem(&[bad]).unwrap_or_default();
            assert!(found.contains(why), "{found}");
        }
        assert!(problem(&[good.clone(), good]).unwrap().contains("twice"));
    }
}
