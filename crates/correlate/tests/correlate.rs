//! Correlation behaviour on small hand-made findings: joining, windows,
//! down-weighting, determinism, merges, streaming, lateral movement and
//! progression flags.

use std::sync::Arc;

use killchain_correlate::{
    build, correlate_batch, BuildOptions, Commonness, Config, Correlator, FlagKind, Level,
    ModelPhases, Signal,
};
use killchain_map::finding::{Entities, Finding, Placement, RecordRef, RuleRef, TechniqueHit};
use serde_json::json;

const LM: &[&str] = &[
    "reconnaissance",
    "weaponization",
    "delivery",
    "exploitation",
    "installation",
    "command-and-control",
    "actions-on-objectives",
];

fn lm() -> ModelPhases {
    ModelPhases {
        id: "lm".into(),
        phases: LM.iter().map(|s| s.to_string()).collect(),
    }
}

struct F {
    t: &'static str,
    host: &'static str,
    users: Vec<&'static str>,
    phase: Option<&'static str>,
    line: u64,
}

fn f(t: &'static str, host: &'static str, user: &'static str, line: u64) -> F {
    F {
        t,
        host,
        users: if user.is_empty() { vec![] } else { vec![user] },
        phase: None,
        line,
    }
}

impl F {
    fn phase(mut self, p: &'static str) -> Self {
        self.phase = Some(p);
        self
    }
    fn finding(&self) -> Finding {
        let mut fd = Finding {
            time: Some(self.t.parse().unwrap()),
            entities: Entities {
                hosts: vec![self.host.into()],
                users: self.users.iter().map(|u| u.to_string()).collect(),
                ..Entities::default()
            },
            record: RecordRef {
                file: Some("fixture.ndjson".into()),
                line: Some(self.line),
                ..RecordRef::default()
            },
            ..Finding::default()
        };
        if let Some(p) = self.phase {
            let idx = LM.iter().position(|x| *x == p).unwrap();
            Arc::make_mut(&mut fd.phases).insert(
                Arc::from("lm"),
                Placement {
                    phase: Arc::from(p),
                    phase_index: idx,
                    phases: Arc::from(vec![Arc::from(p)]),
                    rationale: Arc::from(Vec::<Arc<str>>::new()),
                    confidence: 0.9,
                },
            );
        }
        fd
    }
    fn signal(&self) -> Signal {
        Signal::from_finding(&self.finding(), None).unwrap()
    }
}

fn ids(signals: Vec<Signal>, cfg: &Config) -> Vec<(String, usize)> {
    let (raw, _, _) = correlate_batch(signals, cfg);
    raw.into_iter().map(|r| (r.id, r.signals.len())).collect()
}

#[test]
fn shared_user_joins_hosts_and_user_forms_normalise() {
    let s = vec![
        f("2024-05-01T10:00:00Z", "WS01.corp.local", "CORP\\Alice", 1).signal(),
        f("2024-05-01T10:20:00Z", "ws02", "alice@corp.local", 2).signal(),
        f("2024-05-01T10:30:00Z", "ws03", "bob", 3).signal(),
    ];
    let got = ids(s, &Config::default());
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().any(|(_, n)| *n == 2));
}

#[test]
fn window_separates() {
    let cfg = Config {
        window_secs: 600,
        ..Config::default()
    };
    let s = vec![
        f("2024-05-01T10:00:00Z", "ws01", "alice", 1).signal(),
        f("2024-05-01T10:09:00Z", "ws01", "alice", 2).signal(),
        f("2024-05-01T11:00:00Z", "ws01", "alice", 3).signal(),
    ];
    assert_eq!(ids(s, &cfg).len(), 2);
}

#[test]
fn findings_past_2262_are_not_lost() {
    // Event times past i64 nanoseconds (2262-04-11) saturate in the
    // correlator; the final sweep must still close their incidents.
    let s = vec![
        f("2024-05-01T10:00:00Z", "ws01", "alice", 1).signal(),
        f("2554-07-21T23:34:33Z", "ws02", "bob", 2).signal(),
        f("9000-01-01T00:00:00Z", "ws02", "bob", 3).signal(),
    ];
    let got = ids(s, &Config::default());
    let total: usize = got.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 3, "{got:?}");
}

#[test]
fn same_incidents_in_any_order() {
    let mk = || {
        vec![
            f("2024-05-01T10:00:00Z", "ws01", "alice", 1).signal(),
            f("2024-05-01T10:05:00Z", "ws02", "bob", 2).signal(),
            f("2024-05-01T10:06:00Z", "ws02", "alice", 3).signal(),
            f("2024-05-01T13:00:00Z", "ws09", "carol", 4).signal(),
        ]
    };
    let a = ids(mk(), &Config::default());
    let mut rev = mk();
    rev.reverse();
    let b = ids(rev, &Config::default());
    let mut rot = mk();
    rot.rotate_left(2);
    let c = ids(rot, &Config::default());
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.len(), 2);
}

#[test]
fn common_entity_learned_and_ignored() {
    // SYSTEM on 12 hosts, each host with its own activity hours apart from
    // the others except for SYSTEM: without down-weighting one incident.
    let hosts = [
        "h01", "h02", "h03", "h04", "h05", "h06", "h07", "h08", "h09", "h10", "h11", "h12",
    ];
    let times = [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:01:00Z",
        "2024-05-01T10:02:00Z",
        "2024-05-01T10:03:00Z",
        "2024-05-01T10:04:00Z",
        "2024-05-01T10:05:00Z",
        "2024-05-01T10:06:00Z",
        "2024-05-01T10:07:00Z",
        "2024-05-01T10:08:00Z",
        "2024-05-01T10:09:00Z",
        "2024-05-01T10:10:00Z",
        "2024-05-01T10:11:00Z",
    ];
    let s: Vec<Signal> = hosts
        .iter()
        .zip(times)
        .enumerate()
        .map(|(i, (h, t))| f(t, h, "NT AUTHORITY\\SYSTEM", i as u64).signal())
        .collect();
    let (raw, stats, common) = correlate_batch(s.clone(), &Config::default());
    assert_eq!(raw.len(), 12, "SYSTEM must not glue 12 hosts");
    assert!(
        common.iter().any(|c| c.entity == "user:system"),
        "{common:?}"
    );
    assert!(stats.signals == 12);
    // With a policy that tolerates 20 hosts it glues: the test can fail.
    let mut lax = Config::default();
    lax.common.max_hosts = 20;
    lax.common.max_share = 1.0;
    assert_eq!(ids(s, &lax).len(), 1);
}

#[test]
fn merge_keeps_the_earlier_id_and_records_it() {
    let a = f("2024-05-01T10:00:00Z", "ws01", "alice", 1).signal();
    let b = f("2024-05-01T10:01:00Z", "ws02", "bob", 2).signal();
    let bridge = F {
        users: vec!["alice", "bob"],
        ..f("2024-05-01T10:02:00Z", "ws03", "", 3)
    }
    .signal();
    let (raw, stats, _) = correlate_batch(vec![a.clone(), b.clone(), bridge], &Config::default());
    assert_eq!(raw.len(), 1);
    assert_eq!(stats.merges, 1);
    assert_eq!(raw[0].id, killchain_correlate::incident_id(&a.key));
    assert_eq!(
        raw[0].merged_from,
        vec![killchain_correlate::incident_id(&b.key)]
    );
}

#[test]
fn streaming_matches_batch_and_evicts() {
    // 200 separate bursts a day apart, each a user on a host, nearly sorted.
    let mut signals = Vec::new();
    for i in 0..200u64 {
        for j in 0..3u64 {
            let t =
                jiff::Timestamp::from_second(1_700_000_000 + (i * 86_400 + j * 60) as i64).unwrap();
            let fd = Finding {
                time: Some(t),
                entities: Entities {
                    hosts: vec![format!("h{i}")],
                    users: vec![format!("u{i}")],
                    ..Entities::default()
                },
                record: RecordRef {
                    file: Some("s".into()),
                    line: Some(i * 10 + j),
                    ..RecordRef::default()
                },
                ..Finding::default()
            };
            signals.push(Signal::from_finding(&fd, None).unwrap());
        }
    }
    // Swap neighbours: out of order by a minute, inside the lateness.
    for k in (0..signals.len()).step_by(3) {
        signals.swap(k, k + 1);
    }
    let cfg = Config {
        sweep_every: 16,
        ..Config::default()
    };
    let mut c = Correlator::new(cfg.clone(), Commonness::Online);
    let mut streamed = Vec::new();
    for s in signals.clone() {
        c.push(s);
        streamed.extend(c.drain_closed());
    }
    assert!(
        c.live_entities() < 20,
        "idle entities evicted: {}",
        c.live_entities()
    );
    let (rest, stats) = c.finish();
    streamed.extend(rest);
    streamed.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(stats.late, 0);
    assert_eq!(stats.evicted_entities, 400);
    let (batch, _, _) = correlate_batch(signals, &cfg);
    let a: Vec<_> = streamed.iter().map(|r| (&r.id, r.signals.len())).collect();
    let b: Vec<_> = batch.iter().map(|r| (&r.id, r.signals.len())).collect();
    assert_eq!(a, b);
    assert_eq!(a.len(), 200);
}

#[test]
fn logon_from_another_host_is_lateral_movement() {
    let on_a = f("2024-05-01T10:00:00Z", "ws01", "", 1).finding();
    let mut on_b = f("2024-05-01T10:10:00Z", "srv02", "", 2).finding();
    on_b.techniques = vec![TechniqueHit {
        id: Arc::from("T1021.002"),
        name: Arc::from("SMB/Windows Admin Shares"),
        parent_name: None,
        redirected_from: None,
    }]
    .into();
    let raw = json!({"EventID": 4624, "WorkstationName": "WS01", "IpAddress": "10.0.0.5", "TargetLogonId": "0x1234"});
    let sa = Signal::from_finding(&on_a, None).unwrap();
    let sb = Signal::from_finding(&on_b, Some(&killchain_map::Node::from_value(&raw))).unwrap();
    assert_eq!(sb.source_hosts, vec!["ws01"]);
    assert!(sb
        .entities
        .iter()
        .any(|e| e.to_string() == "logon:srv02/0x1234"));
    let (out, _, _) = correlate_batch(vec![sa.clone(), sb], &Config::default());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].lateral.len(), 1);
    assert_eq!(out[0].lateral[0].from, "ws01");
    assert_eq!(out[0].lateral[0].to, "srv02");
    // Without the logon source the hosts stay apart.
    let (apart, _, _) = correlate_batch(
        vec![sa, Signal::from_finding(&on_b, None).unwrap()],
        &Config::default(),
    );
    assert_eq!(apart.len(), 2);
}

#[test]
fn progression_path_and_flags() {
    let s = vec![
        f("2024-05-01T10:00:00Z", "ws01", "alice", 1)
            .phase("delivery")
            .signal(),
        f("2024-05-01T10:05:00Z", "ws01", "alice", 2)
            .phase("installation")
            .signal(),
        f("2024-05-01T10:10:00Z", "ws01", "alice", 3)
            .phase("actions-on-objectives")
            .signal(),
        f("2024-05-01T10:20:00Z", "ws01", "alice", 4)
            .phase("exploitation")
            .signal(),
    ];
    let (raw, _, _) = correlate_batch(s, &Config::default());
    let opts = BuildOptions {
        models: vec![lm()],
        ..BuildOptions::default()
    };
    let inc = build(raw.into_iter().next().unwrap(), &opts);
    let p = &inc.kill_chain["lm"];
    assert_eq!(
        p.phases_reached,
        [
            "delivery",
            "exploitation",
            "installation",
            "actions-on-objectives"
        ]
    );
    assert_eq!(p.current_phase.as_deref(), Some("exploitation"));
    assert_eq!(p.deepest_phase.as_deref(), Some("actions-on-objectives"));
    assert_eq!(p.path.len(), 4);
    assert_eq!(p.time_in_phase["delivery"], 300);
    let kinds: Vec<FlagKind> = p.flags.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FlagKind::Skipped), "{kinds:?}");
    assert!(kinds.contains(&FlagKind::LoopBack), "{kinds:?}");
    assert!(!kinds.contains(&FlagKind::Insider));
    let skipped = p
        .flags
        .iter()
        .find(|f| f.kind == FlagKind::Skipped)
        .unwrap();
    assert!(
        skipped.detail.contains("command-and-control"),
        "{}",
        skipped.detail
    );
    assert_eq!(inc.flags, ["loop_back", "skipped"]);
    assert!(inc.severity.score > 0.0);
    assert_eq!(
        inc.evidence[0].log_file_path.as_deref(),
        Some("fixture.ndjson")
    );
}

#[test]
fn insider_and_parallel() {
    let s = vec![
        f("2024-05-01T10:00:00Z", "ws01", "alice", 1)
            .phase("actions-on-objectives")
            .signal(),
        f("2024-05-01T10:01:00Z", "ws02", "alice", 2)
            .phase("installation")
            .signal(),
        f("2024-05-01T10:02:00Z", "ws01", "alice", 3)
            .phase("actions-on-objectives")
            .signal(),
        f("2024-05-01T10:03:00Z", "ws02", "alice", 4)
            .phase("installation")
            .signal(),
    ];
    let (raw, _, _) = correlate_batch(s, &Config::default());
    let opts = BuildOptions {
        models: vec![lm()],
        ..BuildOptions::default()
    };
    let inc = build(raw.into_iter().next().unwrap(), &opts);
    assert!(
        inc.flags.contains(&"insider".to_string()),
        "{:?}",
        inc.flags
    );
    assert!(
        inc.flags.contains(&"parallel".to_string()),
        "{:?}",
        inc.flags
    );
    assert_eq!(
        inc.hosts_kill_chain["ws02"]["lm"].deepest_phase.as_deref(),
        Some("installation")
    );
}

/// The level of the rule behind a finding, however the tool spelled it:
/// Sigma names, hayabusa's short forms (`med`, `crit`, which were read as no
/// level), Wazuh's numbers, Suricata's (1 is the most severe; it was read on
/// Wazuh's scale, as informational).
#[test]
fn rule_levels_read_in_every_spelling() {
    for (product, written, level) in [
        (Some("suricata"), "1", Some(Level::High)),
        (Some("suricata"), "2", Some(Level::Medium)),
        (Some("suricata"), "3", Some(Level::Low)),
        (Some("suricata"), "4", Some(Level::Informational)),
        (Some("suricata"), "high", Some(Level::High)),
        (Some("wazuh"), "1", Some(Level::Informational)),
        (None, "13", Some(Level::Critical)),
    ]
    .into_iter()
    .chain(
        [
            ("high", Some(Level::High)),
            ("med", Some(Level::Medium)),
            ("crit", Some(Level::Critical)),
            ("info", Some(Level::Informational)),
            ("12", Some(Level::High)),
            ("3", Some(Level::Informational)),
            ("whatever", None),
        ]
        .map(|(w, l)| (None, w, l)),
    ) {
        let mut fd = f("2024-05-01T10:00:00Z", "ws01", "", 1).finding();
        fd.source.product = product.map(String::from);
        fd.source.rule = Some(RuleRef {
            level: Some(written.into()),
            ..RuleRef::default()
        });
        assert_eq!(
            Signal::from_finding(&fd, None).unwrap().level,
            level,
            "{product:?} {written}"
        );
    }
}
