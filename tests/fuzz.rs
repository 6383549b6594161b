//! Property tests of the parsers and renderers Portico owns, fed untrusted input: identifier
//! normalization, the contact CSV import, message templates (an organization's own wording
//! and the built-in one filled with hostile values) and the Markdown of solutions.
//!
//! Each property runs a bounded number of cases (`PORTICO_FUZZ_CASES`, default 256), so the
//! whole file takes seconds inside `cargo test`; raise the variable for a longer hunt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use portico::domain::{
    contact::{Identifier, normalize_email},
    directory::parse_import,
    markdown::to_safe_html,
    messages::{self, MessageKind, MessageParts, Messages},
};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PORTICO_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(256)
}

/// Text a visitor might type: letters, digits, the punctuation of addresses and numbers,
/// spaces, controls, invisible and right-to-left characters, and anything else.
fn typed() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9@.+ ()/-]{0,40}",
        "[ \\t]*[a-z0-9._%+-]{1,20}@[a-z0-9.-]{1,20}\\.[a-z]{2,6}[ \\t]*",
        "[+]?[0-9 ().-]{6,24}",
        any::<String>(),
        "[\\u{0}-\\u{1f}\\u{200b}\\u{202e}\\u{feff}a@b.c1]{0,30}",
    ]
}

/// Values an organization admin or a contact controls, with markup and template syntax in.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[<>&\"'/a-z {}=]{0,40}",
        "<script>[a-z]{0,10}</script>",
        "\\{\\{[a-z ]{0,10}\\}\\}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn identifiers_normalize_once_and_for_all(input in typed()) {
        if let Ok(identifier) = Identifier::parse(&input, "US") {
            let text = identifier.as_str().to_owned();
            prop_assert!(!text.is_empty());
            prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
            let again = Identifier::parse(&text, "US").unwrap();
            prop_assert_eq!(again.as_str(), text.as_str(), "normalizing twice changes nothing");
            match identifier {
                Identifier::Email(email) => {
                    prop_assert_eq!(email.to_lowercase(), email.clone());
                    prop_assert_eq!(normalize_email(&email).unwrap(), email);
                }
                Identifier::Mobile(number) => {
                    prop_assert!(number.starts_with('+'));
                    prop_assert!(number[1..].bytes().all(|b| b.is_ascii_digit()));
                    prop_assert!((8..=16).contains(&number.len()));
                }
            }
        }
    }

    #[test]
    fn any_bytes_as_an_import_give_rows_or_one_clear_refusal(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_import(&bytes, "US");
        let mut with_header = b"name,email,mobile\n".to_vec();
        with_header.extend_from_slice(&bytes);
        if let Ok(rows) = parse_import(&with_header, "US") {
            for row in rows {
                prop_assert!(row.line >= 2);
                prop_assert_eq!(row.refusal.is_none(), row.details.is_some());
            }
        }
    }

    #[test]
    fn imported_rows_keep_what_was_quoted(
        rows in proptest::collection::vec((hostile(), "[a-z]{1,8}@[a-z]{1,8}\\.example"), 1..8)
    ) {
        let mut csv = String::from("name,email,mobile\n");
        for (name, email) in &rows {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            csv.push_str(&format!("{quoted},{email},\n"));
        }
        let parsed = parse_import(csv.as_bytes(), "US").unwrap();
        prop_assert_eq!(parsed.len(), rows.len());
        for (row, (name, _)) in parsed.iter().zip(&rows) {
            prop_assert_eq!(row.name.as_str(), name.trim());
            if let Some(details) = &row.details {
                prop_assert!(!details.name.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn hostile_values_never_become_markup_in_the_built_in_messages(
        org_name in hostile(),
        link in hostile(),
    ) {
        let templates = Messages::load().unwrap();
        for kind in [MessageKind::LoginCode, MessageKind::RequestReplied, MessageKind::PasswordReset] {
            let rendered = templates.render_for(kind, None, &kind.sample(&org_name, &link)).unwrap();
            let neutral = templates
                .render_for(kind, None, &kind.sample("ORGNAME", "LINKVALUE"))
                .unwrap();
            let expected = neutral
                .html
                .replace("ORGNAME", &handlebars::html_escape(&org_name))
                .replace("LINKVALUE", &handlebars::html_escape(&link));
            prop_assert_eq!(&rendered.html, &expected, "every value goes in escaped");
        }
    }

    #[test]
    fn an_organizations_own_wording_is_checked_or_rendered_never_crashes(
        subject in hostile(),
        text in prop_oneof![hostile(), "\\{\\{[#/>~!]?[a-z_ .]{0,12}\\}\\}[a-z ]{0,10}"],
        value in hostile(),
    ) {
        let kind = MessageKind::LoginCode;
        let parts = MessageParts {
            subject,
            text: text.clone(),
            html: format!("<p>{text}</p>"),
            sms: text,
        };
        let sample = kind.sample(&value, "https://help.example/portal/acme/");
        let errors = messages::check(kind, &parts, &sample);
        if errors.is_empty() {
            let rendered = messages::render_parts(kind, &parts, &sample);
            prop_assert!(rendered.is_ok(), "a wording that passed the check fails: {rendered:?}");
        }
    }

    #[test]
    fn markdown_from_anyone_renders_without_script(body in prop_oneof![
        hostile(),
        "\\[[a-z]{1,5}\\]\\((javascript|JaVaScRiPt|data|vbscript):[a-z()]{0,10}\\)",
        "<(img|iframe|svg) (src|onload|onerror)=[a-z\"':()]{0,20}>",
        any::<String>(),
    ]) {
        let html = to_safe_html(&body);
        // Text is escaped, so every `<` left opens a tag Portico wrote: look at each one.
        for tag in html.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or_default().to_lowercase();
            let name = tag.trim_start_matches('/').split([' ', '/']).next().unwrap_or_default();
            prop_assert!(
                !["script", "iframe", "svg", "object", "embed", "style", "form", "input"]
                    .contains(&name),
                "<{tag}> in {html}"
            );
            prop_assert!(!tag.contains(" on"), "a handler in <{tag}>: {html}");
            for scheme in ["javascript:", "vbscript:", "data:"] {
                prop_assert!(!tag.contains(scheme), "{scheme} in <{tag}>: {html}");
            }
        }
    }
}
