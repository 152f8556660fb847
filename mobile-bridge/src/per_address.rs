//! Connections from one address, bounded, so that a flood from one place costs that place and
//! not everyone: the hub's MQTT endpoint bounds the connections between accept and CONNACK (see
//! `endpoint`), its HTTP server the connections open at once. Only the flooding address (and
//! whoever shares it, e.g. behind a carrier's NAT, while the flood lasts) is held back; the
//! limits are high because such a NAT can put many people behind one address.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

pub struct PerAddress {
    per_address: usize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place; dropping it frees the place.
pub struct Place {
    limiter: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    /// At most `per_address` places held by one address at once.
    pub fn new(per_address: usize) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            per_address,
            by_address: Mutex::default(),
        })
    }

    /// A place for a new connection from `address`, or `None` when it holds too many already.
    pub fn enter(self: &Arc<Self>, address: IpAddr) -> Option<Place> {
        let mut by_address = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        let count = by_address.entry(address).or_default();
        if *count >= self.per_address {
            return None;
        }
        *count += 1;
        Some(Place {
            limiter: self.clone(),
            address,
        })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut by_address = self.limiter.by_address.lock().unwrap_or_else(|e| e.into_inner());
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
        let limiter = PerAddress::new(3);
        let (flood, other): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let held: Vec<Place> = (0..3).map(|_| limiter.enter(flood).unwrap()).collect();
        assert!(limiter.enter(flood).is_none());
        assert!(limiter.enter(other).is_some());
        drop(held);
        assert!(limiter.enter(flood).is_some());
        assert!(limiter.by_address.lock().unwrap().is_empty(), "nothing left behind");
    }
}
