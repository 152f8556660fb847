//! What a feed's URL serves: an Atom or RSS index whose entries link to CAP messages (GDACS,
//! Meteoalarm, NWS, WMO's alert hub publish these), or one CAP message itself. No I/O here.

use reqwest::Url;
use scaan_schemas::cap_message::{read_message, CapMessage};
use scaan_schemas::safe_xml::{attribute, walk, Step, XmlRejected};
use scaan_schemas::Invalid;

/// Larger than any real index (GDACS's and Meteoalarm's are a few hundred kB).
pub const MAX_INDEX_BYTES: usize = 4 * 1024 * 1024;
/// Atom entries may carry a whole CAP message in their content: feed/entry/content + 5.
const MAX_INDEX_DEPTH: usize = 10;

pub enum Document {
    Index(Vec<Entry>),
    Message(Box<CapMessage>),
}

/// One entry of an index: where its CAP message is, and what identifies this version of it
/// (the link with its update time), so an entry is fetched once until it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub url: Url,
    pub key: String,
}

#[derive(Default)]
struct EntryDraft {
    links: Vec<(String, Option<String>, Option<String>)>,
    link_text: Option<String>,
    enclosure: Option<(String, Option<String>)>,
    guid: Option<String>,
    updated: Option<String>,
}

/// Reads a fetched document; relative links are taken from `base`, the feed's URL.
pub fn read_document(body: &[u8], base: &Url) -> Result<Document, XmlRejected> {
    let mut root: Option<String> = None;
    let mut drafts: Vec<EntryDraft> = Vec::new();
    let is_entry = |path: &[String]| {
        matches!(
            path.iter().map(String::as_str).collect::<Vec<_>>()[..],
            ["feed", "entry"] | ["rss", "channel", "item"] | ["RDF", "item"]
        )
    };
    walk(body, MAX_INDEX_BYTES, MAX_INDEX_DEPTH, |step| {
        match step {
            Step::Open { path, .. } if path.len() == 1 => root = Some(path[0].clone()),
            Step::Open { path, .. } if is_entry(path) => drafts.push(EntryDraft::default()),
            Step::Open { path, element } if path.len() >= 2 && is_entry(&path[..path.len() - 1]) => {
                let Some(entry) = drafts.last_mut() else { return Ok(()) };
                match path[path.len() - 1].as_str() {
                    "link" => {
                        if let Some(href) = attribute(element, b"href") {
                            entry
                                .links
                                .push((href, attribute(element, b"type"), attribute(element, b"rel")));
                        }
                    }
                    "enclosure" => {
                        if let Some(url) = attribute(element, b"url") {
                            entry.enclosure = Some((url, attribute(element, b"type")));
                        }
                    }
                    _ => {}
                }
            }
            Step::Close { path, text } if path.len() >= 2 && is_entry(&path[..path.len() - 1]) => {
                let Some(entry) = drafts.last_mut() else { return Ok(()) };
                let text = Some(text.trim().to_owned()).filter(|t| !t.is_empty());
                match path[path.len() - 1].as_str() {
                    "link" if text.is_some() => entry.link_text = text,
                    "guid" | "id" => entry.guid = text,
                    "updated" | "pubDate" | "date" => entry.updated = text,
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    match root.as_deref() {
        Some("alert") => Ok(Document::Message(Box::new(read_message(body)?))),
        Some("feed" | "rss" | "RDF") => Ok(Document::Index(
            drafts.into_iter().filter_map(|d| d.into_entry(base)).collect(),
        )),
        _ => Err(Invalid::new("", "the document is neither a CAP message nor an Atom or RSS feed").into()),
    }
}

fn is_cap_type(mime: &Option<String>) -> bool {
    mime.as_deref().is_some_and(|t| t.contains("cap"))
}

impl EntryDraft {
    /// The entry's CAP link: one typed as CAP, else the entry's main link.
    fn into_entry(self, base: &Url) -> Option<Entry> {
        let typed = self
            .links
            .iter()
            .find(|(_, mime, _)| is_cap_type(mime))
            .map(|(href, _, _)| href.clone())
            .or_else(|| self.enclosure.clone().filter(|(_, t)| is_cap_type(t)).map(|(u, _)| u));
        let main = self
            .links
            .iter()
            .find(|(_, _, rel)| matches!(rel.as_deref(), None | Some("alternate")))
            .map(|(href, _, _)| href.clone())
            .or(self.link_text)
            .or_else(|| self.guid.clone().filter(|g| g.starts_with("http")));
        let url = base.join(&typed.or(main)?).ok()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        let key = format!("{url} {}", self.updated.unwrap_or_default());
        Some(Entry { url, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://feeds.example.org/cap/index.xml").unwrap()
    }

    fn entries(xml: &str) -> Vec<Entry> {
        match read_document(xml.as_bytes(), &base()).unwrap() {
            Document::Index(entries) => entries,
            Document::Message(_) => panic!("not an index"),
        }
    }

    #[test]
    fn atom_entries_link_to_their_cap_message() {
        let atom = r#"<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Meteoalarm</title>
          <entry><id>urn:1</id><updated>2026-12-06T08:00:00Z</updated>
            <link rel="alternate" href="https://www.meteoalarm.org/page"/>
            <link rel="related" type="application/cap+xml" href="/cap/1.xml"/></entry>
          <entry><id>urn:2</id><updated>2026-12-06T09:00:00Z</updated><link href="two.xml"/></entry>
        </feed>"#;
        let got = entries(atom);
        assert_eq!(got[0].url.as_str(), "https://feeds.example.org/cap/1.xml");
        assert_eq!(got[0].key, "https://feeds.example.org/cap/1.xml 2026-12-06T08:00:00Z");
        assert_eq!(got[1].url.as_str(), "https://feeds.example.org/cap/two.xml");
    }

    #[test]
    fn rss_items_link_or_enclose_their_cap_message() {
        let rss = r#"<rss version="2.0"><channel><title>GDACS</title>
          <item><title>EQ</title><link>https://www.gdacs.org/report</link>
            <enclosure url="https://www.gdacs.org/cap/eq.xml" type="application/cap+xml" length="1"/></item>
          <item><title>TC</title><link>https://www.gdacs.org/cap/tc.xml</link><pubDate>Sun, 06 Dec 2026</pubDate></item>
          <item><title>no link</title></item>
          <item><link>file:///etc/passwd</link></item>
        </channel></rss>"#;
        let urls: Vec<String> = entries(rss).into_iter().map(|e| e.url.to_string()).collect();
        assert_eq!(
            urls,
            ["https://www.gdacs.org/cap/eq.xml", "https://www.gdacs.org/cap/tc.xml"]
        );
    }

    #[test]
    fn a_cap_document_is_read_as_a_message_and_anything_else_is_refused() {
        let cap = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"><identifier>1</identifier><sender>s</sender>
          <sent>2026-12-06T08:00:00-05:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope></alert>"#;
        assert!(matches!(
            read_document(cap.as_bytes(), &base()),
            Ok(Document::Message(_))
        ));
        assert!(matches!(
            read_document(b"<html><body/></html>", &base()),
            Err(XmlRejected::Invalid(_))
        ));
        assert!(matches!(
            read_document(b"<!DOCTYPE html><html/>", &base()),
            Err(XmlRejected::Invalid(_))
        ));
    }
}
