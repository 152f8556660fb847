//! Untrusted XML read safely, for every XML the hub takes from outside (CAP documents, Atom and
//! RSS feeds of them): a size limit, a depth limit, one root, and no `<!DOCTYPE>` at all, so no
//! entity can be declared, expanded or fetched (quick-xml never reads files or the network, and
//! resolves only XML's five predefined entities and character references).
//!
//! [`walk`] hands each element to a visitor twice: when it opens (with its attributes) and when
//! it closes (with its text), keyed by the local names of the elements it sits in.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::Invalid;

/// Why a document was refused: not XML at all (HTTP 400), or XML that is not acceptable (HTTP
/// 422, naming the element).
#[derive(Debug, thiserror::Error)]
pub enum XmlRejected {
    #[error("the document is not well-formed XML: {0}")]
    Syntax(String),
    #[error("{0}")]
    Invalid(#[from] Invalid),
}

/// One step of the walk: `path` holds the local names from the root down to this element.
pub enum Step<'a, 'x> {
    Open {
        path: &'a [String],
        element: &'a BytesStart<'x>,
    },
    Close {
        path: &'a [String],
        text: String,
    },
}

/// Reads `xml` (at most `max_bytes`, elements nested at most `max_depth` deep), calling `visit`
/// at every element's start and end. The visitor's error ends the walk.
pub fn walk(
    xml: &[u8],
    max_bytes: usize,
    max_depth: usize,
    mut visit: impl FnMut(Step) -> Result<(), XmlRejected>,
) -> Result<(), XmlRejected> {
    if xml.len() > max_bytes {
        return Err(Invalid::new("", format!("the document is larger than {max_bytes} bytes")).into());
    }
    let xml = std::str::from_utf8(xml).map_err(|_| XmlRejected::Syntax("the document is not UTF-8".into()))?;
    let mut reader = Reader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut seen_root = false;
    let syntax = |reader: &Reader<&[u8]>, e: &dyn std::fmt::Display| {
        XmlRejected::Syntax(format!("{e} (at byte {})", reader.error_position()))
    };
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, &e))?;
        match event {
            Event::DocType(_) => {
                return Err(Invalid::new("", "a DOCTYPE is not allowed: it could declare entities").into());
            }
            Event::Start(ref element) | Event::Empty(ref element) => {
                if path.is_empty() && std::mem::replace(&mut seen_root, true) {
                    return Err(XmlRejected::Syntax("more than one root element".into()));
                }
                if path.len() >= max_depth {
                    return Err(
                        Invalid::new("", "elements are nested deeper than this kind of document allows").into(),
                    );
                }
                path.push(String::from_utf8_lossy(element.local_name().as_ref()).into_owned());
                text.clear();
                visit(Step::Open { path: &path, element })?;
                if matches!(event, Event::Empty(_)) {
                    visit(Step::Close {
                        path: &path,
                        text: String::new(),
                    })?;
                    path.pop();
                }
            }
            Event::Text(t) => {
                let value = t
                    .unescape()
                    .map_err(|e| syntax(&reader, &format!("{e}; only XML's predefined entities are allowed")))?;
                text.push_str(&value);
            }
            Event::CData(c) => {
                let value = c.decode().map_err(|e| syntax(&reader, &e))?;
                text.push_str(&value);
            }
            Event::End(_) => {
                visit(Step::Close {
                    path: &path,
                    text: std::mem::take(&mut text),
                })?;
                path.pop();
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !seen_root {
        return Err(XmlRejected::Syntax("the document has no root element".into()));
    }
    Ok(())
}

/// The value of the element's attribute `name` (unescaped), if it has one.
pub fn attribute(element: &BytesStart, name: &[u8]) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// The namespaces the element declares (`xmlns` and `xmlns:prefix`).
pub fn declared_namespaces(element: &BytesStart) -> Vec<String> {
    element
        .attributes()
        .flatten()
        .filter(|a| a.key.as_ref() == b"xmlns" || a.key.as_ref().starts_with(b"xmlns:"))
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(xml: &str) -> Result<Vec<String>, XmlRejected> {
        let mut seen = Vec::new();
        walk(xml.as_bytes(), 1024, 4, |step| {
            seen.push(match step {
                Step::Open { path, .. } => format!("+{}", path.join("/")),
                Step::Close { path, text } => format!("-{}={text}", path.join("/")),
            });
            Ok(())
        })?;
        Ok(seen)
    }

    #[test]
    fn elements_are_visited_with_their_path_and_text() {
        assert_eq!(
            steps("<a><b>x &amp; y</b><c/><d><![CDATA[<z>]]></d></a>").unwrap(),
            ["+a", "+a/b", "-a/b=x & y", "+a/c", "-a/c=", "+a/d", "-a/d=<z>", "-a="]
        );
    }

    #[test]
    fn doctypes_depth_size_and_extra_roots_are_refused() {
        assert!(matches!(steps("<!DOCTYPE a><a/>"), Err(XmlRejected::Invalid(_))));
        assert!(matches!(
            steps("<a><b><c><d><e/></d></c></b></a>"),
            Err(XmlRejected::Invalid(_))
        ));
        assert!(matches!(
            steps(&format!("<a>{}</a>", "x".repeat(2000))),
            Err(XmlRejected::Invalid(_))
        ));
        assert!(matches!(steps("<a/><b/>"), Err(XmlRejected::Syntax(_))));
        assert!(matches!(steps(""), Err(XmlRejected::Syntax(_))));
        assert!(matches!(steps("<a>&xxe;</a>"), Err(XmlRejected::Syntax(_))));
    }
}
