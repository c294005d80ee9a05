//! Property tests: claim paths have exactly one reading. A path built from member names finds
//! the value at exactly that nesting and nowhere else, its text parses back to the same path,
//! and `strings` reads arrays and space-separated strings the documented way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};
use tollgate_core::ClaimPath;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

/// Member names: anything but `"` (which a path cannot hold), weighted towards the characters
/// the syntax gives a meaning: `.`, `:`, `/`, URI prefixes in any case, unicode.
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>().prop_filter("no quote", |c| *c != '"'), 1..10)
            .prop_map(String::from_iter),
        "[a-z]{1,3}(\\.[a-z]{1,3}){1,3}",
        "((https?|HTTPS?|Https?)://|(urn|URN):)[a-z0-9./:_-]{0,12}",
        "[a-z:/._]{1,6}",
        "[a-zé漢😀 .]{1,6}",
        Just("https:".to_owned()),
        Just("urn".to_owned()),
    ]
}

const POOL: [&str; 8] = [
    "a",
    "b",
    "a.b",
    "b.a",
    "https://x.example/a",
    "https://x",
    "urn:a",
    "a:b",
];

fn pooled_name() -> impl Strategy<Value = String> {
    prop::sample::select(&POOL[..]).prop_map(str::to_owned)
}

/// Objects nested up to four levels with names from [`POOL`].
fn pooled_object() -> impl Strategy<Value = Map<String, Value>> {
    let leaf = prop_oneof![
        any::<u8>().prop_map(Value::from),
        Just(json!(["r"])),
        Just(json!("s t"))
    ];
    let value = leaf.prop_recursive(4, 64, 4, |inner| {
        prop::collection::btree_map(pooled_name(), inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    });
    prop::collection::btree_map(pooled_name(), value, 0..6).prop_map(|m| m.into_iter().collect())
}

fn segments() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(member_name(), 1..=16)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(member_name(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

type Siblings = Vec<Vec<(String, Value)>>;

/// Member names of a nesting, and sibling members (arbitrary names and values) for each level.
fn nesting(
    depth: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = (Vec<String>, Siblings)> {
    prop::collection::vec(member_name(), depth).prop_flat_map(|segments| {
        let levels = segments.len();
        (
            Just(segments),
            prop::collection::vec(prop::collection::vec((member_name(), leaf()), 0..3), levels),
        )
    })
}

/// `{s1: {s2: ... {sn: value}}}`, with the siblings of each level inserted first (so that the
/// path's own member wins a name clash).
fn nest(
    segments: &[String],
    value: Value,
    siblings: &[Vec<(String, Value)>],
) -> Map<String, Value> {
    let mut current = value;
    for (depth, name) in segments.iter().enumerate().rev() {
        let mut object: Map<String, Value> = siblings[depth].iter().cloned().collect();
        object.insert(name.clone(), current);
        current = Value::Object(object);
    }
    match current {
        Value::Object(object) => object,
        _ => unreachable!("at least one segment"),
    }
}

/// The reference reading: member names looked up one level at a time.
fn walk<'v>(claims: &'v Map<String, Value>, segments: &[&str]) -> Option<&'v Value> {
    let (last, parents) = segments.split_last()?;
    let mut object = claims;
    for name in parents {
        object = object.get(*name)?.as_object()?;
    }
    object.get(*last)
}

fn literal_prefixed(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["https://", "http://", "urn:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

proptest! {
    #![proptest_config(config(256))]

    /// `nested` accepts any names without `"`, keeps them as given, and its text parses back to
    /// an equal path.
    #[test]
    fn nested_round_trips_through_its_text(segments in segments()) {
        let path = ClaimPath::nested(&segments).unwrap();
        let kept: Vec<&str> = path.segments().collect();
        prop_assert_eq!(&kept, &segments);
        let reparsed = ClaimPath::new(path.as_str());
        prop_assert_eq!(reparsed.as_ref(), Ok(&path), "text {:?}", path.as_str());
        prop_assert_eq!(path.to_string(), path.as_str());
        let from_str = path.as_str().parse::<ClaimPath>();
        prop_assert_eq!(from_str.as_ref(), Ok(&path));
        prop_assert_eq!(
            path.top_level(),
            (segments.len() == 1).then(|| segments[0].as_str())
        );
    }

    /// A path finds exactly the value at its nesting, whatever else the objects on the way hold;
    /// so does the path parsed back from its text.
    #[test]
    fn nested_finds_the_value_at_its_nesting(
        (segments, siblings) in nesting(1..=16),
        value in json_value(),
    ) {
        let claims = nest(&segments, value.clone(), &siblings);
        let path = ClaimPath::nested(&segments).unwrap();
        prop_assert_eq!(path.lookup(&claims), Some(&value));
        let reparsed = ClaimPath::new(path.as_str()).unwrap();
        prop_assert_eq!(reparsed.lookup(&claims), Some(&value));
    }

    /// Every path reads like the reference walk over its own segments, on any claims: a path
    /// never finds a value at another location. Names come from a small pool of look-alikes
    /// (`a`, `b`, `a.b`, `"a.b"` spelled as a name, URIs with and without the dot) so that
    /// claims and paths overlap often.
    #[test]
    fn lookup_is_the_walk_over_its_segments(
        segments in prop::collection::vec(pooled_name(), 1..=4),
        claims in pooled_object(),
    ) {
        let path = ClaimPath::nested(&segments).unwrap();
        let names: Vec<&str> = segments.iter().map(String::as_str).collect();
        prop_assert_eq!(path.lookup(&claims), walk(&claims, &names));
        let reparsed = ClaimPath::new(path.as_str()).unwrap();
        prop_assert_eq!(reparsed.lookup(&claims), walk(&claims, &names));
    }

    /// The prefix-joined decoy: `{"a.b": X, "a": {"b": Y}}`. `nested(["a","b"])` finds Y and
    /// `nested(["a.b"])` (or `member("a.b")`) finds X, for any names; a truncated or extended
    /// path finds neither.
    #[test]
    fn joined_names_are_a_different_location(
        (segments, siblings) in nesting(2..=8),
    ) {
        let joined = segments.join(".");
        let decoy = json!("decoy X");
        let real = json!("real Y");
        let mut claims = nest(&segments, real.clone(), &siblings);
        // The decoy sits at the top level under the joined name (unless that is the first
        // segment itself, impossible: the joined name is longer).
        prop_assume!(joined != segments[0]);
        claims.insert(joined.clone(), decoy.clone());

        let path = ClaimPath::nested(&segments).unwrap();
        prop_assert_eq!(path.lookup(&claims), Some(&real));
        prop_assert_eq!(ClaimPath::nested([&joined]).unwrap().lookup(&claims), Some(&decoy));
        prop_assert_eq!(ClaimPath::member(&joined).unwrap().lookup(&claims), Some(&decoy));
        // The joined text as a path: a URI-prefixed text is one member (the decoy); otherwise
        // it reads as its own segments, and finds what the walk over those finds.
        if let Ok(parsed) = ClaimPath::new(&joined) {
            let names: Vec<&str> = parsed.segments().collect();
            prop_assert_eq!(parsed.lookup(&claims), walk(&claims, &names));
            if literal_prefixed(&joined) {
                prop_assert_eq!(parsed.lookup(&claims), Some(&decoy));
            }
        }
        // A strict prefix of the path lands on an object, never on the value.
        let prefix = ClaimPath::nested(&segments[..segments.len() - 1]).unwrap();
        prop_assert!(prefix.lookup(&claims).is_some_and(Value::is_object));
        // One level deeper than the value: nothing (the value is a string).
        let mut longer = segments.clone();
        longer.push("x".to_owned());
        if longer.len() <= 16 {
            prop_assert_eq!(ClaimPath::nested(&longer).unwrap().lookup(&claims), None);
        }
    }

    /// `ClaimPath::new` on arbitrary text: refused, or a path whose text parses back to itself;
    /// an unquoted text without URI prefix reads as its `.`-separated names, a URI-prefixed one
    /// as one member.
    #[test]
    fn parsing_arbitrary_text_is_stable(text in "[a-zA-Z:/.\"é ]{0,20}") {
        let Ok(path) = ClaimPath::new(&text) else { return Ok(()) };
        let reparsed = ClaimPath::new(path.as_str());
        prop_assert_eq!(reparsed.as_ref(), Ok(&path));
        let segments: Vec<&str> = path.segments().collect();
        if literal_prefixed(&text) {
            prop_assert_eq!(segments, vec![text.as_str()]);
        } else if !text.contains('"') {
            prop_assert_eq!(segments, text.split('.').collect::<Vec<_>>());
        }
    }

    /// Paths whose names are refused: empty, containing `"`, more than 16.
    #[test]
    fn invalid_segment_lists_are_refused(
        mut segments in prop::collection::vec(member_name(), 1..=16),
        at in any::<usize>(),
        how in 0u8..3,
    ) {
        let at = at % segments.len();
        match how {
            0 => segments[at] = String::new(),
            1 => segments[at].insert(0, '"'),
            _ => segments.extend(std::iter::repeat_n("x".to_owned(), 17 - segments.len())),
        }
        prop_assert!(ClaimPath::nested(&segments).is_err(), "{segments:?}");
    }

    /// `strings` of an array is exactly its string elements, in order.
    #[test]
    fn strings_of_an_array_are_its_string_elements(
        (segments, siblings) in nesting(1..=4),
        items in prop::collection::vec(json_value(), 0..8),
    ) {
        let expected: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
        let claims = nest(&segments, Value::Array(items.clone()), &siblings);
        let path = ClaimPath::nested(&segments).unwrap();
        prop_assert_eq!(path.strings(&claims), expected);
    }

    /// `strings` of a string is its words separated by ASCII whitespace (space, tab, LF, FF,
    /// CR), the way `scope` is written (RFC 6749 3.3 separates scope tokens with spaces).
    /// Other Unicode whitespace (U+000B, U+00A0, U+2003, U+3000) is part of a word: see
    /// `unicode_whitespace_is_part_of_a_word` below.
    #[test]
    fn strings_of_a_string_are_its_words(
        (segments, siblings) in nesting(1..=4),
        text in "[a-z \t\r\n\u{0b}\u{0c}\u{a0}\u{2003}\u{3000}é]{0,24}",
    ) {
        let claims = nest(&segments, Value::String(text.clone()), &siblings);
        let path = ClaimPath::nested(&segments).unwrap();
        let expected: Vec<&str> = text.split_ascii_whitespace().collect();
        prop_assert_eq!(path.strings(&claims), expected);
    }

    /// Anything else (absent, number, bool, null, object) gives no strings; so does a path
    /// through a non-object.
    #[test]
    fn strings_of_other_values_are_empty(
        (segments, siblings) in nesting(1..=4),
        value in prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            Just(json!({"k": ["v"]})),
        ],
    ) {
        let claims = nest(&segments, value, &siblings);
        let path = ClaimPath::nested(&segments).unwrap();
        prop_assert!(path.strings(&claims).is_empty());
        let mut deeper = segments.clone();
        deeper.push("k".to_owned());
        // Through an object `{"k": ["v"]}` the deeper path does find ["v"]; through anything
        // else it finds nothing.
        let found = ClaimPath::nested(&deeper).unwrap().strings(&claims);
        prop_assert!(found.is_empty() || found == vec!["v"]);
    }
}

/// The current reading of non-ASCII whitespace in a space-separated string: one word, not a
/// separator (`str::split_ascii_whitespace`, not `str::split_whitespace`). Pinned so a change is
/// deliberate: `str::split_whitespace` would split these four.
#[test]
fn unicode_whitespace_is_part_of_a_word() {
    let path = ClaimPath::new("roles").unwrap();
    for text in [
        "admin\u{0b}user",
        "admin\u{a0}user",
        "admin\u{2003}user",
        "admin\u{3000}user",
    ] {
        let claims = json!({ "roles": text });
        let claims = claims.as_object().unwrap();
        assert_eq!(path.strings(claims), vec![text], "{text:?}");
        assert_ne!(
            text.split_whitespace().count(),
            1,
            "{text:?}: split_whitespace splits it"
        );
    }
}
