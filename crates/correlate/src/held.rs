//! Signals the correlator holds: every signal waiting in the reorder buffer
//! or belonging to an open incident sits in one slab, once, until its
//! incident closes; the reorder buffer and the incidents refer to it by
//! index.
//!
//! Why: a signal is some 300 bytes. Before, it was boxed for the reorder
//! heap, moved out of the box into its incident's vector (which grew by
//! copying), and sorted by moving whole signals at close. Now it is written
//! into the slab once and moved out once, into the closed incident, in
//! order; the heap sifts 16-byte (time, index) entries and compares keys
//! only on equal times.

use std::cmp::Ordering;
use std::mem;

use crate::signal::Signal;

/// Signals per chunk of the slab (some 300 KB).
const CHUNK: usize = 1024;

/// Slab of held signals, in chunks of [`CHUNK`] slots.
///
/// Chunks, not one vector: a slab of a few hundred thousand signals is
/// 100 MB and more, and a vector grows by copying itself into fresh memory
/// (mimalloc maps a new block for it, the kernel zeroes every page of it on
/// first touch); perf put a good part of `bench incidents` there. A chunk is
/// allocated once, filled in place and never moved; compaction moves the
/// held signals into as few chunks as they need.
#[derive(Debug, Default)]
pub(crate) struct Held {
    chunks: Vec<Vec<Option<Signal>>>,
    /// Slots handed out so far (full or free), the next new index.
    len: usize,
    free: Vec<u32>,
}

impl Held {
    pub(crate) fn insert(&mut self, s: Signal) -> u32 {
        if let Some(i) = self.free.pop() {
            if let Some(slot) = self.slot_mut(i) {
                *slot = Some(s);
            }
            return i;
        }
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(Some(s));
        }
        self.len += 1;
        (self.len - 1) as u32
    }

    fn slot_mut(&mut self, i: u32) -> Option<&mut Option<Signal>> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)
    }

    /// The signal at `i`. Indices come from `insert` and are taken once, so
    /// the slot is always full; `None` would be a bug of the correlator.
    pub(crate) fn get(&self, i: u32) -> Option<&Signal> {
        let i = i as usize;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    pub(crate) fn take(&mut self, i: u32) -> Option<Signal> {
        let s = self.slot_mut(i).and_then(Option::take);
        if s.is_some() {
            self.free.push(i);
        }
        s
    }

    /// Order of two held signals by (time, key), the order the correlator
    /// processes and incidents list them in; `ta`, `tb` are their times in
    /// nanoseconds (saturated), compared first.
    pub(crate) fn order(&self, (ta, a): (i64, u32), (tb, b): (i64, u32)) -> Ordering {
        ta.cmp(&tb).then_with(|| match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => (x.time, &x.key).cmp(&(y.time, &y.key)),
            _ => Ordering::Equal,
        })
    }

    /// After a burst: at most a quarter of the slots used, and the held
    /// signals fit in half the chunks or fewer. Moves them to the front, in
    /// the same order, into as many chunks as they need (each old chunk is
    /// freed once emptied), and returns each old index's new one
    /// (`u32::MAX`: was free), for the caller to renumber what refers to
    /// them. Memory follows the held signals down as the per-incident
    /// vectors it replaced did.
    pub(crate) fn compact(&mut self) -> Option<Vec<u32>> {
        let used = self.len - self.free.len();
        if used * 4 > self.len || used.div_ceil(CHUNK) * 2 > self.chunks.len() {
            return None;
        }
        let mut map = vec![u32::MAX; self.len];
        let mut chunks: Vec<Vec<Option<Signal>>> = Vec::with_capacity(used.div_ceil(CHUNK));
        let mut n = 0usize;
        for (c, chunk) in mem::take(&mut self.chunks).into_iter().enumerate() {
            for (k, s) in chunk.into_iter().enumerate() {
                if s.is_none() {
                    continue;
                }
                if n.is_multiple_of(CHUNK) {
                    chunks.push(Vec::with_capacity(CHUNK));
                }
                if let Some(last) = chunks.last_mut() {
                    last.push(s);
                }
                map[c * CHUNK + k] = n as u32;
                n += 1;
            }
        }
        self.chunks = chunks;
        self.len = n;
        self.free = Vec::new();
        Some(map)
    }

    /// Forgets everything (the slab is empty when the stream ends).
    pub(crate) fn clear(&mut self) {
        *self = Held::default();
    }
}

/// Index `i`'s new number in a [`Held::compact`] map (`u32::MAX`: none).
pub(crate) fn renumbered(map: &[u32], i: u32) -> u32 {
    map.get(i as usize).copied().unwrap_or(u32::MAX)
}

/// The reorder buffer: a binary min-heap of (time, slab index) in
/// [`Held::order`].
#[derive(Debug, Default)]
pub(crate) struct Reorder {
    heap: Vec<(i64, u32)>,
}

impl Reorder {
    pub(crate) fn push(&mut self, e: (i64, u32), held: &Held) {
        self.heap.push(e);
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if held.order(self.heap[i], self.heap[parent]) != Ordering::Less {
                break;
            }
            self.heap.swap(i, parent);
            i = parent;
        }
    }

    /// Renumbers the entries after [`Held::compact`]. The order depends on
    /// time and key only, so the heap stays a heap.
    pub(crate) fn renumber(&mut self, map: &[u32]) {
        for e in &mut self.heap {
            e.1 = renumbered(map, e.1);
        }
    }

    pub(crate) fn peek(&self) -> Option<(i64, u32)> {
        self.heap.first().copied()
    }

    pub(crate) fn pop(&mut self, held: &Held) -> Option<(i64, u32)> {
        let last = self.heap.pop()?;
        let Some(top) = self.heap.first().copied() else {
            return Some(last);
        };
        self.heap[0] = last;
        let n = self.heap.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < n && held.order(self.heap[l], self.heap[m]) == Ordering::Less {
                m = l;
            }
            if r < n && held.order(self.heap[r], self.heap[m]) == Ordering::Less {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::SignalRecord;

    fn sig(key: &str, secs: i64) -> Signal {
        Signal {
            key: key.into(),
            time: jiff::Timestamp::from_second(secs).unwrap(),
            rule_id: None,
            rule_name: None,
            level: None,
            hosts: vec![],
            users: vec![],
            techniques: vec![],
            tactics: vec![],
            phases: vec![],
            entities: vec![],
            source_hosts: vec![],
            record: SignalRecord::default(),
        }
    }

    #[test]
    fn pops_in_time_then_key_order_and_reuses_slots() {
        let mut held = Held::default();
        let mut r = Reorder::default();
        let input = [("b", 5), ("a", 5), ("c", 1), ("a", 9), ("d", 5), ("a", 1)];
        for (k, t) in input {
            let i = held.insert(sig(k, t));
            r.push((t * 1_000_000_000, i), &held);
        }
        let mut out = Vec::new();
        while let Some((_, i)) = r.pop(&held) {
            let s = held.take(i).unwrap();
            out.push((s.key, s.time.as_second()));
        }
        let want: Vec<(String, i64)> = [("a", 1), ("c", 1), ("a", 5), ("b", 5), ("d", 5), ("a", 9)]
            .iter()
            .map(|(k, t)| (k.to_string(), *t))
            .collect();
        assert_eq!(out, want);
        assert_eq!(r.peek(), None);
        // Freed slots are taken again before the slab grows.
        let n = held.len;
        for k in 0..n {
            held.insert(sig(&k.to_string(), 0));
        }
        assert_eq!(held.len, n);
    }

    #[test]
    fn compaction_renumbers_and_keeps_the_order() {
        let mut held = Held::default();
        let mut r = Reorder::default();
        let mut ids = Vec::new();
        // Four chunks' worth, a tenth kept: one chunk is enough after.
        let n = 4 * CHUNK as i64;
        for k in 0..n {
            ids.push(held.insert(sig(&format!("k{k:04}"), n - k)));
        }
        // Keep every tenth, pending in the heap.
        for (k, i) in ids.iter().enumerate() {
            if k % 10 == 0 {
                r.push(((n - k as i64) * 1_000_000_000, *i), &held);
            } else {
                held.take(*i);
            }
        }
        let map = held.compact().expect("a tenth of four chunks used");
        r.renumber(&map);
        assert_eq!((held.chunks.len(), held.len), (1, n as usize / 10 + 1));
        assert!(held.free.is_empty());
        let mut out = Vec::new();
        while let Some((_, i)) = r.pop(&held) {
            out.push(held.take(i).unwrap().key);
        }
        let want: Vec<String> = (0..n)
            .rev()
            .filter(|k| k % 10 == 0)
            .map(|k| format!("k{k:04}"))
            .collect();
        assert_eq!(out, want);
        // Sparse but in one chunk: nothing to give back.
        let mut one = Held::default();
        for k in 0..100 {
            one.insert(sig(&k.to_string(), 0));
        }
        for i in 1..100 {
            one.take(i);
        }
        assert_eq!(one.compact(), None);
        // Dense enough: left alone.
        let mut dense = Held::default();
        for k in 0..100 {
            dense.insert(sig(&k.to_string(), 0));
        }
        dense.take(0);
        assert_eq!(dense.compact(), None);
    }
}
