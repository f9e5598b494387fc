//! The built-in stage-indicator rule pack (`rules/`, `builtin_rules()`).
//!
//! 1. Every pack rule loads with the built-in pipeline (so its logsource is
//!    routable), has a unique id, a level, the pack's author / license /
//!    status, and ATT&CK tags that resolve in the embedded ATT&CK 18.1: at
//!    least one active technique and one tactic, the tactic of its folder
//!    among them.
//! 2. Hand-written events: for a handful of rules, an event that must match
//!    and a benign near-miss that must not.
//! 3. The measurement (docs/builtin-rules.md): on the EVTX-to-MITRE-Attack
//!    corpus in `../shared/data`, the share of files whose findings include a
//!    rule of the folder's tactic, for SigmaHQ alone and SigmaHQ + the pack.
//!    Run with `cargo test -p killchain-detect --test builtin_pack -- --nocapture`
//!    to see the table; `KILLCHAIN_PACK_DETAIL=1` also lists, per file, the
//!    rules that fired and the files left uncovered.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use killchain_detect::{
    builtin_rules, Correlator, Engine, FieldList, JsonEvent, Options, Outcome, Pipeline, RuleInfo,
    RuleText, Scratch,
};
use killchain_ingest::{flatten_windows, EvtxFile};
use killchain_kb::{AttackData, AttackKb};
use serde_json::{json, Value};

fn kb() -> AttackKb {
    AttackKb::new(AttackData::embedded().expect("embedded ATT&CK index"))
}

fn pack_engine() -> Engine {
    let (engine, report) =
        Engine::build(&builtin_rules(), &Pipeline::builtin(), &Options::default());
    assert_eq!(
        report.loaded(),
        report.entries.len(),
        "{}",
        report.summary()
    );
    engine
}

// ------------------------------------------------------------------ 1. metadata

#[test]
fn every_pack_rule_loads_and_carries_valid_metadata() {
    let rules = builtin_rules();
    assert!(rules.len() >= 60, "only {} pack rules", rules.len());
    let pipeline = Pipeline::builtin();
    let (engine, report) = Engine::build(&rules, &pipeline, &Options::default());
    for e in &report.entries {
        assert!(
            matches!(e.outcome, Outcome::Loaded),
            "{} ({}): {:?}",
            e.path,
            e.title,
            e.outcome
        );
    }
    assert_eq!(report.entries.len(), rules.len(), "one rule per file");
    assert_eq!(engine.len() + engine.correlations().len(), rules.len());

    let kb = kb();
    let mut ids = HashSet::new();
    let infos = engine
        .rules()
        .chain(engine.correlations().iter().map(|c| &c.info));
    for info in infos {
        let text = rules
            .iter()
            .find(|t| t.path == info.path)
            .expect("every rule comes from a pack file");
        let what = format!("{} ({})", info.path, info.title);
        let id = info
            .id
            .as_deref()
            .unwrap_or_else(|| panic!("{what}: no id"));
        assert!(is_uuid(id), "{what}: id {id} is not a UUID");
        assert!(ids.insert(id.to_string()), "{what}: duplicate id {id}");
        assert!(info.level.is_some(), "{what}: no level");
        assert!(
            matches!(info.status.as_deref(), Some("experimental" | "test")),
            "{what}: status {:?}",
            info.status
        );
        assert!(
            text.text.contains("\nauthor: killchain\n"),
            "{what}: author"
        );
        assert!(
            text.text.contains("\nlicense: Apache-2.0\n"),
            "{what}: license"
        );
        assert!(
            !text.text.contains("falsepositives: []"),
            "{what}: falsepositives"
        );
        assert!(
            text.text.contains("\nfalsepositives:\n"),
            "{what}: falsepositives"
        );
        assert!(
            info.correlation || pipeline.route(&info.logsource).is_some(),
            "{what}: unroutable logsource"
        );

        let mut tactics = Vec::new();
        let mut techniques = 0;
        for tag in &info.tags {
            let t = tag.to_ascii_lowercase();
            assert!(
                t.starts_with("attack."),
                "{what}: tag {tag} is not an ATT&CK tag"
            );
            if is_technique_tag(&t) {
                let (i, redirected) = kb
                    .technique_by_id(&t)
                    .unwrap_or_else(|| panic!("{what}: {tag} is not an ATT&CK 18.1 technique"));
                assert!(
                    redirected.is_none(),
                    "{what}: {tag} is revoked in ATT&CK 18.1"
                );
                assert!(kb.technique(i).is_active(), "{what}: {tag} is not active");
                techniques += 1;
            } else {
                let i = kb
                    .tactic_by_token(&t)
                    .unwrap_or_else(|| panic!("{what}: {tag} is not an ATT&CK tactic"));
                assert_eq!(
                    kb.tactic(i).shortname,
                    &t["attack.".len()..],
                    "{what}: tactic tags use the ATT&CK shortname"
                );
                tactics.push(kb.tactic(i).shortname.clone());
            }
        }
        assert!(techniques > 0, "{what}: no technique tag");
        assert!(!tactics.is_empty(), "{what}: no tactic tag");
        let folder = info
            .path
            .strip_prefix("builtin:")
            .and_then(|p| p.split_once('/'))
            .map(|(f, _)| f)
            .unwrap_or_else(|| panic!("{what}: path not builtin:<tactic>/<name>.yml"));
        assert!(
            tactics.iter().any(|t| t == folder),
            "{what}: filed under {folder} but tagged {tactics:?}"
        );
    }
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `attack.t1087` / `attack.t1087.002`.
fn is_technique_tag(t: &str) -> bool {
    t.strip_prefix("attack.t")
        .is_some_and(|rest| rest.as_bytes().first().is_some_and(u8::is_ascii_digit))
}

// ------------------------------------------------------------------ 2. events

/// Paths of the pack rules the event matches.
fn fired(engine: &Engine, event: &Value) -> BTreeSet<String> {
    let mut hits = Vec::new();
    engine.evaluate(&JsonEvent(event), &mut Scratch::default(), &mut hits);
    hits.into_iter()
        .map(|i| engine.rule(i).path.clone())
        .collect()
}

#[track_caller]
fn assert_fires(engine: &Engine, rule: &str, event: Value) {
    let path = format!("builtin:{rule}.yml");
    assert!(
        engine.rules().any(|r| r.path == path),
        "no pack rule {path}"
    );
    let got = fired(engine, &event);
    assert!(
        got.contains(&path),
        "{path} should match {event}\n  fired: {got:?}"
    );
}

#[track_caller]
fn assert_quiet(engine: &Engine, rule: &str, event: Value) {
    let path = format!("builtin:{rule}.yml");
    let got = fired(engine, &event);
    assert!(!got.contains(&path), "{path} should not match {event}");
}

fn security(event_id: u32, fields: Value) -> Value {
    let mut v = json!({"Channel": "Security", "EventID": event_id,
                       "Provider_Name": "Microsoft-Windows-Security-Auditing"});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

fn sysmon(event_id: u32, fields: Value) -> Value {
    let mut v = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": event_id});
    v.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    v
}

#[test]
fn remote_ntlm_logon_matches_and_kerberos_or_machine_logons_do_not() {
    let e = pack_engine();
    let rule = "lateral-movement/sec_ntlm_network_logon_user";
    let logon = |package: &str, user: &str| {
        security(
            4624,
            json!({"LogonType": 3, "AuthenticationPackageName": package,
            "TargetUserName": user, "TargetUserSid": "S-1-5-21-1-2-3-1104",
            "IpAddress": "10.0.0.5", "LogonProcessName": "NtLmSsp "}),
        )
    };
    assert_fires(&e, rule, logon("NTLM", "alice"));
    assert_quiet(&e, rule, logon("Kerberos", "alice"));
    assert_quiet(&e, rule, logon("NTLM", "WS01$"));
    // LogonType as text (forwarded events) still compares as a number.
    let mut text = logon("NTLM", "alice");
    text["LogonType"] = json!("3");
    assert_fires(&e, rule, text);
}

#[test]
fn remote_service_pipe_write_matches_and_read_only_or_machine_access_does_not() {
    let e = pack_engine();
    let rule = "lateral-movement/sec_svcctl_pipe_remote";
    let access = |user: &str, access_list: &str| {
        security(
            5145,
            json!({"ShareName": "\\\\*\\IPC$", "RelativeTargetName": "svcctl",
            "SubjectUserName": user, "IpAddress": "10.0.0.5",
            "AccessList": access_list}),
        )
    };
    assert_fires(&e, rule, access("alice", "%%4416 %%4417 %%4418 "));
    assert_quiet(&e, rule, access("alice", "%%4416 "));
    assert_quiet(&e, rule, access("SRV01$", "%%4416 %%4417 "));
    // PsExec's own pipe is enough on its own.
    let mut psexec = access("alice", "%%4416 ");
    psexec["RelativeTargetName"] = json!("PSEXESVC-WS01-1234-stdin");
    assert_fires(&e, rule, psexec);
}

#[test]
fn remote_admin_group_enumeration_matches_and_local_tools_do_not() {
    let e = pack_engine();
    let rule = "discovery/sec_remote_privileged_group_enum";
    let enumerated = |caller: &str| {
        security(
            4799,
            json!({"TargetUserName": "Administrators", "TargetSid": "S-1-5-32-544",
            "SubjectUserName": "alice", "CallerProcessId": "0x0", "CallerProcessName": caller}),
        )
    };
    assert_fires(&e, rule, enumerated("-"));
    assert_quiet(&e, rule, enumerated("C:\\Windows\\System32\\VSSVC.exe"));
}

#[test]
fn nltest_trust_listing_matches_and_secure_channel_query_does_not() {
    let e = pack_engine();
    let rule = "discovery/proc_nltest_domain_enum";
    let run = |cmd: &str| {
        sysmon(
            1,
            json!({"Image": "C:\\Windows\\System32\\nltest.exe",
            "OriginalFileName": "nltestrk.exe", "CommandLine": cmd}),
        )
    };
    assert_fires(&e, rule, run("nltest /domain_trusts /all_trusts"));
    assert_quiet(&e, rule, run("nltest /sc_query:corp.example"));
}

#[test]
fn net_exe_enumeration_matches_on_4688_and_account_creation_does_not() {
    let e = pack_engine();
    let rule = "discovery/proc_net_account_group_enum";
    let run = |cmd: &str| {
        security(
            4688,
            json!({"NewProcessName": "C:\\Windows\\System32\\net.exe",
            "ParentProcessName": "C:\\Windows\\System32\\cmd.exe", "CommandLine": cmd}),
        )
    };
    assert_fires(&e, rule, run("net  group \"Domain Admins\" /domain"));
    assert_fires(&e, rule, run("net view \\\\fs01"));
    assert_quiet(&e, rule, run("net user bob P@ssw0rd /add"));
    assert_quiet(&e, rule, run("net use m: \\\\fs01\\data"));
}

#[test]
fn kerberoasting_ticket_matches_and_aes_or_computer_tickets_do_not() {
    let e = pack_engine();
    let rule = "credential-access/sec_kerberoast_rc4_service_ticket";
    let ticket = |service: &str, etype: &str| {
        security(
            4769,
            json!({"ServiceName": service, "TicketEncryptionType": etype,
            "Status": "0x0", "TargetUserName": "alice@CORP.EXAMPLE"}),
        )
    };
    assert_fires(&e, rule, ticket("svc_sql", "0x17"));
    assert_quiet(&e, rule, ticket("svc_sql", "0x12"));
    assert_quiet(&e, rule, ticket("FS01$", "0x17"));
}

#[test]
fn asrep_roasting_matches_and_preauthenticated_tgt_does_not() {
    let e = pack_engine();
    let rule = "credential-access/sec_asrep_roast";
    let tgt = |preauth: Value| {
        security(
            4768,
            json!({"TargetUserName": "svc_legacy", "Status": "0x0",
            "TicketEncryptionType": "0x17", "PreAuthType": preauth}),
        )
    };
    assert_fires(&e, rule, tgt(json!("0")));
    assert_fires(&e, rule, tgt(json!(0)));
    assert_quiet(&e, rule, tgt(json!("2")));
}

#[test]
fn dcsync_by_user_matches_and_domain_controller_replication_does_not() {
    let e = pack_engine();
    let rule = "credential-access/sec_dcsync_replication_by_user";
    let access = |who: &str| {
        security(
            4662,
            json!({"SubjectUserName": who, "ObjectServer": "DS", "AccessMask": "0x100",
            "Properties": "%%7688\r\n\t\t{1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}\r\n\t{19195a5b-6da0-11d0-afd3-00c04fd930c9}\r\n"}),
        )
    };
    assert_fires(&e, rule, access("mallory"));
    assert_quiet(&e, rule, access("DC02$"));
}

#[test]
fn lolbin_connection_to_public_address_matches_and_internal_does_not() {
    let e = pack_engine();
    let rule = "command-and-control/net_lolbin_external_connection";
    let connect = |ip: &str| {
        sysmon(
            3,
            json!({"Image": "C:\\Windows\\System32\\rundll32.exe", "Initiated": "true",
            "DestinationIp": ip, "DestinationPort": 443}),
        )
    };
    assert_fires(&e, rule, connect("203.0.113.10"));
    assert_quiet(&e, rule, connect("10.1.2.3"));
    assert_quiet(&e, rule, connect("::1"));
}

#[test]
fn psexec_service_matches_and_ordinary_service_does_not() {
    let e = pack_engine();
    let rule = "lateral-movement/sys_service_install_remote_exec_pattern";
    let install = |name: &str, path: &str| {
        json!({"Channel": "System", "EventID": 7045, "Provider_Name": "Service Control Manager",
               "ServiceName": name, "ImagePath": path, "ServiceType": "user mode service"})
    };
    assert_fires(&e, rule, install("PSEXESVC", "%SystemRoot%\\PSEXESVC.exe"));
    assert_fires(
        &e,
        rule,
        install(
            "BTOBTO",
            "%COMSPEC% /Q /c echo cd ^> \\\\127.0.0.1\\C$\\__output 2^>^&1",
        ),
    );
    assert_quiet(
        &e,
        rule,
        install(
            "FooUpdate",
            "\"C:\\Program Files\\Foo\\FooUpdate.exe\" /service",
        ),
    );
}

#[test]
fn password_change_of_another_account_matches_and_own_change_does_not() {
    let e = pack_engine();
    let rule = "persistence/sec_password_reset_of_other_account";
    let change = |subject: &str, target: &str| {
        security(
            4723,
            json!({"SubjectUserName": subject, "TargetUserName": target}),
        )
    };
    assert_fires(&e, rule, change("mallory", "alice"));
    assert_quiet(&e, rule, change("alice", "ALICE"));
}

#[test]
fn obfuscated_iex_matches_in_any_case_and_plain_script_does_not() {
    let e = pack_engine();
    let rule = "defense-evasion/ps_pshome_char_iex_obfuscation";
    let block = |text: &str| {
        json!({"Channel": "Microsoft-Windows-PowerShell/Operational", "EventID": 4104,
               "ScriptBlockText": text})
    };
    assert_fires(
        &e,
        rule,
        block(". ( $PsHoME[4]+$PsHoME[34]+'X')( 'payload' )"),
    );
    assert_fires(&e, rule, block("&($shellid[1]+$ShellId[13]+'x') $x"));
    assert_quiet(
        &e,
        rule,
        block("Get-ChildItem $PSHome | Select-Object Name"),
    );
}

// ------------------------------------------------------------------ volume

/// The pack on the OTRF Windows host datasets (simulated attacks recorded
/// with all the background activity of the lab hosts): how often each rule
/// fires. A guard against rules that fire on every event of a channel: the
/// pack as a whole stays under 0.5% of the events, and no rule over 0.1%.
/// `KILLCHAIN_PACK_OTRF_EVENTS` limits the events read per dataset.
#[test]
fn builtin_pack_volume_on_otrf_datasets() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let per_dataset: usize = std::env::var("KILLCHAIN_PACK_OTRF_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let engine = pack_engine();
    let zips = common::otrf_windows_zips(&data);
    assert!(!zips.is_empty(), "no OTRF Windows host datasets");
    let mut counts = vec![0usize; engine.len()];
    let mut events = 0usize;
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    for zip in &zips {
        for event in common::zip_events(zip, per_dataset) {
            events += 1;
            let mut fields = Vec::new();
            flatten_windows(&event, &mut fields);
            hits.clear();
            engine.evaluate(&FieldList { fields }, &mut scratch, &mut hits);
            // What hunt reports: rules that only feed a correlation do not.
            for &i in hits.iter().filter(|&&i| engine.is_standalone(i)) {
                counts[i] += 1;
            }
        }
    }
    let total: usize = counts.iter().sum();
    eprintln!(
        "pack on {} OTRF datasets: {events} events, {total} matches ({:.3}%)",
        zips.len(),
        100.0 * share(total, events)
    );
    let mut order: Vec<usize> = (0..counts.len()).filter(|&i| counts[i] > 0).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    for &i in &order {
        eprintln!("  {:6}  {}", counts[i], engine.rule(i).path);
    }
    assert!(events > 0);
    assert!(
        share(total, events) < 0.005,
        "the pack matches {total} of {events} events"
    );
    for &i in &order {
        assert!(
            share(counts[i], events) < 0.001,
            "{} matches {} of {events} events",
            engine.rule(i).path,
            counts[i]
        );
    }
}

// ------------------------------------------------------------------ 3. measurement

/// ATT&CK tactic IDs of the corpus folders and their shortnames.
const TACTICS: &[(&str, &str)] = &[
    ("TA0001", "initial-access"),
    ("TA0002", "execution"),
    ("TA0003", "persistence"),
    ("TA0004", "privilege-escalation"),
    ("TA0005", "defense-evasion"),
    ("TA0006", "credential-access"),
    ("TA0007", "discovery"),
    ("TA0008", "lateral-movement"),
    ("TA0009", "collection"),
    ("TA0010", "exfiltration"),
    ("TA0011", "command-and-control"),
    ("TA0040", "impact"),
];

/// Whether a rule's tags place it in `tactic`: the tactic's tag
/// (`attack.discovery`; SigmaHQ's older `attack.defense_evasion` too), or,
/// with `techniques`, a technique tag whose ATT&CK 18.1 technique belongs to
/// the tactic.
fn tags_cover(kb: &AttackKb, tags: &[String], tactic: &str, techniques: bool) -> bool {
    tags.iter().any(|tag| {
        let t = tag.to_ascii_lowercase();
        if is_technique_tag(&t) {
            techniques
                && kb.technique_by_id(&t).is_some_and(|(i, _)| {
                    kb.technique(i)
                        .tactics
                        .iter()
                        .any(|id| id.eq_ignore_ascii_case(tactic))
                })
        } else {
            kb.tactic_by_token(&t)
                .is_some_and(|i| kb.tactic(i).id.eq_ignore_ascii_case(tactic))
        }
    })
}

/// Every `.evtx` under a `TA00xx-*` folder of `root`, with its tactic ID.
fn corpus_files(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let Some(id) = name
            .get(..6)
            .filter(|id| TACTICS.iter().any(|(t, _)| t == id))
        else {
            continue;
        };
        let mut files = Vec::new();
        walk_evtx(&folder, &mut files);
        files.sort();
        out.extend(files.into_iter().map(|f| (id.to_string(), f)));
    }
    out
}

fn walk_evtx(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk_evtx(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("evtx"))
        {
            out.push(p);
        }
    }
}

/// The rules (indexes) that fired on at least one record of the file, and
/// the number of records that could not be read.
/// What fired in a file, as hunt reports it: standalone rule matches
/// (`Fired::Rule`) and correlation hits (`Fired::Correlation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fired {
    Rule(usize),
    Correlation(usize),
}

/// The metadata and the tags (a correlation's effective ones) of what fired.
fn fired_info(engine: &Engine, f: Fired) -> (&RuleInfo, &[String]) {
    match f {
        Fired::Rule(i) => (engine.rule(i), &engine.rule(i).tags),
        Fired::Correlation(c) => {
            let c = &engine.correlations()[c];
            (&c.info, &c.effective_tags)
        }
    }
}

fn fired_in_file(engine: &Engine, path: &Path) -> (BTreeSet<Fired>, usize) {
    let mut out = BTreeSet::new();
    let mut errors = 0;
    let mut file = match EvtxFile::open(path) {
        Ok(f) => f,
        Err(_) => return (out, 1),
    };
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut observations = Vec::new();
    for record in file.records(1) {
        let Ok(record) = record else {
            errors += 1;
            continue;
        };
        let mut fields = Vec::new();
        flatten_windows(&record.value, &mut fields);
        let event = FieldList { fields };
        hits.clear();
        engine.evaluate(&event, &mut scratch, &mut hits);
        for &i in &hits {
            if engine.is_standalone(i) {
                out.insert(Fired::Rule(i));
            }
            if let (Some(values), Some(t)) = (engine.observe(i, &event), record.timestamp) {
                observations.push((t.as_nanosecond() as i64, observations.len(), i, values));
            }
        }
    }
    observations.sort_by_key(|o| (o.0, o.1));
    let mut correlator = Correlator::new(engine);
    let mut corr_hits = Vec::new();
    for (t, n, rule, values) in &observations {
        correlator.push(*t, *rule, values, *n as u64, &mut corr_hits);
    }
    correlator.finish(&mut corr_hits);
    for h in corr_hits {
        if engine.correlation_is_standalone(h.correlation) {
            out.insert(Fired::Correlation(h.correlation));
        }
    }
    (out, errors)
}

#[derive(Default, Clone, Copy)]
struct Row {
    files: usize,
    sigma: usize,
    with_pack: usize,
    sigma_in_combined: usize,
    pack_alone: usize,
    sigma_tactic_tags: usize,
    with_pack_tactic_tags: usize,
}

impl Row {
    fn add(&mut self, o: &Row) {
        self.files += o.files;
        self.sigma += o.sigma;
        self.with_pack += o.with_pack;
        self.sigma_in_combined += o.sigma_in_combined;
        self.pack_alone += o.pack_alone;
        self.sigma_tactic_tags += o.sigma_tactic_tags;
        self.with_pack_tactic_tags += o.with_pack_tactic_tags;
    }
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

#[test]
fn builtin_pack_raises_stage_coverage_on_evtx_to_mitre_attack() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let detail = std::env::var("KILLCHAIN_PACK_DETAIL").is_ok_and(|v| v == "1");
    let sigma = data.join("sigma");
    let mut sigma_texts: Vec<RuleText> = Vec::new();
    for dir in [
        "rules/windows",
        "rules-threat-hunting/windows",
        "rules-emerging-threats",
    ] {
        let d = sigma.join(dir);
        if d.is_dir() {
            sigma_texts.extend(common::rule_texts(&d, &sigma));
        }
    }
    let pack = builtin_rules();
    let pipeline = Pipeline::builtin();
    let opts = Options::default();
    let (sigma_engine, sigma_report) = Engine::build(&sigma_texts, &pipeline, &opts);
    let mut combined_texts = sigma_texts.clone();
    combined_texts.extend(pack.iter().cloned());
    let (combined, combined_report) = Engine::build(&combined_texts, &pipeline, &opts);
    eprintln!(
        "SigmaHQ: {} rule documents, {}",
        sigma_report.entries.len(),
        sigma_report.summary()
    );
    eprintln!(
        "SigmaHQ + pack ({} rules): {}",
        pack.len(),
        combined_report.summary()
    );
    assert_eq!(
        combined_report.loaded(),
        sigma_report.loaded() + pack.len(),
        "every pack rule loads next to SigmaHQ"
    );
    let is_pack = |r: &RuleInfo| r.path.starts_with("builtin:");

    let kb = kb();
    let root = data.join("evtx/EVTX-to-MITRE-Attack");
    let files = corpus_files(&root);
    assert!(files.len() > 200, "corpus has {} files", files.len());

    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut read_errors = 0;
    let mut uncovered = Vec::new();
    for (tactic, path) in &files {
        let (sigma_hits, e1) = fired_in_file(&sigma_engine, path);
        let (combined_hits, e2) = fired_in_file(&combined, path);
        read_errors += e1.max(e2);
        let covers = |engine: &Engine,
                      hits: &BTreeSet<Fired>,
                      techniques: bool,
                      keep: &dyn Fn(&RuleInfo) -> bool| {
            hits.iter().any(|&f| {
                let (r, tags) = fired_info(engine, f);
                keep(r) && tags_cover(&kb, tags, tactic, techniques)
            })
        };
        let all = |_: &RuleInfo| true;
        let row = Row {
            files: 1,
            sigma: covers(&sigma_engine, &sigma_hits, true, &all) as usize,
            with_pack: covers(&combined, &combined_hits, true, &all) as usize,
            sigma_in_combined: covers(&combined, &combined_hits, true, &|r| !is_pack(r)) as usize,
            pack_alone: covers(&combined, &combined_hits, true, &is_pack) as usize,
            sigma_tactic_tags: covers(&sigma_engine, &sigma_hits, false, &all) as usize,
            with_pack_tactic_tags: covers(&combined, &combined_hits, false, &all) as usize,
        };
        rows.entry(tactic.clone()).or_default().add(&row);
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        if row.with_pack == 0 {
            uncovered.push(rel.clone());
        }
        if detail {
            eprintln!(
                "{}{} {rel}",
                if row.sigma == 1 { 'S' } else { '-' },
                if row.with_pack == 1 { 'P' } else { '-' }
            );
            for &f in &combined_hits {
                let (r, _) = fired_info(&combined, f);
                eprintln!(
                    "      {}{} [{}]",
                    if is_pack(r) { "pack: " } else { "" },
                    r.title,
                    r.tags.join(",")
                );
            }
        }
    }

    let mut total = Row::default();
    eprintln!();
    eprintln!("Stage coverage on EVTX-to-MITRE-Attack: a file is covered when a finding's rule is tagged with the folder's tactic");
    eprintln!("or with a technique of that tactic (ATT&CK 18.1); the last two columns count tactic tags only.");
    eprintln!();
    eprintln!(
        "{:<28} {:>5} {:>8} {:>6} {:>10} {:>6} {:>9} | {:>14}",
        "tactic", "files", "SigmaHQ", "share", "with pack", "share", "pack only", "tactic tags"
    );
    for (id, row) in &rows {
        let name = TACTICS.iter().find(|(t, _)| t == id).map_or("", |(_, n)| n);
        eprintln!(
            "{:<28} {:>5} {:>8} {:>5.1}% {:>10} {:>5.1}% {:>9} | {:>6} -> {:>5}",
            format!("{id} {name}"),
            row.files,
            row.sigma,
            100.0 * share(row.sigma, row.files),
            row.with_pack,
            100.0 * share(row.with_pack, row.files),
            row.pack_alone,
            row.sigma_tactic_tags,
            row.with_pack_tactic_tags,
        );
        total.add(row);
    }
    let sigma_share = share(total.sigma, total.files);
    let pack_share = share(total.with_pack, total.files);
    eprintln!(
        "{:<28} {:>5} {:>8} {:>5.1}% {:>10} {:>5.1}% {:>9} | {:>6} -> {:>5}",
        "overall",
        total.files,
        total.sigma,
        100.0 * sigma_share,
        total.with_pack,
        100.0 * pack_share,
        total.pack_alone,
        total.sigma_tactic_tags,
        total.with_pack_tactic_tags,
    );
    eprintln!(
        "SigmaHQ rules inside the combined run cover {} files (alone: {}); unreadable records: {read_errors}",
        total.sigma_in_combined, total.sigma
    );
    if detail {
        eprintln!("not covered with the pack ({}):", uncovered.len());
        for f in &uncovered {
            eprintln!("  {f}");
        }
    }

    assert!(
        total.with_pack >= total.sigma,
        "the pack must not lower coverage: {} < {}",
        total.with_pack,
        total.sigma
    );
    assert!(
        pack_share >= 0.75,
        "overall stage coverage with the pack is {:.1}%, below 75%",
        100.0 * pack_share
    );
}

// ------------------------------------------------------------------ 4. correlations

/// Runs timed events through the pack and its correlations; returns the
/// titles of the correlation hits reported.
fn pack_correlations(events: &[(i64, Value)]) -> Vec<String> {
    let engine = pack_engine();
    let mut correlator = Correlator::new(&engine);
    let mut scratch = Scratch::default();
    let mut hits = Vec::new();
    let mut out = Vec::new();
    for (n, (t, ev)) in events.iter().enumerate() {
        let mut fields = Vec::new();
        flatten_windows(ev, &mut fields);
        let event = FieldList { fields };
        hits.clear();
        engine.evaluate(&event, &mut scratch, &mut hits);
        for &i in &hits {
            if let Some(values) = engine.observe(i, &event) {
                correlator.push(t * 1_000_000_000, i, &values, n as u64, &mut out);
            }
        }
    }
    correlator.finish(&mut out);
    out.iter()
        .filter(|h| engine.correlation_is_standalone(h.correlation))
        .map(|h| engine.correlations()[h.correlation].info.title.clone())
        .collect()
}

fn failed_logon(user: &str, ip: &str) -> Value {
    security(
        4625,
        json!({"TargetUserName": user, "IpAddress": ip, "Computer": "dc1", "LogonType": 3}),
    )
}

#[test]
fn pack_correlations_find_brute_force_and_password_spray() {
    let brute: Vec<_> = (0..5)
        .map(|i| (i * 10, failed_logon("alice", "10.1.1.1")))
        .collect();
    assert_eq!(
        pack_correlations(&brute),
        ["Brute Force - Repeated Failed Logons for One Account from One Source"]
    );
    // Four failures, or five spread over ten minutes: a person mistyping.
    assert!(pack_correlations(&brute[..4]).is_empty());
    let slow: Vec<_> = (0..5)
        .map(|i| (i * 120, failed_logon("alice", "10.1.1.1")))
        .collect();
    assert!(pack_correlations(&slow).is_empty());

    let users = ["alice", "bob", "carol", "dave", "erin"];
    let spray: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (i as i64 * 60, failed_logon(u, "10.1.1.9")))
        .collect();
    assert_eq!(
        pack_correlations(&spray),
        ["Password Spray - Failed Logons for Many Accounts from One Source"]
    );
    assert!(pack_correlations(&spray[..4]).is_empty());
}

#[test]
fn pack_correlation_finds_a_discovery_burst_on_one_host() {
    let proc = |cmd: &str, host: &str| {
        sysmon(
            1,
            json!({"Image": format!("C:\\Windows\\System32\\{}", cmd.split(' ').next().unwrap()),
                   "CommandLine": cmd, "Computer": host, "User": "CORP\\eve"}),
        )
    };
    let burst = vec![
        (0, proc("systeminfo.exe", "ws1")),
        (60, proc("whoami.exe /all", "ws1")),
        (120, proc("nltest.exe /domain_trusts", "ws1")),
    ];
    assert_eq!(
        pack_correlations(&burst),
        ["Discovery Burst - Several Kinds of Discovery Commands on One Host"]
    );
    // The same three spread over two hosts, or over an hour: no burst.
    let mut split = burst.clone();
    split[2] = (120, proc("nltest.exe /domain_trusts", "ws2"));
    assert!(pack_correlations(&split).is_empty());
    let mut slow = burst.clone();
    slow[2].0 = 3600;
    assert!(pack_correlations(&slow).is_empty());
}

#[test]
fn pack_correlations_over_kerberos_accounts_and_rdp() {
    let preauth = |user: &str, status: &str| {
        security(
            4771,
            json!({"TargetUserName": user, "IpAddress": "::ffff:10.1.1.5", "Status": status, "Computer": "dc1"}),
        )
    };
    let guessing: Vec<_> = (0..5).map(|i| (i * 3, preauth("admin", "0x18"))).collect();
    assert_eq!(
        pack_correlations(&guessing),
        ["Kerberos Password Guessing - Repeated Pre-Authentication Failures"]
    );
    // Expired-password (0x17) failures are not guessing.
    let expired: Vec<_> = (0..5).map(|i| (i * 3, preauth("admin", "0x17"))).collect();
    assert!(pack_correlations(&expired).is_empty());

    let ticket = |svc: String| {
        security(
            4769,
            json!({"TargetUserName": "eve@CORP", "IpAddress": "::ffff:10.1.1.7", "ServiceName": svc, "Status": "0x0", "Computer": "dc1"}),
        )
    };
    let sweep: Vec<_> = (0..10).map(|i| (i, ticket(format!("HOST{i}$")))).collect();
    assert_eq!(
        pack_correlations(&sweep),
        ["Service Ticket Sweep - One Account Requests Tickets for Many Computers"]
    );
    let same: Vec<_> = (0..10).map(|i| (i, ticket("FILESRV$".into()))).collect();
    assert!(pack_correlations(&same).is_empty());

    let account = |id: u32, t: i64| {
        (
            t,
            security(id, json!({"TargetUserName": "EVIL$", "Computer": "dc1"})),
        )
    };
    assert_eq!(
        pack_correlations(&[account(4741, 0), account(4743, 600)]),
        ["Short-Lived Computer Account - Created or Changed, then Deleted Within an Hour"]
    );
    assert!(pack_correlations(&[account(4743, 0), account(4741, 600)]).is_empty());
    assert!(pack_correlations(&[account(4741, 0), account(4743, 7200)]).is_empty());

    let rdp_auth = |host: &str, t: i64| {
        (
            t,
            json!({"Channel": "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
                   "EventID": 1149, "Computer": host, "Param1": "admin", "Param3": "10.1.1.9"}),
        )
    };
    assert_eq!(
        pack_correlations(&[rdp_auth("a", 0), rdp_auth("b", 60), rdp_auth("c", 120)]),
        ["RDP Fan-Out - Logons to Three or More Hosts from One Source"]
    );
    assert!(
        pack_correlations(&[rdp_auth("a", 0), rdp_auth("b", 60), rdp_auth("a", 120)]).is_empty()
    );

    let rdp_conn = |t: i64| {
        (
            t,
            json!({"Channel": "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
                   "EventID": 131, "Computer": "srv", "ClientIP": format!("10.1.1.9:{}", 40000 + t)}),
        )
    };
    let burst: Vec<_> = (0..10).map(|i| rdp_conn(i * 5)).collect();
    assert_eq!(
        pack_correlations(&burst),
        ["RDP Connection Burst - Ten or More Connections to One Host in a Minute"]
    );
    let sessions: Vec<_> = (0..10).map(|i| rdp_conn(i * 30)).collect();
    assert!(pack_correlations(&sessions).is_empty());
}
