//! Tests of the pfsync formats: byte offsets against wire-facts §2.7,
//! receiver rules of §2.1/§2.2, builder → parser round trips, and
//! no-panic properties.

use super::*;
use proptest::prelude::*;

fn sample_state() -> StateRepr {
    StateRepr {
        id: 0x0102_0304_0506_0708,
        ifname: "em0".into(),
        key: [
            KeyRepr {
                addr: [
                    IpAddr::V4(Ipv4Addr::new(192, 168, 1, 50)),
                    IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                ],
                port: [51744, 22],
                rdomain: 3,
                af: AF_INET,
            },
            KeyRepr {
                addr: [
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
                    IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)),
                ],
                port: [40001, 22],
                rdomain: 0,
                af: AF_INET,
            },
        ],
        src: PeerRepr {
            scrub: ScrubRepr {
                flags: PFSS_TIMESTAMP,
                ttl: 64,
                scrub_flag: PFSYNC_SCRUB_FLAG_VALID,
                ts_mod: 0xdead_beef,
            },
            seqlo: 0x1111_1111,
            seqhi: 0x2222_2222,
            seqdiff: 0x3333_3333,
            max_win: 0x4444,
            mss: 1460,
            state: 4,
            wscale: 0x87,
        },
        dst: PeerRepr {
            seqlo: 0x5555_5555,
            state: 4,
            ..Default::default()
        },
        rt_addr: IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)),
        rule: 3,
        anchor: u32::MAX,
        nat_rule: u32::MAX,
        creation: 3723,
        expire: 86398,
        packets: [0x0000_0001_0000_0078, 95],
        bytes: [15360, 0xffff_ffff_0000_0001],
        creatorid: 0x8f1e_2d3c,
        rtableid: [u32::MAX, 7],
        max_mss: 1400,
        af: AF_INET,
        proto: 6,
        direction: PF_IN,
        log: 0x01,
        rt: 1,
        timeout: 2,
        sync_flags: PFSYNC_FLAG_SRCNODE,
        updates: 0,
        min_ttl: 5,
        set_tos: 0x10,
        state_flags: PFSTATE_ALLOWOPTS | PFSTATE_ACK,
        set_prio: [3, 6],
        rt_ifname: String::new(),
        tag: String::new(),
    }
}

#[test]
fn state_offsets() {
    use state_field as f;
    assert_eq!(StateRepr::LEN, 264);
    let s = sample_state();
    let mut b = [0xaau8; 264];
    s.emit(&mut b).unwrap();
    assert_eq!(&b[0..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[8..24], b"em0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    // key[0] at 24: addr[0], addr[1] (16 each, IPv4 then 12 zeros), ports, rdomain, af, pad.
    assert_eq!(
        &b[24..40],
        &[192, 168, 1, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&b[40..44], &[192, 168, 1, 1]);
    assert_eq!(&b[56..64], &[0xca, 0x20, 0, 22, 0, 3, 2, 0]);
    // key[1] at 64.
    assert_eq!(&b[64..68], &[10, 0, 0, 5]);
    assert_eq!(&b[96..104], &[0x9c, 0x41, 0, 22, 0, 0, 2, 0]);
    // src peer at 104: scrub (flags, ttl, scrub_flag, ts_mod), seqlo, seqhi, seqdiff, max_win, mss, state, wscale, pad.
    assert_eq!(&b[104..112], &[0, 1, 64, 1, 0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(
        &b[112..124],
        &[0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22, 0x33, 0x33, 0x33, 0x33]
    );
    assert_eq!(
        &b[124..136],
        &[0x44, 0x44, 0x05, 0xb4, 4, 0x87, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&b[f::DST + 8..f::DST + 12], &[0x55; 4]);
    assert_eq!(f::DST, 136);
    assert_eq!(&b[168..172], &[10, 9, 8, 7]);
    assert_eq!(&b[184..188], &[0, 0, 0, 3]);
    assert_eq!(&b[188..196], &[0xff; 8]);
    assert_eq!(&b[196..200], &3723u32.to_be_bytes());
    assert_eq!(&b[200..204], &86398u32.to_be_bytes());
    // packets[0] high word then low word.
    assert_eq!(&b[204..212], &[0, 0, 0, 1, 0, 0, 0, 0x78]);
    assert_eq!(&b[212..220], &[0, 0, 0, 0, 0, 0, 0, 95]);
    assert_eq!(&b[220..228], &15360u64.to_be_bytes());
    assert_eq!(&b[228..236], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
    assert_eq!(&b[236..240], &[0x8f, 0x1e, 0x2d, 0x3c]);
    assert_eq!(&b[240..248], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 7]);
    assert_eq!(&b[248..250], &1400u16.to_be_bytes());
    assert_eq!(b[250], 2); // af
    assert_eq!(b[251], 6); // proto
    assert_eq!(b[252], 1); // direction
    assert_eq!(b[253], 1); // log
    assert_eq!(b[254], 1); // rt
    assert_eq!(b[255], 2); // timeout
    assert_eq!(b[256], 4); // sync_flags
    assert_eq!(b[257], 0); // updates
    assert_eq!(b[258], 5); // min_ttl
    assert_eq!(b[259], 0x10); // set_tos
    assert_eq!(&b[260..262], &[0x00, 0x11]); // state_flags
    assert_eq!(&b[262..264], &[3, 6]); // set_prio
    assert_eq!(
        (
            f::CREATORID,
            f::AF,
            f::TIMEOUT,
            f::RTABLEID,
            f::STATE_FLAGS,
            f::SET_PRIO
        ),
        (236, 250, 255, 240, 260, 262)
    );
    assert_eq!(StateRepr::parse(&b).unwrap(), s);
}

#[test]
fn small_message_offsets() {
    let mut b = [0xaau8; 84];
    let u = UpdCRepr {
        id: 9,
        src: PeerRepr {
            state: 1,
            ..Default::default()
        },
        dst: PeerRepr {
            state: 2,
            ..Default::default()
        },
        creatorid: 0x0a0b0c0d,
        expire: 0,
        timeout: 7,
        state_flags: 0,
    };
    u.emit(&mut b).unwrap();
    assert_eq!(&b[0..8], &9u64.to_be_bytes());
    assert_eq!(b[8 + 24], 1);
    assert_eq!(b[40 + 24], 2);
    assert_eq!(&b[72..76], &[0x0a, 0x0b, 0x0c, 0x0d]);
    assert_eq!(&b[76..84], &[0, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(UpdCRepr::parse(&b).unwrap(), u);

    let mut b = [0xaau8; 12];
    BusRepr {
        creatorid: 0x01020304,
        endtime: 0,
        status: BUS_END,
    }
    .emit(&mut b)
    .unwrap();
    assert_eq!(b, [1, 2, 3, 4, 0, 0, 0, 0, 2, 0, 0, 0]);
    DelCRepr {
        id: 1,
        creatorid: 2,
    }
    .emit(&mut b)
    .unwrap();
    assert_eq!(b, [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2]);

    let mut b = [0xaau8; 20];
    ClrRepr {
        ifname: String::new(),
        creatorid: 5,
    }
    .emit(&mut b)
    .unwrap();
    assert_eq!(
        b,
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5]
    );
    assert_eq!(ClrRepr::parse(&b[..19]), Err(Error::Truncated));
    assert_eq!(
        ClrRepr {
            ifname: "x".into(),
            creatorid: 0
        }
        .emit(&mut b[..19]),
        Err(Error::Truncated)
    );
}

#[test]
fn ipv6_and_af_to_keys() {
    let mut s = sample_state();
    let v6a: IpAddr = "2001:db8::50".parse().unwrap();
    let v6b: IpAddr = "64:ff9b::c0a8:101".parse().unwrap();
    s.af = AF_INET6;
    s.key[0] = KeyRepr {
        addr: [v6a, v6b],
        port: [1, 2],
        rdomain: 0,
        af: AF_INET6,
    };
    // Stack side translated to IPv4 (af-to); rt_addr follows the stack key.
    s.key[1].af = AF_INET;
    s.validate().unwrap();
    let mut b = [0u8; 264];
    s.emit(&mut b).unwrap();
    assert_eq!(
        &b[24..40],
        &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x50]
    );
    assert_eq!(StateRepr::parse(&b).unwrap(), s);
}

#[test]
fn validate_rules() {
    let ok = sample_state();
    ok.validate().unwrap();
    let check = |f: &dyn Fn(&mut StateRepr), why: &str| {
        let mut s = sample_state();
        f(&mut s);
        assert_eq!(s.validate(), Err(why));
    };
    check(&|s| s.timeout = PFTM_MAX, "invalid timeout");
    check(&|s| s.src.state = 13, "invalid peer state");
    check(&|s| s.dst.state = 200, "invalid peer state");
    check(&|s| s.direction = 0, "invalid direction");
    check(&|s| s.direction = 3, "invalid direction");
    check(&|s| s.key[1].af = 10, "invalid key address family");
    check(
        &|s| {
            s.key[0].af = 0;
            s.key[1].af = 0;
            s.af = 10;
        },
        "invalid address family",
    );
    check(&|s| s.creatorid = 0, "invalid creator id");
    check(
        &|s| s.key[1].addr[0] = "::1".parse().unwrap(),
        "key address does not match its family",
    );
    // One key family set, the other 0: rejected; both 0 is fine.
    check(&|s| s.key[0].af = 0, "invalid key address family");
    let mut s = sample_state();
    s.key[0].af = 0;
    s.key[1].af = 0;
    s.validate().unwrap();
    let mut s = sample_state();
    s.timeout = 19;
    s.src.state = 12;
    s.direction = PF_OUT;
    s.af = AF_INET;
    s.validate().unwrap();
}

#[test]
fn ifname_handling() {
    let mut s = sample_state();
    s.ifname = "a-very-long-interface-name".into();
    let mut b = [0u8; 264];
    s.emit(&mut b).unwrap();
    assert_eq!(StateRepr::parse(&b).unwrap().ifname, "a-very-long-int");
    s.ifname = "ééééééééé".into(); // 18 bytes: cut at a char boundary (14)
    s.emit(&mut b).unwrap();
    assert_eq!(StateRepr::parse(&b).unwrap().ifname, "ééééééé");
    b[8] = 0xff;
    assert_eq!(
        StateRepr::parse(&b),
        Err(Error::Malformed("pfsync interface name not UTF-8"))
    );
    // 16 bytes without NUL are taken whole.
    b[8..24].copy_from_slice(b"abcdefghijklmnop");
    assert_eq!(StateRepr::parse(&b).unwrap().ifname, "abcdefghijklmnop");
}

fn all_kinds() -> Vec<Message> {
    let s = sample_state();
    vec![
        Message::Upd(s.clone()),
        Message::Clr(ClrRepr {
            ifname: "em1".into(),
            creatorid: 1,
        }),
        Message::InsAck(InsAckRepr {
            id: 1,
            creatorid: 2,
        }),
        Message::UpdC(UpdCRepr {
            id: 3,
            creatorid: 4,
            timeout: 2,
            ..Default::default()
        }),
        Message::UpdReq(UpdReqRepr::BULK),
        Message::Del(StateRepr {
            timeout: 99,
            ..s.clone()
        }),
        Message::DelC(DelCRepr {
            id: 5,
            creatorid: 6,
        }),
        Message::Bus(BusRepr {
            creatorid: 7,
            endtime: 0,
            status: BUS_START,
        }),
        Message::Ins(s),
        Message::InsAck(InsAckRepr {
            id: 8,
            creatorid: 9,
        }),
    ]
}

fn in_section_order(msgs: &[Message]) -> Vec<Message> {
    let mut v = msgs.to_vec();
    v.sort_by_key(|m| section_slot(m.action()));
    v
}

#[test]
fn build_parse_roundtrip() {
    let msgs = all_kinds();
    let mut fb = FrameBuilder::new(1500);
    assert!(fb.is_empty());
    for m in &msgs {
        assert!(fb.push(m));
    }
    assert_eq!(fb.count(), msgs.len());
    let expect_len = 20 + 9 * 4 + msgs.iter().map(Message::wire_len).sum::<usize>();
    assert_eq!(fb.len(), expect_len);
    let frame = fb.finish();
    assert!(fb.is_empty());
    assert_eq!(fb.len(), HEADER_LEN);
    assert_eq!(frame.len(), expect_len);
    let h = Header::new_checked(&frame[..]).unwrap();
    assert_eq!(
        (h.version(), usize::from(h.len()), h.pfcksum()),
        (6, expect_len, [0; 16])
    );
    // First section: INS_ACK, 3 words, 2 messages.
    assert_eq!(&frame[20..24], &[ACT_INS_ACK, 3, 0, 2]);
    let mut out = Vec::new();
    let st = parse_frame(&frame, &mut out);
    assert_eq!(
        st,
        FrameStats {
            messages: msgs.len() as u64,
            ..Default::default()
        }
    );
    assert_eq!(out, in_section_order(&msgs));
    // Sections appear in the documented order.
    let actions: Vec<u8> = out.iter().map(Message::action).collect();
    let mut dedup = actions.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        vec![
            ACT_INS_ACK,
            ACT_UPD_C,
            ACT_DEL_C,
            ACT_INS,
            ACT_UPD,
            ACT_CLR,
            ACT_UPD_REQ,
            ACT_BUS,
            ACT_DEL
        ]
    );
    // The IPv4 wrapper.
    let pkt = build_ipv4(Ipv4Addr::new(10, 0, 0, 1), INADDR_PFSYNC_GROUP, 77, &frame);
    let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.tos(), ip.dont_frag(), ip.ttl(), ip.protocol()),
        (0x10, true, 255, 240)
    );
    assert_eq!(ip.payload(), &frame[..]);
}

#[test]
fn builder_respects_mtu() {
    let s = Message::Ins(sample_state());
    // 20 IP + 20 pfsync + 4 subheader + 264 = 308: exactly one state fits in 308.
    let mut fb = FrameBuilder::new(308);
    assert!(fb.push(&s));
    assert!(!fb.push(&s));
    assert!(!fb.push(&Message::DelC(DelCRepr::default())));
    assert_eq!(fb.len(), 288);
    let mut fb = FrameBuilder::new(1500);
    let mut n = 0;
    while fb.push(&s) {
        n += 1;
    }
    assert_eq!(n, (1500 - 20 - 20 - 4) / 264);
    assert!(fb.len() <= 1480);
    let f = fb.finish();
    assert_eq!(f.len(), 20 + 4 + n * 264);
    let mut tiny = FrameBuilder::new(10);
    assert!(!tiny.push(&Message::UpdReq(UpdReqRepr::BULK)));
    assert!(tiny.is_empty());
    assert_eq!(tiny.finish().len(), 20);
}

fn header(len: usize) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    b[0] = 6;
    b[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    b
}

fn frame_with(sections: &[(u8, u8, u16, Vec<u8>)], extra: &[u8]) -> Vec<u8> {
    let body: usize = sections.iter().map(|s| 4 + s.3.len()).sum();
    let mut b = header(20 + body + extra.len());
    for (a, l, c, d) in sections {
        b.extend_from_slice(&[*a, *l]);
        b.extend_from_slice(&c.to_be_bytes());
        b.extend_from_slice(d);
    }
    b.extend_from_slice(extra);
    b
}

fn delc(id: u64) -> Vec<u8> {
    let mut b = [0u8; 12];
    DelCRepr { id, creatorid: 1 }.emit(&mut b).unwrap();
    b.to_vec()
}

#[test]
fn receiver_rules() {
    let mut out = Vec::new();
    // hdrops
    assert_eq!(parse_frame(&[6; 19], &mut out).hdrops, 1);
    // badver
    let mut f = header(20);
    f[0] = 5;
    assert_eq!(parse_frame(&f, &mut out).badver, 1);
    // badlen: header length beyond the buffer
    let f = header(21);
    assert_eq!(parse_frame(&f, &mut out).badlen, 1);
    // header length < 20: no sections, no error
    let mut f = header(4);
    f.extend_from_slice(&[ACT_DEL_C, 3, 0, 1]);
    f.extend_from_slice(&delc(1));
    assert_eq!(parse_frame(&f, &mut out), FrameStats::default());
    assert!(out.is_empty());

    // Trailing bytes beyond header len are trimmed (a full extra section is ignored).
    let mut f = frame_with(&[(ACT_DEL_C, 3, 1, delc(1))], &[]);
    f.extend_from_slice(&[ACT_DEL_C, 3, 0, 1]);
    f.extend_from_slice(&delc(2));
    let st = parse_frame(&f, &mut out);
    assert_eq!((st.messages, out.len()), (1, 1));
    out.clear();

    // 1..3 trailing bytes inside len are ignored silently.
    let f = frame_with(&[(ACT_DEL_C, 3, 1, delc(1))], &[0, 0, 0]);
    assert_eq!(
        parse_frame(&f, &mut out),
        FrameStats {
            messages: 1,
            ..Default::default()
        }
    );
    out.clear();

    // Unknown action skipped by len x count, then the next section is read.
    let f = frame_with(
        &[(99, 2, 2, vec![0xee; 16]), (ACT_DEL_C, 3, 1, delc(7))],
        &[],
    );
    let st = parse_frame(&f, &mut out);
    assert_eq!((st.messages, st.skipped, st.badact), (1, 2, 0));
    assert_eq!(
        out,
        vec![Message::DelC(DelCRepr {
            id: 7,
            creatorid: 1
        })]
    );
    out.clear();

    // Unknown action with count 0 (or len 0): badact, rest discarded.
    for (l, c) in [(2u8, 0u16), (0, 2)] {
        let f = frame_with(&[(99, l, c, vec![]), (ACT_DEL_C, 3, 1, delc(7))], &[]);
        let st = parse_frame(&f, &mut out);
        assert_eq!((st.messages, st.badact), (0, 1));
    }
    // Known action with too-short len: skipped like an unknown one.
    let f = frame_with(&[(ACT_INS, 3, 1, delc(1)), (ACT_DEL_C, 3, 1, delc(8))], &[]);
    let st = parse_frame(&f, &mut out);
    assert_eq!((st.messages, st.skipped, st.badact), (1, 1, 0));
    out.clear();
    // Known action, len 0, count 0: badact.
    let f = frame_with(&[(ACT_DEL_C, 0, 0, vec![])], &[]);
    assert_eq!(parse_frame(&f, &mut out).badact, 1);
    // Known action, proper len, count 0: fine, nothing.
    let f = frame_with(
        &[(ACT_DEL_C, 3, 0, vec![]), (ACT_DEL_C, 3, 1, delc(9))],
        &[],
    );
    assert_eq!(
        parse_frame(&f, &mut out),
        FrameStats {
            messages: 1,
            ..Default::default()
        }
    );
    out.clear();

    // Larger messages accepted, stepping by the sender's len.
    let mut big = delc(10);
    big.extend_from_slice(&[0xcc; 8]);
    let mut big2 = delc(11);
    big2.extend_from_slice(&[0xcc; 8]);
    big.extend_from_slice(&big2);
    let f = frame_with(&[(ACT_DEL_C, 5, 2, big)], &[]);
    let st = parse_frame(&f, &mut out);
    assert_eq!(st.messages, 2);
    assert_eq!(
        out[1],
        Message::DelC(DelCRepr {
            id: 11,
            creatorid: 1
        })
    );
    out.clear();

    // len x count beyond the frame: badlen, rest dropped.
    let mut f = frame_with(&[(ACT_DEL_C, 3, 1, delc(1))], &[]);
    f[20 + 3] = 2; // count 2, only one present
    let st = parse_frame(&f, &mut out);
    assert_eq!((st.messages, st.badlen), (0, 1));

    // Obsolete actions and TDB are skipped without error.
    let f = frame_with(
        &[
            (ACT_OINS, 2, 1, vec![0; 8]),
            (ACT_TDB, 13, 1, vec![0; 52]),
            (ACT_EOF, 0, 0, vec![]),
            (ACT_DEL_C, 3, 1, delc(3)),
        ],
        &[],
    );
    let st = parse_frame(&f, &mut out);
    assert_eq!(
        (st.messages, st.skipped, st.badact, st.badlen),
        (1, 2, 0, 0)
    );
    out.clear();

    // Invalid INS counted badval and not pushed; valid one next to it kept.
    let good = sample_state();
    let bad = StateRepr {
        creatorid: 0,
        ..good.clone()
    };
    let mut fb = FrameBuilder::new(1500);
    fb.push(&Message::Ins(bad));
    fb.push(&Message::Ins(good.clone()));
    fb.push(&Message::UpdC(UpdCRepr {
        timeout: 20,
        ..Default::default()
    }));
    let st = parse_frame(&fb.finish(), &mut out);
    assert_eq!((st.messages, st.badval), (1, 2));
    assert_eq!(out, vec![Message::Ins(good)]);
}

#[test]
fn names() {
    assert_eq!(action_name(ACT_CLR), "CLR ST");
    assert_eq!(action_name(ACT_UPD_C), "UPD ST COMP");
    assert_eq!(action_name(ACT_BUS), "BULK UPD STAT");
    assert_eq!(action_name(ACT_TDB), "UPD TDB");
    assert_eq!(action_name(16), "UNKNOWN");
    assert_eq!(message_len(ACT_INS), Some(264));
    assert_eq!(message_len(ACT_OUPD), None);
}

// ---- property tests

fn arb_scrub() -> impl Strategy<Value = ScrubRepr> {
    (any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()).prop_map(
        |(flags, ttl, scrub_flag, ts_mod)| ScrubRepr {
            flags,
            ttl,
            scrub_flag,
            ts_mod,
        },
    )
}

fn arb_peer() -> impl Strategy<Value = PeerRepr> {
    (
        arb_scrub(),
        any::<[u32; 3]>(),
        any::<[u16; 2]>(),
        0u8..=12,
        any::<u8>(),
    )
        .prop_map(|(scrub, s, w, state, wscale)| PeerRepr {
            scrub,
            seqlo: s[0],
            seqhi: s[1],
            seqdiff: s[2],
            max_win: w[0],
            mss: w[1],
            state,
            wscale,
        })
}

fn arb_addr(af: u8) -> BoxedStrategy<IpAddr> {
    if af == AF_INET {
        any::<[u8; 4]>().prop_map(IpAddr::from).boxed()
    } else {
        any::<[u8; 16]>().prop_map(IpAddr::from).boxed()
    }
}

/// A key with family field `af` (0 or `state_af`).
fn arb_key(state_af: u8, af: u8) -> impl Strategy<Value = KeyRepr> {
    let eff = if af == 0 { state_af } else { af };
    (
        arb_addr(eff),
        arb_addr(eff),
        any::<[u16; 2]>(),
        any::<u16>(),
    )
        .prop_map(move |(a0, a1, port, rdomain)| KeyRepr {
            addr: [a0, a1],
            port,
            rdomain,
            af,
        })
}

fn arb_state() -> impl Strategy<Value = StateRepr> {
    let afs = prop_oneof![Just(AF_INET), Just(AF_INET6)];
    (afs, any::<bool>()).prop_flat_map(|(af, zero_key_af)| {
        let kaf = if zero_key_af { 0 } else { af };
        let a = (
            any::<u64>(),
            "[a-z0-9]{0,15}",
            arb_key(af, kaf),
            arb_key(af, kaf),
            arb_peer(),
            arb_peer(),
            arb_addr(af),
            any::<[u32; 5]>(),
            any::<[u64; 2]>(),
            any::<[u64; 2]>(),
        );
        let b = (
            1u32..,
            any::<[u32; 2]>(),
            any::<u16>(),
            any::<u8>(),
            PF_IN..=PF_OUT,
            any::<[u8; 2]>(),
            0u8..PFTM_MAX,
            any::<[u8; 4]>(),
            any::<u16>(),
            any::<[u8; 2]>(),
        );
        (a, b).prop_map(
            move |(
                (id, ifname, k0, k1, src, dst, rt_addr, r, packets, bytes),
                (
                    creatorid,
                    rtableid,
                    max_mss,
                    proto,
                    direction,
                    lr,
                    timeout,
                    m,
                    state_flags,
                    set_prio,
                ),
            )| StateRepr {
                id,
                ifname,
                key: [k0, k1],
                src,
                dst,
                rt_addr,
                rule: r[0],
                anchor: r[1],
                nat_rule: r[2],
                creation: r[3],
                expire: r[4],
                packets,
                bytes,
                creatorid,
                rtableid,
                max_mss,
                af,
                proto,
                direction,
                log: lr[0],
                rt: lr[1],
                timeout,
                sync_flags: m[0],
                updates: m[1],
                min_ttl: m[2],
                set_tos: m[3],
                state_flags,
                set_prio,
                rt_ifname: String::new(),
                tag: String::new(),
            },
        )
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    let idc = (any::<u64>(), any::<u32>());
    prop_oneof![
        ("[a-z0-9]{0,15}", any::<u32>())
            .prop_map(|(ifname, creatorid)| Message::Clr(ClrRepr { ifname, creatorid })),
        idc.prop_map(|(id, creatorid)| Message::InsAck(InsAckRepr { id, creatorid })),
        (
            any::<u64>(),
            arb_peer(),
            arb_peer(),
            any::<[u32; 2]>(),
            0u8..PFTM_MAX,
            any::<u8>()
        )
            .prop_map(
                |(id, src, dst, c, timeout, state_flags)| Message::UpdC(UpdCRepr {
                    id,
                    src,
                    dst,
                    creatorid: c[0],
                    expire: c[1],
                    timeout,
                    state_flags
                })
            ),
        idc.prop_map(|(id, creatorid)| Message::UpdReq(UpdReqRepr { id, creatorid })),
        arb_state().prop_map(Message::Del),
        idc.prop_map(|(id, creatorid)| Message::DelC(DelCRepr { id, creatorid })),
        (any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(creatorid, endtime, status)| {
            Message::Bus(BusRepr {
                creatorid,
                endtime,
                status,
            })
        }),
        arb_state().prop_map(Message::Ins),
        arb_state().prop_map(Message::Upd),
    ]
}

proptest! {
    #[test]
    fn roundtrip_messages(msgs in proptest::collection::vec(arb_message(), 0..12)) {
        let mut fb = FrameBuilder::new(9000);
        for m in &msgs {
            prop_assert!(fb.push(m));
        }
        let frame = fb.finish();
        let mut out = Vec::new();
        let st = parse_frame(&frame, &mut out);
        prop_assert_eq!(st, FrameStats { messages: msgs.len() as u64, ..Default::default() });
        prop_assert_eq!(out, in_section_order(&msgs));
    }

    #[test]
    fn state_serde_and_wire(s in arb_state()) {
        prop_assert_eq!(s.validate(), Ok(()));
        let mut b = [0u8; 264];
        s.emit(&mut b).unwrap();
        prop_assert_eq!(StateRepr::parse(&b).unwrap(), s.clone());
        let bytes = postcard::to_allocvec(&s).unwrap();
        prop_assert_eq!(postcard::from_bytes::<StateRepr>(&bytes).unwrap(), s);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_no_panic(mut data in proptest::collection::vec(any::<u8>(), 0..1200), fix in any::<bool>()) {
        if fix && data.len() >= 4 {
            // Make the header plausible so the section walker runs.
            data[0] = PFSYNC_VERSION;
            let l = data.len() as u16;
            data[2..4].copy_from_slice(&l.to_be_bytes());
        }
        let mut out = Vec::new();
        let st = parse_frame(&data, &mut out);
        prop_assert_eq!(st.messages as usize, out.len());
        for len in [0usize, 8, 12, 20, 32, 40, 84, 264] {
            let d = &data[..len.min(data.len())];
            let _ = ScrubRepr::parse(d);
            let _ = PeerRepr::parse(d);
            let _ = KeyRepr::parse(d, d.first().copied().unwrap_or(0));
            let _ = StateRepr::parse(d);
            let _ = UpdCRepr::parse(d);
            let _ = ClrRepr::parse(d);
            for a in 0..=ACT_MAX {
                let _ = Message::parse(a, d);
            }
        }
        if let Ok(h) = Header::new_checked(&data[..]) {
            let _ = (h.version(), h.len(), h.pfcksum(), h.payload());
        }
    }

    #[test]
    fn mutated_frames_no_panic(msgs in proptest::collection::vec(arb_message(), 1..6),
                               edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                               cut in any::<usize>(), grow in 0usize..8, fixlen in any::<bool>()) {
        let mut fb = FrameBuilder::new(1500);
        for m in &msgs {
            fb.push(m);
        }
        let mut frame = fb.finish();
        for (i, v) in edits {
            let n = frame.len();
            frame[i % n] = v;
        }
        frame.extend(std::iter::repeat_n(0x5a, grow));
        let n = frame.len();
        frame.truncate(n - cut % (n / 2 + 1));
        if fixlen {
            // Keep the header length consistent so the section walker runs.
            let l = frame.len() as u16;
            frame[2..4].copy_from_slice(&l.to_be_bytes());
        }
        let mut out = Vec::new();
        let st = parse_frame(&frame, &mut out);
        prop_assert_eq!(st.messages as usize, out.len());
        for m in &out {
            prop_assert!(m.validate().is_ok());
        }
    }

    #[test]
    fn structured_sections_no_panic(
        sections in proptest::collection::vec(
            (0u8..20, 0u8..70, 0u16..4, proptest::collection::vec(any::<u8>(), 0..600)), 0..6),
        seed_state in arb_state(),
    ) {
        // Random subheaders over random bodies, some bodies being a valid
        // state, behind a consistent header.
        let mut body = Vec::new();
        for (i, (action, words, count, mut data)) in sections.into_iter().enumerate() {
            if i == 0 && data.len() >= 264 {
                seed_state.emit(&mut data[..264]).unwrap();
            }
            body.extend_from_slice(&[action, words]);
            body.extend_from_slice(&count.to_be_bytes());
            body.extend_from_slice(&data);
        }
        let mut frame = header(20 + body.len());
        frame.extend_from_slice(&body);
        let mut out = Vec::new();
        let st = parse_frame(&frame, &mut out);
        prop_assert_eq!(st.messages as usize, out.len());
        prop_assert!(st.badact + st.badlen <= 1);
        for m in &out {
            prop_assert!(m.validate().is_ok());
        }
    }
}
