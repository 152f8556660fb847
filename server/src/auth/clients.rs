//! Who a request comes from, for counting failed logins: the peer's address, or, when the peer is
//! one of the configured `trusted_proxies`, the client it says it forwarded (the right-most
//! address of `X-Forwarded-For`, else of `Forwarded`, that is not itself a trusted proxy). Only a
//! trusted proxy's word is taken: anyone can send those headers.

use axum::http::{HeaderMap, HeaderName};
use std::net::{IpAddr, SocketAddr};

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = forwarded_for(headers, &HeaderName::from_static("x-forwarded-for"), |entry| entry)
        .or_else(|| forwarded_for(headers, &axum::http::header::FORWARDED, forwarded_element));
    let mut client = peer;
    for hop in forwarded.unwrap_or_default().into_iter().rev() {
        match hop {
            Some(address) if trusted.contains(&address) => client = address,
            Some(address) => return address,
            // Unreadable: the last proxy we trust is as far as anyone can tell.
            None => return client,
        }
    }
    client
}

/// Every hop a header lists, in order (all its lines), each as an address if it reads as one.
fn forwarded_for(headers: &HeaderMap, name: &HeaderName, hop: impl Fn(&str) -> &str) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let value = value.to_str().ok()?;
        hops.extend(value.split(',').map(|entry| parse_address(hop(entry.trim()))));
    }
    (!hops.is_empty()).then_some(hops)
}

/// RFC 7239: the `for=` of one element (`for=192.0.2.60;proto=https`, `for="[2001:db8::1]:4711"`).
fn forwarded_element(element: &str) -> &str {
    element
        .split(';')
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            name.eq_ignore_ascii_case("for").then_some(value.trim_matches('"'))
        })
        .unwrap_or("")
}

/// An address, with or without a port, IPv6 possibly in brackets.
fn parse_address(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.trim_start_matches('[').trim_end_matches(']').parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_and_then_only_about_the_hop_before_it() {
        let proxy: IpAddr = [10, 0, 0, 5].into();
        let client: IpAddr = [203, 0, 113, 7].into();
        let stranger: IpAddr = [198, 51, 100, 1].into();
        let claims = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7")]);
        // From the proxy: the right-most hop it added, not what the client claimed before it.
        assert_eq!(client_address(proxy, &claims, &[proxy]), client);
        // From anyone else: their own address, whatever they say.
        assert_eq!(client_address(stranger, &claims, &[proxy]), stranger);
        assert_eq!(client_address(proxy, &claims, &[]), proxy);
        // Two proxies in a row.
        let inner: IpAddr = [10, 0, 0, 6].into();
        let chain = headers(&[("x-forwarded-for", "203.0.113.7, 10.0.0.5")]);
        assert_eq!(client_address(inner, &chain, &[proxy, inner]), client);
        // RFC 7239, and garbage.
        let rfc = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            client_address(proxy, &rfc, &[proxy]),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let garbage = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(client_address(proxy, &garbage, &[proxy]), proxy);
    }
}
