//! The last-resort `suricata-class` dialect: ATT&CK techniques inferred from
//! the class of an IDS signature, for Suricata / Snort alerts that carry no
//! ATT&CK ID.
//!
//! Emerging Threats and the legacy Snort GPL rules name every signature
//! `<ruleset> <CATEGORY> <what it detects>` (`ET SCAN Potential SSH Scan`,
//! `GPL EXPLOIT ISAPI .ida attempt`); Suricata's own decoder events start
//! with `SURICATA`. Every rule also has a classtype, whose description EVE
//! writes as `alert.category` (`Web Application Attack`). Some categories
//! mean one technique (a scan, an attack on a web server, malware calling
//! home); most do not (POLICY, INFO, reputation lists, protocol anomalies).
//! [`CLASSES`] says which is which, with the reason for each row, and
//! [`classify`] reads one alert against it:
//!
//! 1. A signature named by the convention (its first word one of
//!    [`RULESETS`]) is decided by its class alone: the first two words
//!    (`ET SCAN`), else the first word (`SURICATA`). A class the table does
//!    not list, or lists without techniques, leaves the alert unmapped; its
//!    classtype is not consulted, since ET files the same classtype under
//!    very different categories (`A Network Trojan was detected` on POLICY,
//!    WEB_SERVER and EXPLOIT rules alike).
//! 2. Any other signature (local rules, other vendors) is read by its
//!    classtype, where the table lists one.
//! 3. Where direction changes the meaning (a scan from outside is
//!    reconnaissance, from inside discovery) the row has a second reading
//!    for a private source address (`alert.source.ip`, which Suricata
//!    writes for rules that name their target, else `src_ip`).
//!
//! The extractor runs this only when the record has no ATT&CK reference at
//! all, not even a technique ID in its rule name (`extract.rs`), with a
//! lower confidence than any other dialect; the mapper words the placement
//! rationale as an inference (`mapper.rs`).
//!
//! **Why a const table, not YAML.** The table is fixed vocabulary, like the
//! dialect table and Hayabusa's tactic abbreviations in `extract.rs`, and not
//! user-editable (users add fields with `--technique-field`). As Rust data it
//! needs no parse step, no YAML dependency in this engine crate, and has no
//! failure path: `FieldPaths::default()` stays infallible, the compiler
//! checks every row's shape, and the tests below check every technique ID
//! against the embedded ATT&CK and that no class is listed twice.

use std::net::IpAddr;

/// The rulesets whose signatures follow the `<ruleset> <CATEGORY>` naming.
/// A signature starting with one of these is read by its class only.
pub const RULESETS: &[&str] = &["ET", "ETPRO", "GPL", "SURICATA"];

/// One row: signature classes and classtypes with the same meaning.
#[derive(Debug, PartialEq, Eq)]
pub struct Class {
    /// Signature classes: ruleset and category as the signature starts
    /// (`ET SCAN`), or a ruleset alone (`SURICATA`: all of it).
    pub signatures: &'static [&'static str],
    /// Classtypes: the description EVE writes in `alert.category`, and the
    /// short name rules use (`Web Application Attack`, `web-application-attack`).
    pub categories: &'static [&'static str],
    /// What an alert of this class is taken to be; no techniques: left
    /// unmapped, `why` says why.
    pub reading: Reading,
    /// The reading when the alert's source address is private (inside the
    /// network), for classes where direction changes the technique.
    pub from_private_source: Option<Reading>,
}

/// Techniques and the reason for them.
#[derive(Debug, PartialEq, Eq)]
pub struct Reading {
    pub techniques: &'static [&'static str],
    /// Why this class means these techniques (or none). Quoted in the
    /// placement rationale.
    pub why: &'static str,
}

const fn mapped(techniques: &'static [&'static str], why: &'static str) -> Reading {
    Reading { techniques, why }
}

const fn unmapped(why: &'static str) -> Reading {
    Reading {
        techniques: &[],
        why,
    }
}

/// The table. Order does not matter: no class appears in two rows (tested).
pub static CLASSES: &[Class] = &[
    // ---- mapped ----
    Class {
        signatures: &["ET SCAN", "ETPRO SCAN", "GPL SCAN"],
        categories: &["Detection of a Network Scan", "network-scan"],
        reading: mapped(
            &["T1595"],
            "a scan probes for live hosts and open services; from a public or unknown source address that is reconnaissance from outside",
        ),
        from_private_source: Some(mapped(
            &["T1046"],
            "a scan probes for live hosts and open services; from a private source address it runs inside the network, which is discovery",
        )),
    },
    Class {
        signatures: &["ET EXPLOIT", "ETPRO EXPLOIT", "GPL EXPLOIT"],
        categories: &[],
        reading: mapped(
            &["T1190"],
            "exploit rules match attacks on vulnerable network services and devices (SMB, web, FTP, router management)",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[
            "ET WEB_SERVER",
            "ETPRO WEB_SERVER",
            "GPL WEB_SERVER",
            "ET WEB_SPECIFIC_APPS",
            "ETPRO WEB_SPECIFIC_APPS",
        ],
        categories: &["Web Application Attack", "web-application-attack"],
        reading: mapped(
            &["T1190"],
            "attacks on a web server or web application: injection, traversal, shell commands or web shells in requests",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET EXPLOIT_KIT", "ETPRO EXPLOIT_KIT"],
        categories: &["Exploit Kit Activity Detected", "exploit-kit"],
        reading: mapped(
            &["T1189"],
            "exploit kits attack the browser of a user visiting a compromised or malicious site",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET TROJAN", "ETPRO TROJAN", "ET MALWARE", "ETPRO MALWARE"],
        categories: &[
            "Malware Command and Control Activity Detected",
            "command-and-control",
        ],
        reading: mapped(
            &["T1071"],
            "malware rules mostly match an infected host's check-ins and commands over HTTP, DNS or TLS: command and control over an application protocol",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET CNC"],
        categories: &[],
        reading: mapped(
            &["T1071"],
            "traffic with an address a tracker reports as a botnet command-and-control server; the protocol is not known, an application protocol is the common case",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET ATTACK_RESPONSE", "ETPRO ATTACK_RESPONSE", "GPL ATTACK_RESPONSE"],
        categories: &[],
        reading: mapped(
            &["T1059"],
            "attack responses show a command having run on the responding host (id or whoami output, a Windows command shell banner)",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET DOS", "ETPRO DOS"],
        categories: &[],
        reading: mapped(
            &["T1498"],
            "ET DOS rules match floods and reflection or amplification traffic (NTP monlist, SSDP, memcached) and the tools that send them",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["GPL DOS"],
        categories: &[],
        reading: mapped(
            &["T1499"],
            "the legacy GPL DOS rules match crafted packets or requests that crash a host or service (teardrop, jolt, service overflows)",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET WORM", "ETPRO WORM"],
        categories: &[],
        reading: mapped(
            &["T1210"],
            "worm rules mostly match a worm spreading by exploiting network services, as WannaCry, Conficker and NotPetya do in ATT&CK",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET COINMINER", "ETPRO COINMINER"],
        categories: &["Crypto Currency Mining Activity Detected", "coin-mining"],
        reading: mapped(
            &["T1496"],
            "mining pool logins and miner check-ins: the host's compute is used to mine",
        ),
        from_private_source: None,
    },
    // ---- left unmapped, and why ----
    Class {
        signatures: &["ET POLICY", "ETPRO POLICY", "GPL POLICY"],
        categories: &["Potential Corporate Privacy Violation", "policy-violation"],
        reading: unmapped(
            "policy rules say which software, protocols and files are in use (remote access tools, cleartext logins, executable downloads), not that an attacker used them",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET INFO", "ETPRO INFO", "ET HUNTING", "ETPRO HUNTING"],
        categories: &[],
        reading: unmapped("informational and hunting rules flag traffic worth a look, not an attack"),
        from_private_source: None,
    },
    Class {
        signatures: &[
            "ET CHAT", "ETPRO CHAT", "GPL CHAT", "ET P2P", "ETPRO P2P", "GPL P2P", "ET GAMES",
            "GPL GAMES", "ET INAPPROPRIATE", "GPL INAPPROPRIATE",
        ],
        categories: &["Inappropriate Content was Detected", "inappropriate-content"],
        reading: unmapped("applications in use (chat, file sharing, games), not attacker actions"),
        from_private_source: None,
    },
    Class {
        signatures: &["ET TOR", "ETPRO TOR"],
        categories: &[],
        reading: unmapped(
            "traffic with a listed Tor relay or exit node: anonymised traffic, which says nothing of what was done over it",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET CINS", "ET DROP", "ET COMPROMISED", "ET 3CORESec"],
        categories: &[],
        reading: unmapped(
            "reputation lists: the peer's address is on a block list, nothing says what this traffic did",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["SURICATA"],
        categories: &["Generic Protocol Command Decode", "protocol-command-decode"],
        reading: unmapped(
            "Suricata's decoder and protocol-parser events (malformed HTTP, TLS, SMTP, DNS, stream anomalies): broken or unusual traffic, which ordinary clients produce as well as attacks",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[
            "ET WEB_CLIENT", "ETPRO WEB_CLIENT", "GPL WEB_CLIENT", "ET CURRENT_EVENTS",
            "ETPRO CURRENT_EVENTS", "ET PHISHING", "ETPRO PHISHING",
        ],
        categories: &[],
        reading: unmapped(
            "client-side and current-events rules mix exploit kits, phishing pages, malicious downloads and obfuscated scripts; the class does not say which technique",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[
            "ET DNS", "GPL DNS", "ET NETBIOS", "GPL NETBIOS", "ET SNMP", "GPL SNMP", "ET TFTP",
            "GPL TFTP", "ET FTP", "GPL FTP", "ET SMTP", "GPL SMTP", "ET IMAP", "GPL IMAP",
            "ET POP3", "GPL POP3", "ET RPC", "GPL RPC", "ET TELNET", "GPL TELNET", "ET SQL",
            "GPL SQL", "ET VOIP", "GPL VOIP", "ET ICMP", "GPL ICMP", "ET ICMP_INFO",
            "GPL ICMP_INFO", "GPL MISC",
        ],
        categories: &[],
        reading: unmapped(
            "classes named after a protocol, not a behaviour: exploits, scans, policy and information rules share them (ET NETBIOS holds MS08-067 exploits and share browsing alike)",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &["ET USER_AGENTS", "ET DYN_DNS", "ET JA3", "ET ADWARE_PUP", "ET SHELLCODE", "GPL SHELLCODE"],
        categories: &[],
        reading: unmapped(
            "indicators without a behaviour (user-agent strings, dynamic DNS names, TLS fingerprints, adware, shellcode patterns): the technique depends on the rule",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[],
        categories: &[
            "A Network Trojan was detected",
            "trojan-activity",
            "Misc activity",
            "misc-activity",
            "Misc Attack",
            "misc-attack",
            "Potentially Bad Traffic",
            "bad-unknown",
            "Not Suspicious Traffic",
            "not-suspicious",
            "Unknown Traffic",
            "unknown",
        ],
        reading: unmapped(
            "catch-all classtypes: ET files policy, exploit and web-attack rules under `A Network Trojan was detected`, and the others say nothing of an action",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[],
        categories: &[
            "Attempted Information Leak",
            "attempted-recon",
            "Information Leak",
            "successful-recon-limited",
            "Large Scale Information Leak",
            "successful-recon-largescale",
            "access to a potentially vulnerable web application",
            "web-application-activity",
        ],
        reading: unmapped(
            "probing or leaking information: a scan, a banner grab, a request for a sensitive page or a data leak alike",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[],
        categories: &[
            "Attempted User Privilege Gain",
            "attempted-user",
            "Unsuccessful User Privilege Gain",
            "unsuccessful-user",
            "Successful User Privilege Gain",
            "successful-user",
            "Attempted Administrator Privilege Gain",
            "attempted-admin",
            "Successful Administrator Privilege Gain",
            "successful-admin",
        ],
        reading: unmapped(
            "privilege gain: exploitation of a public service, of a client or of a local flaw, or a shell answering; the classtype alone does not say which",
        ),
        from_private_source: None,
    },
    Class {
        signatures: &[],
        categories: &[
            "Attempted Denial of Service",
            "attempted-dos",
            "Denial of Service",
            "successful-dos",
            "Detection of a Denial of Service Attack",
            "denial-of-service",
        ],
        reading: unmapped(
            "denial of service without saying whether a network (T1498) or a host or service (T1499) is targeted; rules for DoS-able vulnerabilities carry it too",
        ),
        from_private_source: None,
    },
];

/// Which alert field gave the class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClassField {
    /// `alert.signature`: the signature class.
    Signature,
    /// `alert.category`: the classtype.
    Category,
}

/// What an alert's source address says about where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAddress {
    /// RFC 1918, shared (100.64/10), loopback, link-local, IPv6 unique local.
    Private,
    /// Any other unicast address.
    Public,
    /// Missing, not an address, unspecified (`0.0.0.0`), broadcast or multicast.
    Unknown,
}

impl SourceAddress {
    /// Reads an address as written in EVE (`10.0.0.1`, `2001:db8::1`,
    /// `::ffff:10.0.0.1`).
    pub fn of(text: Option<&str>) -> SourceAddress {
        let Some(ip) = text.and_then(|t| t.trim().parse::<IpAddr>().ok()) else {
            return SourceAddress::Unknown;
        };
        let v4 = |ip: std::net::Ipv4Addr| {
            let [a, b, ..] = ip.octets();
            if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
                SourceAddress::Unknown
            } else if ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || (a == 100 && (64..128).contains(&b))
            {
                SourceAddress::Private
            } else {
                SourceAddress::Public
            }
        };
        match ip {
            IpAddr::V4(ip) => v4(ip),
            IpAddr::V6(ip) => {
                if let Some(mapped) = ip.to_ipv4_mapped() {
                    return v4(mapped);
                }
                let first = ip.segments()[0];
                if ip.is_unspecified() || ip.is_multicast() {
                    SourceAddress::Unknown
                } else if ip.is_loopback()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                {
                    SourceAddress::Private
                } else {
                    SourceAddress::Public
                }
            }
        }
    }
}

/// One alert read against the table: the row, the entry that matched, and
/// which reading applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inference {
    /// Index of the row in [`CLASSES`].
    row: u16,
    /// Index of the matching entry in the row's `signatures` or `categories`.
    entry: u16,
    field: ClassField,
    /// The row's `from_private_source` reading applies.
    private_source: bool,
}

impl Inference {
    /// The table row.
    pub fn class(&self) -> &'static Class {
        &CLASSES[usize::from(self.row)]
    }

    /// The reading that applies: the row's, or its private-source one.
    pub fn reading(&self) -> &'static Reading {
        let class = self.class();
        match (&class.from_private_source, self.private_source) {
            (Some(inside), true) => inside,
            _ => &class.reading,
        }
    }

    /// The field that gave the class.
    pub fn field(&self) -> ClassField {
        self.field
    }

    /// The table entry that matched: `ET SCAN`, `Web Application Attack`.
    pub fn matched(&self) -> &'static str {
        let class = self.class();
        let entries = match self.field {
            ClassField::Signature => class.signatures,
            ClassField::Category => class.categories,
        };
        entries[usize::from(self.entry)]
    }

    /// Whether the private-source reading was taken.
    pub fn from_private_source(&self) -> bool {
        self.private_source
    }

    /// The words put before each rationale line of a finding placed through
    /// this inference.
    pub fn rationale_prefix(&self) -> String {
        let what = match self.field {
            ClassField::Signature => "signature class",
            ClassField::Category => "classtype",
        };
        format!(
            "inferred from the {what} {} (no ATT&CK ID in the alert): {}; ",
            self.matched(),
            self.reading().why
        )
    }

    /// A compact identity (never 0) for caches keyed by how a finding was
    /// placed: two inferences with the same key word their rationale alike.
    /// Rows and entries stay under 1,024 (tested).
    pub(crate) fn key(&self) -> u32 {
        let field = u32::from(self.field == ClassField::Category);
        1 + ((u32::from(self.row) << 12)
            | (u32::from(self.entry) << 2)
            | (field << 1)
            | u32::from(self.private_source))
    }
}

/// A classified alert: the inference and the text it was read from, as the
/// record spells it (`ET SCAN` of `ET SCAN Potential SSH Scan`, or the
/// whole classtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified<'a> {
    pub inference: Inference,
    pub found: &'a str,
}

/// Reads an alert's signature and classtype against [`CLASSES`] (see the
/// module docs for the order). `category` is asked only for a signature
/// outside the naming convention, `source` only when the matching row reads
/// differently for a private source address. `None`: no row matched. A row
/// without techniques is returned too: the alert is known to stay unmapped.
pub fn classify<'a>(
    signature: Option<&'a str>,
    category: impl FnOnce() -> Option<&'a str>,
    source: impl FnOnce() -> SourceAddress,
) -> Option<Classified<'a>> {
    let found = match signature.map(str::trim).and_then(signature_class) {
        Some(Named::Class(at, found)) => Some((at, ClassField::Signature, found)),
        Some(Named::Unlisted) => None,
        None => category().map(str::trim).and_then(|c| {
            let key = Folded::new(c, u8::to_ascii_lowercase)?;
            INDEX
                .categories
                .get(key.as_bytes())
                .map(|&at| (at, ClassField::Category, c))
        }),
    };
    let ((row, entry), field, found) = found?;
    let private_source = CLASSES[usize::from(row)].from_private_source.is_some()
        && matches!(source(), SourceAddress::Private);
    Some(Classified {
        inference: Inference {
            row,
            entry,
            field,
            private_source,
        },
        found,
    })
}

/// (row, entry) in [`CLASSES`].
type At = (u16, u16);

/// [`CLASSES`] by key, built on first use: classes upper-cased (`ET SCAN`,
/// `SURICATA`), classtypes lower-cased. Alerts reaching this last resort
/// can be a large share of a Suricata stream (every POLICY and decoder
/// alert), and a scan of the table per alert cost several thousand
/// instructions.
struct Index {
    signatures: rustc_hash::FxHashMap<Box<[u8]>, At>,
    categories: rustc_hash::FxHashMap<Box<[u8]>, At>,
}

static INDEX: std::sync::LazyLock<Index> = std::sync::LazyLock::new(|| {
    let mut index = Index {
        signatures: Default::default(),
        categories: Default::default(),
    };
    for (row, class) in CLASSES.iter().enumerate() {
        // A few dozen rows of a few dozen entries: the casts cannot truncate.
        let at = |entry: usize| (row as u16, entry as u16);
        for (entry, s) in class.signatures.iter().enumerate() {
            // First listing wins; the tests keep every key unique.
            index
                .signatures
                .entry(s.to_ascii_uppercase().into_bytes().into())
                .or_insert(at(entry));
        }
        for (entry, c) in class.categories.iter().enumerate() {
            index
                .categories
                .entry(c.to_ascii_lowercase().into_bytes().into())
                .or_insert(at(entry));
        }
    }
    index
});

/// Longest key looked up: longer text is in no row.
const KEY_MAX: usize = 64;

/// A key folded to one case on the stack (no allocation per alert).
struct Folded {
    buf: [u8; KEY_MAX],
    len: usize,
}

impl Folded {
    /// `text` with each byte folded; `None` when it is too long for any key.
    fn new(text: &str, fold: fn(&u8) -> u8) -> Option<Folded> {
        Folded::from_parts(&[text], fold)
    }

    /// The parts joined by single spaces, folded.
    fn from_parts(parts: &[&str], fold: fn(&u8) -> u8) -> Option<Folded> {
        let mut key = Folded {
            buf: [0; KEY_MAX],
            len: 0,
        };
        for (i, part) in parts.iter().enumerate() {
            let sep = usize::from(i > 0);
            let end = key.len + sep + part.len();
            let dst = key.buf.get_mut(key.len..end)?;
            if sep == 1 {
                dst[0] = b' ';
            }
            for (d, s) in dst[sep..].iter_mut().zip(part.as_bytes()) {
                *d = fold(s);
            }
            key.len = end;
        }
        Some(key)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// What a signature's first words say.
enum Named<'a> {
    /// A listed class, and the words as written.
    Class(At, &'a str),
    /// Named by the convention, class not listed: unmapped.
    Unlisted,
}

/// The class of a signature that follows the naming convention; `None` for
/// one that does not.
fn signature_class(sig: &str) -> Option<Named<'_>> {
    // Positions of ASCII whitespace bytes are char boundaries.
    let word_end = |s: &str| {
        s.bytes()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(s.len())
    };
    let ruleset = &sig[..word_end(sig)];
    if ruleset.is_empty() || !RULESETS.iter().any(|r| r.eq_ignore_ascii_case(ruleset)) {
        return None;
    }
    let rest = sig[ruleset.len()..].trim_start_matches(|c: char| c.is_ascii_whitespace());
    let category = &rest[..word_end(rest)];
    let upper = u8::to_ascii_uppercase;
    if !category.is_empty() {
        let hit = Folded::from_parts(&[ruleset, category], upper)
            .and_then(|key| INDEX.signatures.get(key.as_bytes()).copied());
        if let Some(at) = hit {
            // `ET SCAN` as written: from the start to the category's end.
            let two = &sig[..sig.len() - rest.len() + category.len()];
            return Some(Named::Class(at, two));
        }
    }
    let whole =
        Folded::new(ruleset, upper).and_then(|key| INDEX.signatures.get(key.as_bytes()).copied());
    Some(match whole {
        Some(at) => Named::Class(at, ruleset),
        None => Named::Unlisted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use killchain_kb::{AttackData, AttackKb};

    fn read(
        sig: Option<&str>,
        cat: Option<&str>,
        src: SourceAddress,
    ) -> Option<(&'static str, &'static [&'static str])> {
        classify(sig, || cat, || src)
            .map(|c| (c.inference.matched(), c.inference.reading().techniques))
    }

    #[test]
    fn every_technique_is_active_in_the_embedded_attack() {
        let kb = AttackKb::new(AttackData::embedded().unwrap());
        assert_eq!(kb.meta().version, "18.1");
        let mut n = 0;
        for class in CLASSES {
            let readings = std::iter::once(&class.reading).chain(&class.from_private_source);
            for reading in readings {
                assert!(!reading.why.trim().is_empty(), "{class:?}");
                for id in reading.techniques {
                    let (t, redirected) = kb
                        .technique_by_id(id)
                        .unwrap_or_else(|| panic!("{id} is not in ATT&CK 18.1"));
                    assert_eq!(redirected, None, "{id} is revoked");
                    assert_eq!(
                        &kb.technique(t).id,
                        id,
                        "{id} is not written as ATT&CK writes it"
                    );
                    assert!(kb.technique(t).is_active(), "{id} is revoked or deprecated");
                    n += 1;
                }
            }
        }
        assert!(n >= 10, "{n} technique IDs checked");
    }

    #[test]
    fn table_is_unambiguous_and_well_formed() {
        assert!(CLASSES.len() < 1024);
        let mut seen_sig: Vec<String> = Vec::new();
        let mut seen_cat: Vec<String> = Vec::new();
        for class in CLASSES {
            assert!(
                !class.signatures.is_empty() || !class.categories.is_empty(),
                "{class:?}"
            );
            for s in class.signatures {
                let words: Vec<&str> = s.split(' ').collect();
                assert!(
                    words.len() <= 2 && words.iter().all(|w| !w.is_empty()),
                    "{s:?}"
                );
                assert!(
                    RULESETS.contains(&words[0]),
                    "{s:?}: ruleset not in RULESETS"
                );
                let key = s.to_ascii_uppercase();
                assert!(!seen_sig.contains(&key), "{s:?} listed twice");
                seen_sig.push(key);
            }
            for c in class.categories {
                assert_eq!(c.trim(), *c);
                let key = c.to_ascii_lowercase();
                assert!(!seen_cat.contains(&key), "{c:?} listed twice");
                seen_cat.push(key);
            }
            // Entries fit `Inference::key`.
            assert!(class.signatures.len() < 1024 && class.categories.len() < 1024);
            // A second reading only where the first one maps.
            if class.from_private_source.is_some() {
                assert!(!class.reading.techniques.is_empty(), "{class:?}");
            }
        }
    }

    #[test]
    fn signature_class_decides() {
        use SourceAddress::*;
        assert_eq!(
            read(
                Some("ET SCAN Potential SSH Scan"),
                Some("Attempted Information Leak"),
                Public
            ),
            Some(("ET SCAN", &["T1595"][..]))
        );
        assert_eq!(
            read(Some("ET SCAN Potential SSH Scan"), None, Private),
            Some(("ET SCAN", &["T1046"][..]))
        );
        assert_eq!(
            read(Some("ET SCAN Potential SSH Scan"), None, Unknown),
            Some(("ET SCAN", &["T1595"][..]))
        );
        // The classtype does not override the class: POLICY with a trojan
        // classtype, or a web-attack classtype, stays unmapped.
        assert_eq!(
            read(
                Some("ET POLICY PE EXE or DLL Windows file download HTTP"),
                Some("Web Application Attack"),
                Public
            ),
            Some(("ET POLICY", &[][..]))
        );
        // A convention-named class the table does not list: unmapped, and
        // the classtype is not consulted either.
        assert_eq!(
            read(
                Some("ET FOO something"),
                Some("Web Application Attack"),
                Public
            ),
            None
        );
        // A ruleset alone.
        let c = classify(
            Some("SURICATA HTTP unable to match response to request"),
            || None,
            || Public,
        )
        .unwrap();
        assert_eq!((c.found, c.inference.matched()), ("SURICATA", "SURICATA"));
        assert!(c.inference.reading().techniques.is_empty());
        // Found as written; extra spaces, case.
        let c = classify(
            Some("  et   web_server  ColdFusion adminapi access"),
            || None,
            || Public,
        )
        .unwrap();
        assert_eq!(c.found, "et   web_server");
        assert_eq!(c.inference.matched(), "ET WEB_SERVER");
        assert_eq!(c.inference.field(), ClassField::Signature);
        assert_eq!(
            read(Some("GPL EXPLOIT ISAPI .ida attempt"), None, Public)
                .unwrap()
                .1,
            ["T1190"]
        );
        assert_eq!(
            read(
                Some("ET CNC Zeus Tracker Reported CnC Server group 11"),
                None,
                Public
            )
            .unwrap()
            .1,
            ["T1071"]
        );
        // Only the first word is a ruleset: `ETC` or `ET-SCAN` are not.
        assert_eq!(read(Some("ETC SCAN x"), None, Public), None);
        assert_eq!(read(Some("ET"), None, Public), None);
    }

    #[test]
    fn classtype_reads_only_signatures_outside_the_convention() {
        use SourceAddress::*;
        let c = classify(
            Some("LOCAL sqlmap against the shop"),
            || Some(" Web Application Attack "),
            || Public,
        )
        .unwrap();
        assert_eq!(c.inference.field(), ClassField::Category);
        assert_eq!(c.found, "Web Application Attack");
        assert_eq!(c.inference.reading().techniques, ["T1190"]);
        assert_eq!(
            read(None, Some("web-application-attack"), Public)
                .unwrap()
                .1,
            ["T1190"]
        );
        assert_eq!(
            read(None, Some("Detection of a Network Scan"), Private)
                .unwrap()
                .1,
            ["T1046"]
        );
        assert_eq!(
            read(None, Some("A Network Trojan was detected"), Public)
                .unwrap()
                .1,
            [] as [&str; 0]
        );
        assert_eq!(
            read(None, Some("Misc activity"), Public).unwrap().1,
            [] as [&str; 0]
        );
        assert_eq!(read(None, Some("something else"), Public), None);
        assert_eq!(read(None, None, Public), None);
    }

    /// The hashed index against the plain reading of the table: every
    /// entry, in any case and spacing, finds its own row and entry.
    #[test]
    fn index_agrees_with_the_table() {
        let public = || SourceAddress::Public;
        let cases: [fn(&str) -> String; 3] = [
            |s| s.to_string(),
            |s| s.to_ascii_lowercase(),
            |s| s.replace(' ', " \t "),
        ];
        for (row, class) in CLASSES.iter().enumerate() {
            for (entry, e) in class.signatures.iter().enumerate() {
                for case in cases {
                    let sig = format!("{} Something detected", case(e));
                    let c = classify(Some(&sig), || None, public).unwrap();
                    assert_eq!(
                        (usize::from(c.inference.row), usize::from(c.inference.entry)),
                        (row, entry),
                        "{sig}"
                    );
                    assert_eq!(c.inference.matched(), *e);
                    // Found as written: the class words only (a ruleset
                    // alone: its one word).
                    let words = if e.contains(' ') { 2 } else { 1 };
                    let want: Vec<&str> = sig.split_ascii_whitespace().take(words).collect();
                    let got: Vec<&str> = c.found.split_ascii_whitespace().collect();
                    assert_eq!(got, want, "{sig}");
                }
            }
            for (entry, e) in class.categories.iter().enumerate() {
                for cat in [e.to_string(), e.to_ascii_uppercase(), format!("  {e} ")] {
                    let c = classify(None, || Some(&cat), public).unwrap();
                    assert_eq!(
                        (usize::from(c.inference.row), usize::from(c.inference.entry)),
                        (row, entry),
                        "{cat}"
                    );
                    assert_eq!(c.found, cat.trim());
                }
            }
        }
        // Past the longest key: in no row, without a panic.
        let long = "x".repeat(KEY_MAX + 1);
        assert_eq!(classify(None, || Some(&long), public), None);
        let sig = format!("ET {long}");
        assert_eq!(classify(Some(&sig), || Some("network-scan"), public), None);
        assert_eq!(classify(Some("ET é"), || None, public), None);
    }

    #[test]
    fn source_address_is_asked_only_where_direction_matters() {
        let asked = std::cell::Cell::new(false);
        let src = || {
            asked.set(true);
            SourceAddress::Private
        };
        assert_eq!(
            classify(Some("ET EXPLOIT x"), || None, src)
                .unwrap()
                .inference
                .reading()
                .techniques,
            ["T1190"]
        );
        assert!(!asked.get());
        assert!(classify(Some("ET SCAN x"), || None, src)
            .unwrap()
            .inference
            .from_private_source());
        assert!(asked.get());
    }

    #[test]
    fn source_addresses() {
        use SourceAddress::*;
        for (ip, want) in [
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("172.32.0.1", Public),
            ("192.168.0.2", Private),
            ("100.64.0.1", Private),
            ("100.128.0.1", Public),
            ("127.0.0.1", Private),
            ("169.254.1.1", Private),
            ("8.8.8.8", Public),
            ("203.0.113.7", Public),
            ("0.0.0.0", Unknown),
            ("255.255.255.255", Unknown),
            ("224.0.0.251", Unknown),
            ("fd00::1", Private),
            ("fe80::1", Private),
            ("::1", Private),
            ("::ffff:10.0.0.7", Private),
            ("2001:db8::1", Public),
            ("::", Unknown),
            ("ff02::1", Unknown),
            (" 10.0.0.1 ", Private),
            ("not-an-ip", Unknown),
            ("", Unknown),
        ] {
            assert_eq!(SourceAddress::of(Some(ip)), want, "{ip}");
        }
        assert_eq!(SourceAddress::of(None), Unknown);
    }

    #[test]
    fn rationale_prefix_and_keys() {
        let scan_out = classify(Some("ET SCAN x"), || None, || SourceAddress::Public)
            .unwrap()
            .inference;
        let scan_in = classify(Some("ET SCAN x"), || None, || SourceAddress::Private)
            .unwrap()
            .inference;
        let gpl_scan = classify(Some("GPL SCAN x"), || None, || SourceAddress::Public)
            .unwrap()
            .inference;
        let by_cat = classify(None, || Some("network-scan"), || SourceAddress::Public)
            .unwrap()
            .inference;
        assert_eq!(
            scan_in.rationale_prefix(),
            "inferred from the signature class ET SCAN (no ATT&CK ID in the alert): a scan probes for live hosts and open services; from a private source address it runs inside the network, which is discovery; "
        );
        assert!(by_cat
            .rationale_prefix()
            .starts_with("inferred from the classtype network-scan (no ATT&CK ID in the alert): "));
        let keys = [scan_out.key(), scan_in.key(), gpl_scan.key(), by_cat.key()];
        for (i, k) in keys.iter().enumerate() {
            assert_ne!(*k, 0);
            assert!(!keys[..i].contains(k), "{keys:?}");
        }
    }
}
