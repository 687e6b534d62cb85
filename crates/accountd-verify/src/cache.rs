//! A bounded map whose entries expire: introspection answers by the SHA-256 of their token. Every
//! entry lives the same time, so the oldest entry is also the first to expire, and a queue in
//! insertion order finds both the expired entries and the one to evict when full.

use std::collections::{HashMap, VecDeque};

/// At most `capacity` entries, each readable until its deadline (epoch milliseconds).
#[derive(Debug)]
pub(crate) struct ExpiringMap<V> {
    capacity: usize,
    entries: HashMap<[u8; 32], (V, i64)>,
    /// Keys with the deadline they were inserted with, oldest first. A key inserted again leaves
    /// its older record behind; a record whose deadline no longer matches the entry is skipped.
    order: VecDeque<([u8; 32], i64)>,
}

impl<V: Clone> ExpiringMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The value under `key` while `now` is before its deadline.
    pub(crate) fn get(&self, key: &[u8; 32], now: i64) -> Option<V> {
        self.entries
            .get(key)
            .filter(|(_, deadline)| now < *deadline)
            .map(|(value, _)| value.clone())
    }

    /// Keeps `value` until `deadline`, dropping expired entries and, when full, the oldest.
    pub(crate) fn insert(&mut self, key: [u8; 32], value: V, deadline: i64, now: i64) {
        if self.capacity == 0 {
            return;
        }
        self.entries.remove(&key);
        while let Some(&(oldest, inserted_deadline)) = self.order.front() {
            let current = self.entries.get(&oldest).map(|(_, deadline)| *deadline);
            let expired = inserted_deadline <= now;
            let full = self.entries.len() >= self.capacity;
            if current != Some(inserted_deadline) {
                // Left behind by a later insert of the same key, or already removed.
                self.order.pop_front();
            } else if expired || full {
                self.entries.remove(&oldest);
                self.order.pop_front();
            } else {
                break;
            }
        }
        self.entries.insert(key, (value, deadline));
        self.order.push_back((key, deadline));
        // Records left behind by re-inserted keys that are not at the front yet: dropped in one
        // pass once they could outnumber the entries, so the queue stays within twice the map.
        if self.order.len() > self.capacity.saturating_mul(2) {
            let entries = &self.entries;
            let mut kept = std::collections::HashSet::with_capacity(entries.len());
            self.order.retain(|(key, deadline)| {
                entries.get(key).map(|(_, current)| *current) == Some(*deadline)
                    && kept.insert(*key)
            });
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: u32) -> [u8; 32] {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&index.to_le_bytes());
        key
    }

    #[test]
    fn an_entry_is_readable_until_its_deadline_only() {
        let mut map = ExpiringMap::new(10);
        map.insert(key(1), "a", 1_000, 0);
        assert_eq!(map.get(&key(1), 999), Some("a"));
        assert_eq!(map.get(&key(1), 1_000), None);
        assert_eq!(map.get(&key(2), 0), None);
    }

    #[test]
    fn the_map_never_holds_more_than_its_capacity_and_evicts_the_oldest() {
        let mut map = ExpiringMap::new(3);
        for index in 0..100 {
            map.insert(
                key(index),
                index,
                10_000 + i64::from(index),
                i64::from(index),
            );
            assert!(map.len() <= 3);
        }
        assert_eq!(map.get(&key(99), 100), Some(99));
        assert_eq!(map.get(&key(97), 100), Some(97));
        assert_eq!(map.get(&key(96), 100), None);
        // Re-inserting a key refreshes it without growing the queue without bound.
        for round in 0..1_000 {
            map.insert(key(99), 99, 20_000 + round, 200 + round);
            map.insert(key(98), 98, 20_000, 200 + round);
        }
        assert!(map.order.len() <= 6, "{}", map.order.len());
        assert_eq!(map.get(&key(99), 300), Some(99));
    }

    #[test]
    fn expired_entries_are_dropped_as_new_ones_arrive() {
        let mut map = ExpiringMap::new(100);
        for index in 0..50 {
            map.insert(key(index), index, 1_000, 0);
        }
        map.insert(key(1_000), 0, 3_000, 2_000);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn a_map_of_no_capacity_keeps_nothing() {
        let mut map = ExpiringMap::new(0);
        map.insert(key(1), 1, 1_000, 0);
        assert_eq!(map.get(&key(1), 0), None);
    }
}
