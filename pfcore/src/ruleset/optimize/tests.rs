//! The optimizer on small rulesets, printed as `pfctl -nv` would.

use super::*;
use crate::conf::{self, print_rule, StaticResolver};

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .iface("em0", &["192.0.2.1/24"])
        .iface("em1", &["198.51.100.1/24"])
}

/// The ruleset of `src` optimized at `level`: its rules and tables as
/// `pfctl -nv` prints them.
fn opt(src: &str, level: Level, profile: Option<&Profile>) -> String {
    let r = resolver();
    let (mut rs, errs) = conf::parse_partial_raw(src, "t.conf", &r, &|_: &str| {
        Err(std::io::Error::other("no"))
    });
    assert!(errs.is_empty(), "{errs:?}");
    conf::finish(&mut rs, level, profile);
    conf::print_ruleset_nv(&rs, &r)
}

#[test]
fn levels_from_the_command_line_and_the_file() {
    assert_eq!(Level::from_arg("n"), Some(Level::None));
    assert_eq!(Level::from_arg("basic"), Some(Level::Basic));
    assert_eq!(Level::from_arg("p"), Some(Level::Profile));
    assert_eq!(Level::from_arg(""), None);
    assert_eq!(Level::from_arg("fast"), None);
    let r = resolver();
    let rs = conf::parse(
        "set ruleset-optimization none\nset ruleset-optimization profile\npass\n",
        "t",
        &r,
    )
    .unwrap();
    // the first `set` counts, -o overrides it, basic by default
    assert_eq!(Level::effective(None, &rs), Level::None);
    assert_eq!(Level::effective(Some(Level::Basic), &rs), Level::Basic);
    let rs = conf::parse("pass\n", "t", &r).unwrap();
    assert_eq!(Level::effective(None, &rs), Level::Basic);
}

#[test]
fn six_addresses_become_one_rule_on_an_automatic_table() {
    // FreeBSD's table.sh:pr259689
    let src =
        "pass in\nblock in inet from { 1.1.1.1, 1.1.1.2, 2.2.2.2, 2.2.2.3, 4.4.4.4, 4.4.4.5 }\n";
    assert_eq!(
        opt(src, Level::Basic, None),
        "table <__automatic_0> const { 1.1.1.1 1.1.1.2 2.2.2.2 2.2.2.3 4.4.4.4 4.4.4.5 }\n\
         pass in all flags S/SA\n\
         block drop in inet from <__automatic_0> to any\n"
    );
    // five stay five rules; none leaves them alone
    let five = "block in inet from { 1.1.1.1, 1.1.1.2, 2.2.2.2, 2.2.2.3, 4.4.4.4 }\n";
    assert_eq!(opt(five, Level::Basic, None).lines().count(), 5);
    assert_eq!(opt(src, Level::None, None).lines().count(), 7);
}

#[test]
fn destinations_merge_too_and_numbering_follows_the_pool_tables() {
    let src = "pass out on em0 nat-to { 192.0.2.7, 192.0.2.8 }\n\
               block out proto tcp to { 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 } port 22\n";
    let out = opt(src, Level::Basic, None);
    assert!(
        out.contains("table <__automatic_0> const { 192.0.2.7 192.0.2.8 }\n"),
        "{out}"
    );
    assert!(
        out.contains("table <__automatic_1> const { 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4 10.0.0.5 10.0.0.6 10.0.0.7 }\n"),
        "{out}"
    );
    assert!(
        out.contains("block drop out inet proto tcp from any to <__automatic_1> port = 22\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn negated_addresses_never_merge() {
    // `! a` or `! b` matches every address: `! <{ a b }>` would not
    let src = "block in quick from { !1.1.1.1 !1.1.1.2 !1.1.1.3 !1.1.1.4 !1.1.1.5 !1.1.1.6 }\n";
    let out = opt(src, Level::Basic, None);
    assert!(!out.contains("__automatic"), "{out}");
    assert_eq!(out.lines().count(), 6);
}

#[test]
fn different_ports_or_actions_never_merge() {
    let src = "block in proto tcp from { 1.1.1.1 1.1.1.2 1.1.1.3 } to any port { 22 23 }\n";
    // six rules, but no two differ only in the address: 3 + 3 per port
    let out = opt(src, Level::Basic, None);
    assert!(!out.contains("__automatic"), "{out}");
    assert_eq!(out.lines().count(), 6);
}

#[test]
fn duplicates_and_subsets_go() {
    let src = "block in quick from 10.0.0.0/8\n\
               block in quick from 10.1.0.0/16\n\
               block in quick from 10.0.0.0/8\n\
               block in quick proto tcp from 10.2.0.0/16 port 80\n\
               block in quick from 192.0.2.0/24\n";
    assert_eq!(
        opt(src, Level::Basic, None),
        "block drop in quick inet from 10.0.0.0/8 to any\n\
         block drop in quick inet from 192.0.2.0/24 to any\n"
    );
}

#[test]
fn a_negated_network_is_no_superset() {
    // `! 10.1/16` matches 10.2.0.1, `! 10/8` does not: both stay
    let src = "block in quick from ! 10.0.0.0/8\nblock in quick from ! 10.1.0.0/16\n";
    assert_eq!(opt(src, Level::Basic, None).lines().count(), 2);
}

#[test]
fn a_wider_later_rule_removes_the_earlier_narrower_one() {
    let src =
        "pass in on em0 proto tcp from 10.1.0.0/16 to any port 22\npass in proto tcp to port 22\n";
    assert_eq!(
        opt(src, Level::Basic, None),
        "pass in proto tcp from any to any port = 22 flags S/SA\n"
    );
}

#[test]
fn barriers_and_breaks_keep_rules_in_place() {
    // labels, different actions, quick and non-quick, tags: nothing moves
    let src = "pass in proto udp to port 53 label \"dns\"\n\
               pass in proto udp to port 53 label \"dns\"\n\
               block in proto tcp\n\
               pass in quick proto tcp\n\
               pass in proto tcp tag A\n\
               pass in proto tcp tag B\n";
    assert_eq!(opt(src, Level::Basic, None), opt(src, Level::None, None));
}

#[test]
fn interface_groups_are_superblock_breaks() {
    let src = "block in on egress proto tcp to port 22\npass in on em0 proto tcp to port 22\npass in on em0 proto tcp to port 22\n";
    assert_eq!(
        opt(src, Level::Basic, None),
        "block drop in on egress proto tcp from any to any port = 22\n\
         pass in on em0 proto tcp from any to any port = 22 flags S/SA\n"
    );
}

#[test]
fn reordering_groups_what_skip_steps_share() {
    let src = "pass in on em0 proto tcp to port 22\n\
               pass in on em1 proto udp to port 53\n\
               pass in on em0 proto tcp to port 80\n\
               pass in on em1 proto udp to port 123\n\
               pass in on em0 proto tcp to port 443\n";
    // em0 (3 rules) first, reordered within; then em1's two
    assert_eq!(
        opt(src, Level::Basic, None),
        "pass in on em0 proto tcp from any to any port = 22 flags S/SA\n\
         pass in on em0 proto tcp from any to any port = 80 flags S/SA\n\
         pass in on em0 proto tcp from any to any port = 443 flags S/SA\n\
         pass in on em1 proto udp from any to any port = 53\n\
         pass in on em1 proto udp from any to any port = 123\n"
    );
}

#[test]
fn nr_counts_the_optimized_rules() {
    let src = "pass in proto tcp to port 22\npass in proto tcp to port 22\npass in proto tcp label \"r$nr\"\n";
    assert!(opt(src, Level::Basic, None).contains("label \"r1\""));
    assert!(opt(src, Level::None, None).contains("label \"r2\""));
}

#[test]
fn profile_puts_the_busiest_quick_rules_first() {
    let src = "pass in quick on em0 proto tcp to port 22\n\
               pass in quick on em1 proto udp to port 53\n\
               pass in quick on em0 proto tcp to port 80\n";
    let r = resolver();
    let loaded = conf::parse(src, "t", &r).unwrap().rules;
    let counts = [10, 500, 3];
    let profile: Vec<(Rule, u64)> = loaded.into_iter().zip(counts).collect();
    assert_eq!(
        opt(src, Level::Profile, Some(&profile)),
        "pass in quick on em1 proto udp from any to any port = 53\n\
         pass in quick on em0 proto tcp from any to any port = 22 flags S/SA\n\
         pass in quick on em0 proto tcp from any to any port = 80 flags S/SA\n"
    );
    // without counters (no loaded ruleset lines up) profile is basic
    assert_eq!(opt(src, Level::Profile, None), opt(src, Level::Basic, None));
}

#[test]
fn inline_anchors_are_optimized_on_their_own() {
    let src =
        "anchor \"a\" {\n block in from { 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 }\n}\n";
    let r = resolver();
    let (mut rs, _) =
        conf::parse_partial_raw(src, "t", &r, &|_: &str| Err(std::io::Error::other("no")));
    conf::finish(&mut rs, Level::Basic, None);
    let t = rs.table("__automatic_0").expect("table");
    assert_eq!(t.anchor, "a");
    assert_eq!(t.len(), 6);
    let inner = &rs.rules[0].anchor.as_ref().unwrap().rules;
    assert_eq!(inner.len(), 1);
    assert_eq!(
        print_rule(&inner[0], &r),
        "block drop in inet from <__automatic_0> to any"
    );
    // -nv prints the table where pfctl optimizes the anchor
    assert_eq!(
        conf::print_ruleset_nv(&rs, &r),
        "anchor \"a\" all {\n\
         table <__automatic_0> const { 1.1.1.1 1.1.1.2 1.1.1.3 1.1.1.4 1.1.1.5 1.1.1.6 }\n  \
         block drop in inet from <__automatic_0> to any\n\
         }\n"
    );
}

#[test]
fn covers_is_exclude_supersets_then_equal() {
    // the fast test agrees with pfctl's way on every pair of these rules
    let src = "block in quick from 10.0.0.0/8\nblock in quick inet from 10.1.0.0/16\n\
               block quick from ! 10.0.0.0/8\nblock in quick on em0 from 10.0.0.0/8\n\
               block in quick on ! em0 from 10.0.0.0/8\nblock in quick proto tcp from 10.0.0.0/8 port 80\n\
               block in quick proto tcp from any to 10.1.2.3 port 22 flags S/SA\n\
               block in quick proto tcp to 10.1.2.3\nblock in quick inet6 from 2001:db8::/32\n\
               block in quick from 10.1.2.3 to <t>\nblock in quick to <t>\nblock in quick all\n\
               block out quick from 0.0.0.0/0\nblock in quick proto tcp from 10.1.0.0/16 to any port 22\n";
    let r = resolver();
    let rules: Vec<Rule> = conf::parse(src, "t", &r)
        .unwrap()
        .rules
        .iter()
        .map(|x| fields::comparable(x, fields::Class::DontCare))
        .collect();
    let mut n = 0;
    for a in &rules {
        for b in &rules {
            if fields::superset_key(a) != fields::superset_key(b) {
                continue;
            }
            let mut b1 = b.clone();
            fields::exclude_supersets(a, &mut b1);
            assert_eq!(fields::covers(a, b), *a == b1, "{a:?}\n{b:?}");
            n += usize::from(*a == b1);
        }
    }
    assert!(n > rules.len(), "some rules cover others: {n}");
}
