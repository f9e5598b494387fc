//! The mapper's placement cache must be invisible: a cache hit gives exactly
//! the finding a fresh mapper gives, and evidence in a different order (which
//! decides the primary phase) is not confused with a cached entry.

use killchain_kb::models::ModelSet;
use killchain_kb::{AttackData, AttackKb};
use killchain_map::extract::FieldPaths;
use killchain_map::finding::RecordRef;
use killchain_map::{Mapper, Node};
use serde_json::json;

fn kb() -> AttackKb {
    AttackKb::new(AttackData::embedded().unwrap())
}

#[test]
fn cache_hits_equal_fresh_mappings_and_respect_order() {
    let kb = kb();
    let models = ModelSet::new(&kb, Vec::new()).unwrap();
    let records = [
        json!({"tags": ["attack.t1566.001", "attack.t1059.001"]}),
        json!({"tags": ["attack.t1059.001", "attack.t1566.001"]}),
        json!({"threat": {"technique": {"id": "T1003.001"}, "tactic": {"id": "TA0006"}}}),
        json!({"tags": ["attack.t1566.001", "attack.t1059.001"], "other": "same evidence"}),
    ];
    let cached = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default());
    // Map everything twice through one mapper, so the second pass is all hits.
    let first: Vec<_> = records
        .iter()
        .map(|r| {
            cached
                .map_record(&Node::from_value(r), RecordRef::default())
                .finding
        })
        .collect();
    for (r, f) in records.iter().zip(&first) {
        let r = Node::from_value(r);
        let again = cached.map_record(&r, RecordRef::default()).finding;
        let fresh = Mapper::new(&kb, &models, Vec::new(), FieldPaths::default())
            .map_record(&r, RecordRef::default())
            .finding;
        assert_eq!(&again, f);
        assert_eq!(fresh, again);
    }
    // Phishing first: delivery is primary; execution first: exploitation-side.
    let lm = |i: usize| first[i].phases.get("lm").unwrap().phase.to_string();
    assert_eq!(lm(0), "delivery");
    assert_ne!(
        lm(1),
        "delivery",
        "order of evidence must change the primary phase"
    );
    assert_eq!(lm(3), lm(0));
    assert_eq!(lm(2), "actions-on-objectives");
}
