//! The correlator's table of live entities: each normalised entity key
//! interned to a small id, its state in a slot of a flat vector, and the key
//! text in one shared string.
//!
//! Why not a `HashMap<EntityKey, State>`: every finding names several
//! entities, and most of them are new (a process GUID, a logon ID), so the
//! map cost a `Box<str>` allocation per new entity and a free per evicted
//! one, and each entity was looked up three times per finding. Here a
//! finding looks each entity up once (hash, then one probe of a table of
//! `u32` ids); a new entity appends its key to the shared string and takes a
//! free slot; eviction marks the slot free and leaves its key text as
//! garbage, which is compacted away (amortised) once it outweighs the live
//! keys. Ids are reused after eviction; nothing outside the table keeps one
//! across a sweep.
//!
//! Keys are compared exactly (kind and text), never by hash alone.

use std::hash::Hasher;
use std::mem;

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use smallvec::SmallVec;

use crate::signal::EntityKind;

/// Hosts an entity was seen on (online commonness): inline up to four, the
/// common case, without an allocation.
pub(crate) type HostIds = SmallVec<[u32; 4]>;

/// One live entity: its key (kind, text in the shared string) and state.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Hash of (kind, text), kept for rehashing and removal.
    hash: u64,
    off: usize,
    len: usize,
    pub(crate) last_seen: i64,
    /// Online learning: up to `max_hosts + 1` distinct hosts.
    pub(crate) hosts: HostIds,
    /// Union-find node of the incident it belongs to.
    pub(crate) incident: u32,
    /// Host (interned) of the last finding that touched it, for lateral edges.
    pub(crate) host: u32,
    /// Online learning: findings seen with it.
    pub(crate) df: u32,
    kind: EntityKind,
    live: bool,
}

/// What a new entity starts with.
pub(crate) struct NewEntity<'a> {
    pub(crate) last_seen: i64,
    pub(crate) incident: u32,
    pub(crate) host: u32,
    pub(crate) hosts: &'a [u32],
}

/// Hash of an entity key, as the table computes it.
pub(crate) fn key_hash(kind: EntityKind, value: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write_u8(kind as u8);
    h.write(value.as_bytes());
    h.finish()
}

/// Interned live entities (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct EntityTable {
    /// Slot ids, found by key hash.
    index: HashTable<u32>,
    slots: Vec<Slot>,
    /// Free slot ids.
    free: Vec<u32>,
    /// Key texts of the slots, back to back, with evicted ones as garbage.
    keys: Vec<u8>,
    /// Bytes of `keys` that belong to live slots.
    live_key_bytes: usize,
    /// Compaction's scratch: live keys as (offset, slot id), kept between
    /// compactions with its capacity (see `compact_keys`).
    by_offset: Vec<(usize, u32)>,
}

/// Below this many bytes of key text, garbage is not worth compacting.
const MIN_COMPACT: usize = 64 * 1024;
/// Below this many slots, a sparse slot vector is not worth compacting.
const MIN_COMPACT_SLOTS: usize = 64;

impl EntityTable {
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The id of a live entity.
    pub(crate) fn find(&self, hash: u64, kind: EntityKind, value: &str) -> Option<u32> {
        let (slots, keys) = (&self.slots, &self.keys);
        self.index
            .find(hash, |&id| {
                let s = &slots[id as usize];
                s.hash == hash
                    && s.kind == kind
                    && keys.get(s.off..s.off + s.len) == Some(value.as_bytes())
            })
            .copied()
    }

    pub(crate) fn slot(&self, id: u32) -> &Slot {
        &self.slots[id as usize]
    }

    pub(crate) fn slot_mut(&mut self, id: u32) -> &mut Slot {
        &mut self.slots[id as usize]
    }

    /// Adds an entity that is not live (the caller looked it up) with the
    /// state `new` (`df` 1). Returns its id.
    pub(crate) fn insert_new(
        &mut self,
        hash: u64,
        kind: EntityKind,
        value: &str,
        new: NewEntity<'_>,
    ) -> u32 {
        let id = self.add(hash, kind, value);
        let s = &mut self.slots[id as usize];
        s.last_seen = new.last_seen;
        s.incident = new.incident;
        s.host = new.host;
        s.df = 1;
        s.hosts.extend_from_slice(new.hosts);
        id
    }

    fn add(&mut self, hash: u64, kind: EntityKind, value: &str) -> u32 {
        let off = self.keys.len();
        self.keys.extend_from_slice(value.as_bytes());
        self.live_key_bytes += value.len();
        let slot = Slot {
            hash,
            off,
            len: value.len(),
            last_seen: 0,
            hosts: HostIds::new(),
            incident: 0,
            host: 0,
            df: 0,
            kind,
            live: true,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = slot;
                id
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index
            .insert_unique(hash, id, |&i| slots[i as usize].hash);
        id
    }

    /// Evicts every entity last seen before `horizon`; `keep` sees each one
    /// that stays. Returns how many were evicted.
    pub(crate) fn evict(&mut self, horizon: i64, mut keep: impl FnMut(&mut Slot)) -> u64 {
        let mut evicted = 0u64;
        for (id, s) in self.slots.iter_mut().enumerate() {
            if !s.live {
                continue;
            }
            if s.last_seen >= horizon {
                keep(s);
                continue;
            }
            evicted += 1;
            s.live = false;
            s.hosts = HostIds::new();
            self.live_key_bytes -= s.len;
            let id = id as u32;
            if let Ok(entry) = self.index.find_entry(s.hash, |&i| i == id) {
                entry.remove();
            }
            self.free.push(id);
        }
        if self.slots.capacity() >= MIN_COMPACT_SLOTS && self.len() * 4 <= self.slots.capacity() {
            self.compact_slots();
        } else if self.keys.len() - self.live_key_bytes > self.live_key_bytes.max(MIN_COMPACT) {
            self.compact_keys();
        }
        evicted
    }

    /// After a burst: at most a quarter of the slots live. Moves the live
    /// ones to a vector twice their number (new ids, the index rebuilt from
    /// the kept hashes) and compacts the key text, so memory follows the live
    /// entities down as the `HashMap` it replaced did.
    fn compact_slots(&mut self) {
        let live = self.len();
        let old = mem::take(&mut self.slots);
        let mut slots = Vec::with_capacity(live * 2);
        slots.extend(old.into_iter().filter(|s| s.live));
        self.slots = slots;
        self.free = Vec::new();
        let mut index = HashTable::with_capacity(live * 2);
        for (id, s) in self.slots.iter().enumerate() {
            index.insert_unique(s.hash, id as u32, |&i| self.slots[i as usize].hash);
        }
        self.index = index;
        self.compact_keys();
    }

    /// Drops the garbage from the key text: the live keys move down in
    /// place, in offset order (so a move never overwrites a key still to be
    /// moved), and the buffer keeps its capacity for the keys to come.
    ///
    /// In place, not into a new buffer: a fresh multi-megabyte buffer per
    /// compaction (and the reallocation as it filled up) meant fresh pages
    /// that the kernel zeroes on first touch, once mimalloc had handed the
    /// old ones back; perf put 16% of `bench incidents` there. The buffer is
    /// shrunk only when it is more than four times what the live keys need.
    fn compact_keys(&mut self) {
        let mut order = mem::take(&mut self.by_offset);
        order.clear();
        order.extend(
            self.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| s.live)
                .map(|(id, s)| (s.off, id as u32)),
        );
        order.sort_unstable();
        let mut to = 0;
        for &(from, id) in &order {
            let s = &mut self.slots[id as usize];
            self.keys.copy_within(from..from + s.len, to);
            s.off = to;
            to += s.len;
        }
        self.keys.truncate(to);
        let room = self.live_key_bytes.max(MIN_COMPACT) * 2;
        if self.keys.capacity() > room * 2 {
            self.keys.shrink_to(room);
            order.shrink_to(self.len() * 2);
        }
        self.by_offset = order;
    }

    /// Gives back hash table memory once live entities dropped (as
    /// `HashMap::shrink_to(len * 2)`).
    pub(crate) fn shrink(&mut self) {
        let slots = &self.slots;
        self.index
            .shrink_to(self.index.len() * 2, |&i| slots[i as usize].hash);
    }

    /// Heap bytes held: the id table, the slots (free ones too), spilled host
    /// lists, the free list and the key text (garbage included).
    pub(crate) fn heap_bytes(&self) -> usize {
        let spilled: usize = self
            .slots
            .iter()
            .filter(|s| s.hosts.spilled())
            .map(|s| s.hosts.capacity() * mem::size_of::<u32>())
            .sum();
        self.index.capacity() * (mem::size_of::<u32>() + 1)
            + self.slots.capacity() * mem::size_of::<Slot>()
            + self.free.capacity() * mem::size_of::<u32>()
            + self.keys.capacity()
            + self.by_offset.capacity() * mem::size_of::<(usize, u32)>()
            + spilled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(t: i64) -> NewEntity<'static> {
        NewEntity {
            last_seen: t,
            incident: 7,
            host: 1,
            hosts: &[1, 2],
        }
    }

    fn add(t: &mut EntityTable, kind: EntityKind, v: &str, at: i64) -> u32 {
        let h = key_hash(kind, v);
        assert_eq!(t.find(h, kind, v), None);
        t.insert_new(h, kind, v, new(at))
    }

    fn find(t: &EntityTable, kind: EntityKind, v: &str) -> Option<u32> {
        t.find(key_hash(kind, v), kind, v)
    }

    #[test]
    fn keys_are_exact_per_kind() {
        let mut t = EntityTable::default();
        let a = add(&mut t, EntityKind::Host, "ws01", 0);
        let b = add(&mut t, EntityKind::User, "ws01", 0);
        assert_ne!(a, b);
        assert_eq!(find(&t, EntityKind::Host, "ws01"), Some(a));
        assert_eq!(find(&t, EntityKind::User, "ws01"), Some(b));
        assert_eq!(find(&t, EntityKind::Host, "ws0"), None);
        assert_eq!((t.slot(a).df, t.slot(a).incident), (1, 7));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ids_and_key_text_are_reused_after_eviction() {
        let mut t = EntityTable::default();
        // Long keys, three evicted for two kept: the key garbage outweighs
        // the live text (compacted), the slots stay dense enough (reused).
        let key = |i: usize| format!("{i:064x}");
        let mut old = Vec::new();
        let mut kept = Vec::new();
        for i in 0..3000 {
            let at = if i % 5 < 2 { 100 } else { 0 };
            let id = add(&mut t, EntityKind::Hash, &key(i), at);
            if at == 0 {
                old.push(id);
            }
            kept.push((at > 0).then_some(id));
        }
        let mut seen = 0;
        assert_eq!(t.evict(50, |_| seen += 1), 1800);
        assert_eq!((seen, t.len()), (1200, 1200));
        assert_eq!(t.keys.len(), 1200 * 64, "garbage compacted");
        for (i, want) in kept.iter().enumerate() {
            assert_eq!(find(&t, EntityKind::Hash, &key(i)), *want);
        }
        // New keys take the freed ids; old and new keys stay distinct.
        let new: Vec<u32> = (3000..4800)
            .map(|i| add(&mut t, EntityKind::Hash, &key(i), 200))
            .collect();
        let mut reused = new.clone();
        reused.sort();
        old.sort();
        assert_eq!(reused, old);
        for (i, id) in (3000..4800).zip(&new) {
            assert_eq!(find(&t, EntityKind::Hash, &key(i)), Some(*id));
            assert_eq!(t.slot(*id).hosts.as_slice(), &[1, 2]);
        }
        assert_eq!(find(&t, EntityKind::Hash, &key(6)), kept[6]);
        assert_eq!(t.len(), 3000);
        t.shrink();
        assert_eq!(find(&t, EntityKind::Hash, &key(4799)), Some(new[1799]));
    }

    #[test]
    fn slots_follow_live_entities_down_after_a_burst() {
        let mut t = EntityTable::default();
        let key = |i: usize| format!("k{i}");
        for i in 0..1000 {
            add(
                &mut t,
                EntityKind::Domain,
                &key(i),
                if i % 10 == 0 { 100 } else { 0 },
            );
        }
        let before = t.heap_bytes();
        assert_eq!(t.evict(50, |_| {}), 900);
        // 100 live of 1000 slots: moved to a vector of 200, ids renumbered.
        assert_eq!(t.len(), 100);
        assert!(t.slots.capacity() <= 200 && t.free.is_empty());
        assert!(t.heap_bytes() * 3 < before);
        for i in 0..1000 {
            let id = find(&t, EntityKind::Domain, &key(i));
            assert_eq!(id.is_some(), i % 10 == 0, "{i}");
            if let Some(id) = id {
                assert_eq!(t.slot(id).last_seen, 100);
            }
        }
        // Still usable: new keys go in, old ones are found.
        let id = add(&mut t, EntityKind::Domain, &key(1001), 200);
        assert_eq!(find(&t, EntityKind::Domain, &key(1001)), Some(id));
        assert_eq!(t.len(), 101);
    }
}
