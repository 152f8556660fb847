//! Connections from one address still between accept and CONNACK, bounded, so that a flood of
//! CONNECTs or of bad passwords from one place costs that place, not everyone.
//!
//! Each refused login is answered only after [`REFUSAL_DELAY`], while its connection keeps its
//! place here: one address can try at most `Limits::handshakes_per_address` logins per delay,
//! and beyond that its new connections are closed at once, before any look-up. A valid login
//! is never delayed. Nobody is locked out by name: only the address doing the flooding (and
//! whoever shares it, e.g. behind a carrier's NAT, while the flood lasts) is slowed. The limit
//! is high (a thousand by default) because a carrier's NAT can put many phones behind one
//! address, and they all reconnect at once after a restart of the hub.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

/// How long a refused login waits for its answer.
pub(crate) const REFUSAL_DELAY: Duration = Duration::from_secs(1);

pub(crate) struct Handshakes {
    per_address: usize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// A handshake's place; dropping it frees the place.
pub(crate) struct Place {
    handshakes: Arc<Handshakes>,
    address: IpAddr,
}

impl Handshakes {
    /// At most `per_address` handshakes in progress from one address.
    pub(crate) fn new(per_address: usize) -> Arc<Handshakes> {
        Arc::new(Handshakes {
            per_address,
            by_address: Mutex::default(),
        })
    }

    /// A place for a new connection from `address`, or `None` when it has too many already.
    pub(crate) fn enter(self: &Arc<Self>, address: IpAddr) -> Option<Place> {
        let mut by_address = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = by_address.entry(address).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Place {
            handshakes: self.clone(),
            address,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut by_address = self.handshakes.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = by_address.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_bounded_and_the_others_are_not() {
        let handshakes = Handshakes::new(3);
        let (flood, other): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let held: Vec<Place> = (0..3).map(|_| handshakes.enter(flood).unwrap()).collect();
        assert!(handshakes.enter(flood).is_none());
        assert!(handshakes.enter(other).is_some());
        drop(held);
        assert!(handshakes.enter(flood).is_some());
        assert!(handshakes.by_address.lock().unwrap().is_empty(), "nothing left behind");
    }
}
