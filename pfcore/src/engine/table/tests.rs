//! Tables in the engine: their life with the rulesets that load and name
//! them, packets matched against them, the -T operations, limits and
//! statistics.

use super::*;
use crate::conf::{parse, StaticResolver};
use crate::engine::anchor::Loader;
use crate::engine::packet::tests::*;
use crate::engine::packet::Dir;
use crate::engine::{Engine, PacketMeta};
use crate::ruleset::{Ruleset, TableEntry};

fn ruleset(src: &str) -> Ruleset {
    let res = StaticResolver::new()
        .iface("eth0", &["192.0.2.10/24"])
        .iface("eth1", &["10.1.0.1/16"]);
    parse(src, "pf.conf", &res)
        .map_err(|e| format!("{e:?}"))
        .unwrap()
}

/// What pfctl sends for the tables of `rs`.
fn shadows(rs: &Ruleset) -> Vec<Shadow> {
    rs.loaded_tables()
        .into_iter()
        .map(|t| {
            let mut s = Shadow::new(&t.anchor, &t.name, t.flags, t.init_addr);
            let all: Vec<TableEntry> = t.entries().copied().collect();
            s.add(&all);
            s.finish().unwrap();
            s
        })
        .collect()
}

fn load(e: &mut Engine, src: &str, now_ms: u64) -> Result<(), crate::engine::CommitError> {
    let rs = ruleset(src);
    let sh = shadows(&rs);
    let sets = crate::ruleset::flatten(&rs, "");
    e.commit(
        sets,
        Some((rs.options, String::new())),
        sh,
        Loader::default(),
        now_ms,
    )
}

fn engine(src: &str) -> Engine {
    let mut e = Engine::new(1, 7);
    load(&mut e, src, 1000).unwrap();
    e.set_enabled(true, 0);
    e
}

fn meta(dir: Dir, ifname: &str) -> PacketMeta<'_> {
    PacketMeta {
        dir,
        ifname,
        uid: None,
        gid: None,
        mtag: Default::default(),
    }
}

/// Does a UDP packet from `src` get in on eth1?
fn passes(e: &mut Engine, src: &str, now: u64) -> bool {
    let mut p = v4(src, "192.0.2.20", 17, &udp_dgram(1000, 53, b"x"));
    e.test(&meta(Dir::In, "eth1"), &mut p, now).pass
}

fn info(e: &Engine, anchor: &str, name: &str) -> Option<TableInfo> {
    e.tables
        .get_tables(Some(anchor))
        .into_iter()
        .find(|t| t.name == name)
}

fn net(s: &str) -> TableEntry {
    let (neg, s) = match s.strip_prefix('!') {
        Some(r) => (true, r),
        None => (false, s),
    };
    TableEntry::new(neg, s.parse().unwrap())
}

#[test]
fn a_table_block_blocks_the_listed_host_only() {
    let mut e = engine("table <bad> { 10.1.0.2 }\npass\nblock in quick from <bad>\n");
    assert!(!passes(&mut e, "10.1.0.2", 2000));
    assert!(passes(&mut e, "10.1.0.3", 2000));
    let t = info(&e, "", "bad").unwrap();
    assert_eq!(t.flags & tflag::ACTIVE, tflag::ACTIVE);
    assert_eq!(t.flags & tflag::REFERENCED, tflag::REFERENCED);
    assert_eq!((t.matched, t.nomatch), (1, 1));
    assert_eq!(t.packets[0][OP_BLOCK], 1);
    assert_eq!(t.count, 1);
}

#[test]
fn negated_tables_and_negated_entries() {
    // `pass from !<good>`: everyone but the table.
    let mut e = engine(
        "table <good> { 10.1.0.0/16 !10.1.2.3 }\nblock in\npass in quick from !<good>\npass in from <good>\nblock in quick from 10.1.9.9\n",
    );
    // 10.1.2.3 is negated inside 10.1.0.0/16: not in the table.
    let in_table = |a: &str| {
        e.tables
            .match_addr(e.tables.id("", "good").unwrap(), &a.parse().unwrap())
    };
    assert!(in_table("10.1.5.5"));
    assert!(!in_table("10.1.2.3"));
    assert!(!in_table("10.2.0.1"));
    assert!(passes(&mut e, "10.1.5.5", 2000));
    assert!(passes(&mut e, "10.1.2.3", 2000), "quick pass from !<good>");
    // 10.1.9.9 is in <good>: the later quick block decides.
    assert!(!passes(&mut e, "10.1.9.9", 2000));
}

#[test]
fn runtime_changes_take_effect_on_the_next_packet() {
    let mut e = engine("table <bad> persist\npass\nblock in quick from <bad>\n");
    assert!(passes(&mut e, "10.1.0.7", 2000));
    let ch = e
        .tables
        .add_addrs(
            "",
            "bad",
            &[net("10.1.0.0/24"), net("!10.1.0.8")],
            false,
            2,
            1000,
        )
        .unwrap();
    assert_eq!(ch.nadd, 2);
    assert!(!passes(&mut e, "10.1.0.9", 3000));
    assert!(passes(&mut e, "10.1.0.8", 3000), "negated entry");
    let ch = e
        .tables
        .del_addrs("", "bad", &[net("10.1.0.0/24"), net("10.1.0.8")], false)
        .unwrap();
    // The second does not match the negated entry: a conflict.
    assert_eq!(ch.ndel, 1);
    assert_eq!(ch.feedback[1].fback, fb::CONFLICT);
    assert!(passes(&mut e, "10.1.0.9", 4000));
}

#[test]
fn add_delete_replace_feedback_like_pf() {
    let mut e = engine("table <t> persist { 192.0.2.1 }\n");
    let t = &mut e.tables;
    let ch = t
        .add_addrs(
            "",
            "t",
            &[
                net("192.0.2.1"),
                net("192.0.2.2"),
                net("192.0.2.2"),
                net("!192.0.2.1"),
            ],
            false,
            5,
            1000,
        )
        .unwrap();
    let codes: Vec<u8> = ch.feedback.iter().map(|f| f.fback).collect();
    assert_eq!(codes, [fb::NONE, fb::ADDED, fb::DUPLICATE, fb::CONFLICT]);
    assert_eq!(ch.nadd, 1);
    // Dummy changes nothing.
    let ch = t
        .add_addrs("", "t", &[net("192.0.2.9")], true, 5, 1000)
        .unwrap();
    assert_eq!(ch.nadd, 1);
    assert_eq!(t.get_astats("", "t").unwrap().len(), 2);
    // Replace: one kept, one changed to negated, one added, one deleted.
    let ch = t
        .set_addrs(
            "",
            "t",
            &[net("!192.0.2.1"), net("192.0.2.3")],
            false,
            6,
            1000,
        )
        .unwrap();
    assert_eq!((ch.nadd, ch.ndel, ch.nchange), (1, 1, 1));
    let last = ch.feedback.last().unwrap();
    assert_eq!((last.fback, last.entry), (fb::DELETED, net("192.0.2.2")));
    // Same again: no changes.
    let ch = t
        .set_addrs(
            "",
            "t",
            &[net("!192.0.2.1"), net("192.0.2.3")],
            false,
            7,
            1000,
        )
        .unwrap();
    assert_eq!((ch.nadd, ch.ndel, ch.nchange), (0, 0, 0));
    // Test: host addresses; a negated entry does not match.
    let r = t
        .tst_addrs(
            "",
            "t",
            &["192.0.2.1".parse().unwrap(), "192.0.2.3".parse().unwrap()],
        )
        .unwrap();
    assert_eq!(r[0].0, fb::NOTMATCH);
    assert_eq!(r[1], (fb::MATCH, Some(net("192.0.2.3"))));
    // Flush.
    assert_eq!(t.clr_addrs("", "t", false), Ok(2));
    assert_eq!(t.entries(), 0);
}

#[test]
fn const_tables_refuse_changes_and_missing_tables_do_not_exist() {
    let mut e = engine("table <c> const { 192.0.2.1 }\npass from <c>\n");
    let t = &mut e.tables;
    let eperm = t.add_addrs("", "c", &[net("192.0.2.2")], false, 1, 1000);
    assert_eq!(eperm.unwrap_err().errno, errno::EPERM);
    assert_eq!(t.clr_addrs("", "c", false).unwrap_err().errno, errno::EPERM);
    assert_eq!(
        t.set_addrs("", "c", &[], false, 1, 1000).unwrap_err().errno,
        errno::EPERM
    );
    assert_eq!(
        t.del_addrs("", "c", &[net("192.0.2.1")], false)
            .unwrap_err()
            .errno,
        errno::EPERM
    );
    let esrch = t.get_astats("", "nope").unwrap_err();
    assert_eq!(
        (esrch.errno, esrch.message.as_str()),
        (errno::ESRCH, "Table does not exist")
    );
    // -T add creates a persistent table; a second time it exists.
    assert_eq!(t.add_table("", "new", false, 1, 1000), Ok(1));
    assert_eq!(t.add_table("", "new", false, 1, 1000), Ok(0));
    assert_eq!(
        info(&e, "", "new").unwrap().flags,
        tflag::PERSIST | tflag::ACTIVE
    );
    // -T kill: gone; it was not referenced.
    assert_eq!(e.tables.del_table("", "new", false), Ok(1));
    assert!(info(&e, "", "new").is_none());
}

#[test]
fn tables_live_as_pf_says() {
    let mut e = engine(
        "table <p> persist { 192.0.2.1 }\ntable <np> { 192.0.2.2 }\ntable <used> { 192.0.2.3 }\npass from <used>\npass to <undefined>\n",
    );
    // Not persistent and not referenced: gone at once.
    assert!(info(&e, "", "np").is_none());
    assert_eq!(
        info(&e, "", "p").unwrap().flags,
        tflag::PERSIST | tflag::ACTIVE
    );
    assert_eq!(
        info(&e, "", "used").unwrap().flags,
        tflag::ACTIVE | tflag::REFERENCED
    );
    // Referenced but never defined: exists, not active, matches nothing.
    let u = info(&e, "", "undefined").unwrap();
    assert_eq!(u.flags, tflag::REFERENCED);
    assert!(e.tables.get_astats("", "undefined").is_err());
    // Addresses added at run time to <p> survive a reload that defines it
    // without contents; <used> goes when no rule names it any more.
    e.tables
        .add_addrs("", "p", &[net("192.0.2.9")], false, 2, 1000)
        .unwrap();
    load(&mut e, "table <p> persist\npass\n", 3000).unwrap();
    assert_eq!(info(&e, "", "p").unwrap().count, 2);
    assert!(info(&e, "", "used").is_none());
    assert!(info(&e, "", "undefined").is_none());
    // A definition with contents replaces them, keeping the clear time of
    // an entry that stays.
    let before = e.tables.get_astats("", "p").unwrap();
    load(&mut e, "table <p> persist { 192.0.2.1 10.0.0.0/8 }\n", 9000).unwrap();
    let after = e.tables.get_astats("", "p").unwrap();
    assert_eq!(after.len(), 2);
    let kept = after.iter().find(|a| a.entry == net("192.0.2.1")).unwrap();
    assert_eq!(kept.tzero, before[0].tzero);
    let added = after.iter().find(|a| a.entry == net("10.0.0.0/8")).unwrap();
    assert_eq!(added.tzero, 9);
    // -F Tables: the persistent table goes.
    assert_eq!(e.tables.clr_tables("", false), Ok(1));
    assert_eq!(e.tables.count(), 0);
    assert_eq!(e.tables.entries(), 0);
}

#[test]
fn tables_in_anchors_fall_back_to_the_main_ruleset() {
    let mut e = engine(
        "table <t> persist { 10.1.0.2 }\npass\nanchor a {\n table <own> { 10.1.0.3 }\n block in quick from <own>\n block in quick from <t>\n}\n",
    );
    // <t> is not defined in anchor a: the main ruleset's is used.
    assert!(!passes(&mut e, "10.1.0.2", 2000));
    assert!(!passes(&mut e, "10.1.0.3", 2000));
    assert!(passes(&mut e, "10.1.0.4", 2000));
    let own = info(&e, "a", "own").unwrap();
    assert_eq!(own.flags, tflag::ACTIVE | tflag::REFERENCED);
    let at = info(&e, "a", "t").unwrap();
    assert_eq!(at.flags, tflag::REFERENCED, "not active in the anchor");
    let root = info(&e, "", "t").unwrap();
    assert_eq!(
        root.flags,
        tflag::PERSIST | tflag::ACTIVE | tflag::REFDANCHOR
    );
    assert_eq!(root.refs, [1, 0]);
    // The root of <own> exists only as the anchored table's fallback.
    assert_eq!(info(&e, "", "own").unwrap().flags, tflag::REFDANCHOR);
    // Defining <t> in the anchor at run time takes over.
    e.tables.add_table("a", "t", false, 3, 1000).unwrap();
    assert!(passes(&mut e, "10.1.0.2", 4000));
}

#[test]
fn limits_refuse_the_whole_load() {
    let mut e = engine("table <t> persist { 192.0.2.1 }\npass\n");
    let src =
        "set limit table-entries 2\ntable <t> persist { 192.0.2.1 192.0.2.2 192.0.2.3 }\nblock\n";
    let err = load(&mut e, src, 5000).unwrap_err();
    assert_eq!(err.errno, errno::ENOMEM);
    // Nothing changed: the old rules and table stand.
    assert_eq!(info(&e, "", "t").unwrap().count, 1);
    assert_eq!(e.rules().main().rules.len(), 1);
    let err = load(
        &mut e,
        "set limit tables 2\ntable <a> persist\ntable <b> persist\ntable <c> persist\n",
        6000,
    )
    .unwrap_err();
    assert_eq!(err.errno, errno::ENOMEM);
    // <t> is persistent: it stays, and with <a> and <b> makes three.
    load(
        &mut e,
        "set limit tables 2\ntable <a> persist\npass from <b>\n",
        7000,
    )
    .unwrap_err();
    load(
        &mut e,
        "set limit tables 3\ntable <a> persist\npass from <b>\n",
        7000,
    )
    .unwrap();
    assert_eq!(e.tables.count(), 3);
    // -T add respects table-entries: nothing is added.
    let full = e
        .tables
        .add_addrs("", "a", &[net("10.0.0.1"), net("10.0.0.2")], false, 8, 2);
    assert_eq!(full.unwrap_err().errno, errno::ENOMEM);
    assert_eq!(e.tables.entries(), 1);
}

#[test]
fn statistics_follow_states_and_per_entry_counters() {
    let mut e = engine("table <c> counters { 10.1.0.2 }\nblock\npass in from <c>\npass out\n");
    let mut p = v4("10.1.0.2", "192.0.2.20", 17, &udp_dgram(1000, 53, b"x"));
    assert!(e.test(&meta(Dir::In, "eth1"), &mut p, 2000).pass);
    // The reply belongs to the state: counted for the rule's table, out.
    let mut r = v4("192.0.2.20", "10.1.0.2", 17, &udp_dgram(53, 1000, b"y"));
    assert!(e.test(&meta(Dir::Out, "eth1"), &mut r, 2100).pass);
    let t = info(&e, "", "c").unwrap();
    assert_eq!((t.packets[0][OP_PASS], t.packets[1][OP_PASS]), (1, 1));
    let a = &e.tables.get_astats("", "c").unwrap()[0];
    let c = a.counters.unwrap();
    assert_eq!((c.packets[0][OP_PASS], c.packets[1][OP_PASS]), (1, 1));
    assert_eq!(c.bytes[0][OP_PASS], p.len() as u64);
    // Zeroing clears them and stamps the time.
    assert_eq!(e.tables.clr_tstats("", "c", false, 42), Ok(1));
    let a = &e.tables.get_astats("", "c").unwrap()[0];
    assert_eq!((a.counters, a.fback, a.tzero), (None, fb::NOCOUNT, 42));
    let t = info(&e, "", "c").unwrap();
    assert_eq!((t.packets[0][OP_PASS], t.tzero), (0, 42));
}

#[test]
fn match_rules_count_every_packet_of_their_states() {
    // table.sh:match_counters: pf_counters_inc counts a state's match
    // rules (st->match_rules) for each of its packets, under Match.
    let mut e = engine(
        "table <foo> counters { 192.0.2.1 }\npass all\nmatch in from <foo> to any\n\
         match out from any to <foo>\n",
    );
    for n in 0..3u16 {
        let mut p = v4("192.0.2.1", "192.0.2.2", 1, &echo(8, 7, n));
        assert!(e.test(&meta(Dir::In, "eth1"), &mut p, 2000).pass);
        let mut r = v4("192.0.2.2", "192.0.2.1", 1, &echo(0, 7, n));
        assert!(e.test(&meta(Dir::Out, "eth1"), &mut r, 2001).pass);
    }
    let t = info(&e, "", "foo").unwrap();
    assert_eq!((t.packets[0][OP_MATCH], t.packets[1][OP_MATCH]), (3, 3));
    assert_eq!((t.packets[0][OP_PASS], t.packets[1][OP_PASS]), (0, 0));
    let a = &e.tables.get_astats("", "foo").unwrap()[0];
    let c = a.counters.unwrap();
    assert_eq!((c.packets[0][OP_MATCH], c.packets[1][OP_MATCH]), (3, 3));
    // The match rule counts the state's packets by the state's direction
    // and the state itself; the later one the replies never reach.
    let rs = e.rules().main();
    assert_eq!(
        (rs.counters[1].packets, rs.counters[1].states_cur),
        ([3, 3], 1)
    );
    assert_eq!(
        (rs.counters[2].packets, rs.counters[2].states_cur),
        ([0, 0], 0)
    );
    assert_eq!(rs.counters[0].packets, [3, 3]);
    e.kill_states(2, false, |_| true);
    assert_eq!(e.rules().main().counters[1].states_cur, 0);
    // Without a state the match rules count nothing (only the pass rule).
    let mut e =
        engine("table <foo> counters { 192.0.2.1 }\npass all no state\nmatch in from <foo>\n");
    let mut p = v4("192.0.2.1", "192.0.2.2", 1, &echo(8, 7, 1));
    assert!(e.test(&meta(Dir::In, "eth1"), &mut p, 2000).pass);
    let t = info(&e, "", "foo").unwrap();
    assert_eq!(t.packets[0][OP_MATCH], 0);
}

#[test]
fn overload_style_insert_and_pool_iteration() {
    let mut e = engine("table <o> persist\ntable <pool> persist { 192.0.2.1 192.0.2.0/30 !192.0.2.2 2001:db8::1 }\npass\n");
    let o = e.tables.id("", "o").unwrap();
    assert_eq!(
        e.tables
            .insert_kentry(o, "10.1.0.5".parse().unwrap(), 3, 1000),
        Ok(true)
    );
    assert_eq!(
        e.tables
            .insert_kentry(o, "10.1.0.5".parse().unwrap(), 3, 1000),
        Ok(false)
    );
    assert_eq!(
        e.table_insert("", "o", "10.1.0.0/16".parse().unwrap(), 4000),
        Ok(true)
    );
    assert!(e
        .table_insert("", "nope", "10.1.0.1".parse().unwrap(), 4000)
        .is_err());
    let p = e.tables.id("", "pool").unwrap();
    assert_eq!(e.tables.pool_count(p, crate::addr::Af::Inet), 2);
    assert_eq!(
        e.tables
            .pool_nth(p, crate::addr::Af::Inet, 0)
            .unwrap()
            .to_string(),
        "192.0.2.0/30"
    );
    assert_eq!(
        e.tables
            .pool_nth(p, crate::addr::Af::Inet, 1)
            .unwrap()
            .to_string(),
        "192.0.2.1"
    );
    assert_eq!(e.tables.pool_count(p, crate::addr::Af::Inet6), 1);
}
