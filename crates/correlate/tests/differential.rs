//! Differential test: the streaming correlator against the reference
//! implementation it replaced (`reference/mod.rs`), on generated streams that
//! exercise joins across every entity kind, windows, merges, lateral edges,
//! down-weighting (online and fixed), late and reordered signals, replayed
//! findings, equal times, repeated entities, eviction and key reuse after
//! eviction. Every `drain_closed`, the live entity count after every push,
//! the final incidents and the stats must be equal.

mod reference;

use jiff::Timestamp;
use killchain_correlate::{
    learn_common, CommonPolicy, Commonness, Config, Correlator, EntityKey, EntityKind, Signal,
    SignalRecord,
};
use killchain_testdata::Rng;
use reference::RefCorrelator;

fn signal(rng: &mut Rng, i: usize, t: i64) -> Signal {
    let host = rng.below(6);
    let mut entities = vec![EntityKey::new(EntityKind::Host, format!("h{host}"))];
    let mut source_hosts = Vec::new();
    if rng.below(3) > 0 {
        entities.push(EntityKey::new(
            EntityKind::User,
            format!("u{}", rng.below(8)),
        ));
    }
    if rng.below(2) == 0 {
        entities.push(EntityKey::new(
            EntityKind::Ip,
            format!("10.0.0.{}", rng.below(8)),
        ));
    }
    if rng.below(2) == 0 {
        entities.push(EntityKey::new(
            EntityKind::Process,
            format!("{:08x}-0000-0000-0000-{:012x}", host, rng.below(40)),
        ));
    }
    if rng.below(3) == 0 {
        entities.push(EntityKey::new(
            EntityKind::Logon,
            format!("h{host}/0x{:x}", rng.below(20)),
        ));
    }
    if rng.below(5) == 0 {
        // Long keys, so the key storage grows and is compacted.
        entities.push(EntityKey::new(
            EntityKind::Hash,
            format!("{:064x}", rng.below(30)),
        ));
    }
    if rng.below(6) == 0 {
        let src = format!("h{}", rng.below(6));
        if src != format!("h{host}") {
            entities.push(EntityKey::new(EntityKind::Host, src.clone()));
            source_hosts.push(src);
        }
    }
    entities.sort();
    entities.dedup();
    if rng.below(40) == 0 {
        // A hand-made signal may repeat an entity.
        let e = entities[rng.below(entities.len() as u64) as usize].clone();
        entities.push(e);
    }
    let time = Timestamp::from_second(t).unwrap();
    Signal {
        key: format!("f|{i}|{}", rng.below(3)),
        time,
        rule_id: Some(format!("r{}", rng.below(5))),
        rule_name: None,
        level: None,
        hosts: vec![format!("H{host}")],
        users: Vec::new(),
        techniques: Vec::new(),
        tactics: Vec::new(),
        phases: Vec::new(),
        entities,
        source_hosts,
        record: SignalRecord {
            file: Some("gen.ndjson".into()),
            line: Some(i as u64),
            ..SignalRecord::default()
        },
    }
}

/// A nearly sorted stream with jitter, equal times, late signals and
/// replays; `bursty`: dense and sparse stretches in turn, so live state
/// grows and falls back (the entity table and the slab compact).
fn stream(seed: u64, n: usize, bursty: bool) -> Vec<Signal> {
    let mut rng = Rng(seed);
    let mut out: Vec<Signal> = Vec::with_capacity(n);
    let mut clock = 1_700_000_000i64;
    for i in 0..n {
        clock += match (bursty, (i / 300) % 2) {
            (false, _) => rng.below(40),
            (true, 0) => rng.below(3),
            (true, _) => rng.below(400),
        } as i64;
        let jitter = rng.below(90) as i64;
        let late = if rng.below(25) == 0 { 1_500 } else { 0 };
        let t = clock - jitter - late;
        if !out.is_empty() && rng.below(30) == 0 {
            // A replayed finding: same key, same content.
            let j = rng.below(out.len() as u64) as usize;
            out.push(out[j].clone());
        } else {
            out.push(signal(&mut rng, i, t));
        }
    }
    out
}

fn config(rng: &mut Rng) -> Config {
    Config {
        window_secs: [60, 300, 900][rng.below(3) as usize],
        lateness_secs: [0, 30, 120][rng.below(3) as usize],
        sweep_every: 1 + rng.below(64),
        common: CommonPolicy {
            max_share: 0.2,
            min_findings: 5,
            share_min_hosts: 2,
            max_hosts: 1 + rng.below(4) as usize,
        },
    }
}

fn compare(
    signals: &[Signal],
    cfg: &Config,
    common: Commonness,
    what: &str,
) -> (killchain_correlate::Stats, usize) {
    let mut new = Correlator::new(cfg.clone(), common.clone());
    let mut old = RefCorrelator::new(cfg.clone(), common);
    for (i, s) in signals.iter().enumerate() {
        new.push(s.clone());
        old.push(s.clone());
        assert_eq!(
            new.drain_closed(),
            old.drain_closed(),
            "{what}: closed after push {i}"
        );
        assert_eq!(new.live_entities(), old.live_entities(), "{what}: push {i}");
    }
    let (a, sa) = new.finish();
    let (b, sb) = old.finish();
    assert_eq!(a, b, "{what}: incidents at finish");
    assert_eq!(sa, sb, "{what}: stats");
    (sa, a.iter().map(|i| i.lateral.len()).sum())
}

#[test]
fn streaming_correlator_matches_the_reference() {
    // What the streams exercised, summed: each path must have been taken.
    let mut seen = [0u64; 6];
    for seed in 1..=24u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let cfg = config(&mut rng);
        let signals = stream(seed, 1_500, seed % 2 == 0);
        let online = compare(
            &signals,
            &cfg,
            Commonness::Online,
            &format!("seed {seed} online"),
        );
        let (set, _) = learn_common(&signals, &cfg.common);
        let fixed = compare(
            &signals,
            &cfg,
            Commonness::Fixed(set),
            &format!("seed {seed} fixed"),
        );
        for (st, lateral) in [online, fixed] {
            seen[0] += st.late;
            seen[1] += st.downweighted_links;
            seen[2] += st.merges;
            seen[3] += st.evicted_entities;
            seen[4] += st.closed_incidents;
            seen[5] += lateral as u64;
        }
    }
    assert!(
        seen.iter().all(|n| *n > 0),
        "late, downweighted, merges, evicted, closed, lateral: {seen:?}"
    );
}
