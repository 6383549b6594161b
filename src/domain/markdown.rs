//! The safe Markdown subset solutions are written in, turned into HTML for the portal.
//!
//! Solutions are written by organization admins but read by anyone the organization lets in,
//! so their text is treated as untrusted. Markdown is parsed by `pulldown-cmark`; raw HTML
//! (blocks and inline) is dropped, links keep their text but lose their target unless it is an
//! `http`, `https` or `mailto` URL, and images become their alt text (the portal loads nothing
//! from other hosts). Everything else is escaped by the renderer. The output is therefore safe
//! to insert into a page unescaped, and is the only HTML that ever is.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// URL schemes a link may point to.
const ALLOWED_SCHEMES: &[&str] = &["http://", "https://", "mailto:"];

/// Renders Markdown to HTML, keeping only the safe subset.
pub fn to_safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES;
    let mut dropped_links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(_) | Event::InlineHtml(_) => None,
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link { ref dest_url, .. }) => {
            let safe = is_safe_url(dest_url);
            dropped_links.push(!safe);
            safe.then_some(event)
        }
        Event::End(TagEnd::Link) => match dropped_links.pop() {
            Some(true) => None,
            _ => Some(event),
        },
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 2);
    html::push_html(&mut out, events);
    out
}

/// Whether a link target uses one of the allowed schemes. Case and leading blanks do not fool
/// it, and relative or protocol-relative targets are refused too.
pub fn is_safe_url(url: &str) -> bool {
    let lowered = url.trim().to_ascii_lowercase();
    let has_control = lowered.chars().any(char::is_control);
    !has_control
        && ALLOWED_SCHEMES
            .iter()
            .any(|scheme| lowered.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_formatting_is_kept() {
        let html = to_safe_html(
            "A **bold** step\n\n1. one\n2. two\n\n`code` and [docs](https://acme.example/a?b=1&c=2)",
        );
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(html.contains("<ol>"), "{html}");
        assert!(html.contains("<code>code</code>"), "{html}");
        assert!(
            html.contains("<a href=\"https://acme.example/a?b=1&amp;c=2\">docs</a>"),
            "{html}"
        );
    }

    #[test]
    fn raw_html_and_scripts_are_dropped() {
        let html = to_safe_html(
            "<script>alert(1)</script>\n\nText <img src=x onerror=alert(2)> here <b>bold</b>\n\n<div onclick=\"x()\">block</div>",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("<div"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("Text"), "{html}");
    }

    #[test]
    fn dangerous_links_lose_their_target_but_keep_their_text() {
        for target in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD4=",
            "vbscript:msgbox",
            "//evil.example/x",
            "/relative",
        ] {
            let html = to_safe_html(&format!("[click me](<{target}>)"));
            assert!(!html.contains("<a"), "{target}: {html}");
            assert!(!html.to_ascii_lowercase().contains("javascript:"), "{html}");
            assert!(html.contains("click me"), "{html}");
        }
        let html = to_safe_html("[mail](mailto:help@acme.example) <javascript:alert(1)>");
        assert!(html.contains("href=\"mailto:help@acme.example\""), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }

    #[test]
    fn images_become_their_alt_text() {
        let html = to_safe_html("![a diagram](https://tracker.example/pixel.png)");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("a diagram"), "{html}");
    }

    #[test]
    fn text_is_escaped() {
        let html = to_safe_html("1 < 2 & \"quotes\" `<b>`");
        assert!(html.contains("1 &lt; 2 &amp;"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");
    }
}
