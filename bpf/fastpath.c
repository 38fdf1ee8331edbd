// SPDX-License-Identifier: GPL-2.0
/*
 * pfd's fast path for established flows: a TC (cls_bpf, direct action)
 * program pair. pfd fills the maps once pf's state table has passed a
 * flow both ways and its state is established; pf's state table stays
 * the truth (libpf::sys::fastpath loads this, pfcore::fastpath encodes
 * the entries; pfd(8) tells the design).
 *
 * fp_ingress (TC ingress of every interface pfd filters): a TCP or UDP
 * packet without IP options, not a fragment, with no SYN, FIN or RST,
 * whose tuple on the wire is in fp_keys and (TCP) inside the window kept
 * in fp_flows, gets the `in` pass's rewrite (destination address/port),
 * its counters in fp_flows, and the mark pfd would give it after both
 * passes: pfd's PREROUTING chain lets such a packet by (no NFQUEUE),
 * POSTROUTING too when it leaves by the interface the mark names.
 * Everything else goes on untouched to pfd's queue. A packet that came
 * in by an interface in fp_held (a carp interface whose gate is closed:
 * daemon::carp tells pfd before it closes it) is left alone too, for the
 * gate (a netdev ingress chain, which runs after TC ingress) to drop.
 *
 * When pfd allows it (fp_conf, CONF_FORWARD: no netfilter rules but
 * pfd's on the forward path, no IPsec policies, a kernel with
 * BPF_FIB_LOOKUP_MARK), fp_ingress also forwards such a packet itself:
 * the kernel's route lookup (bpf_fib_lookup, with the mark, the ingress
 * interface, TOS and ports as the stack's input route lookup has them)
 * must send it by one unicast route out of the interface pf's `out` pass
 * was for (fp_rw.oif) within its MTU (per segment for GSO packets); then
 * the TTL or hop limit goes down (IPv4 checksum fixed, priority from the
 * TOS as ip_forward sets it) and bpf_redirect_neigh hands it to that
 * interface's neighbour output. The IP stack, netfilter and pfd's hooks
 * are skipped; TC egress (fp_egress) still runs. Anything else (another
 * route, no route, too big, not for this host's MAC, a bad IPv4 header
 * checksum) goes on to the stack as before. The lookup's answer is kept
 * in the entry (fp_rw.fib_*) while fp_conf's route generation stays, for
 * packets of the same TOS no longer than one it was made for: pfd moves
 * the generation on as soon as the kernel tells of a change to routes,
 * rules, next hops, addresses, links or forwarding, and once a second.
 *
 * fp_egress (TC egress): a packet so marked whose tuple is in fp_keys as
 * an egress entry gets the `out` pass's rewrite (source address/port of
 * nat-to, of an rdr-to's replies), which must wait until routing is done
 * (a source of the host's own would be a martian on input).
 *
 * Checksums are fixed incrementally with the kernel's helpers, which know
 * CHECKSUM_PARTIAL: GSO packets stay whole.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Keep in step with pfcore/src/fastpath.rs. */
#define HOOK_INGRESS 0
#define HOOK_EGRESS 1

#define RW_SRC 1
#define RW_DST 2
#define RW_SPORT 4
#define RW_DPORT 8

#define DONE_BIT 0x80000000u
#define CODE_MASK 0xffu
#define DEFER_CODE 0xffu

#define MAXACKWINDOW (65535 + 1500)

/* fp_conf[0] bits. */
#define CONF_FORWARD 1	/* fp_ingress may forward packets itself */
#define CONF_HELD 2	/* fp_held has entries */
/* fp_conf[CONF_GEN]: the route generation. pfd moves it on whenever the
 * kernel says routes, rules, next hops, addresses, links or forwarding
 * changed, and once a second in any case; never 0. */
#define CONF_GEN 1

/* Linux 6.10: the lookup takes the packet mark (in params->smac's place;
 * Debian 12's headers predate it). */
#ifndef BPF_FIB_LOOKUP_MARK
#define BPF_FIB_LOOKUP_MARK (1U << 5)
#endif
#define PACKET_HOST 0
#define AF_INET 2
#define AF_INET6 10

/* Statistics slots (fp_stats). */
#define ST_FAST 0	/* packets passed by fp_ingress */
#define ST_BYTES 1	/* their bytes */
#define ST_EGRESS 2	/* packets rewritten by fp_egress */
#define ST_WINDOW 3	/* known flows' packets sent to pfd: out of window */
#define ST_FLAGS 4	/* known flows' packets sent to pfd: SYN/FIN/RST */
#define ST_FORWARD 5	/* packets fp_ingress forwarded itself */
#define ST_STACK 6	/* passed packets it left to the stack's forwarding */
#define ST_MAX 8

struct fp_key {
	__u32 ifindex;
	__u8 hook;
	__u8 family;
	__u8 proto;
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
};

struct fp_rw {
	__u32 flow;
	__u32 mark;
	__u8 side;
	__u8 flags;
	__u16 pad;
	__be16 sport;
	__be16 dport;
	__u8 src[16];
	__u8 dst[16];
	__u32 oif;	/* ingress: the interface pf's `out` pass was for */
	/* forward's route cache, the program's own (pfd writes zeros): the
	 * lookup's next hop for these packets, valid while fib_gen is
	 * fp_conf's route generation, for packets up to fib_len long with
	 * TOS (IPv6: flow info) fib_tos. */
	__u32 fib_gen;
	__be32 fib_tos;
	__u16 fib_len;
	__u8 fib_family;
	__u8 fib_pad;
	__u8 fib_nh[16];
};

struct fp_peer {
	__u32 seqlo;
	__u32 seqhi;
	__u16 max_win;
	__u8 wscale;
	__u8 pad;
	__u32 pad2;
};

struct fp_window {
	struct fp_peer peer[2];
	__u32 tcp;
	__u32 pad;
};

struct fp_count {
	__u64 packets[2];
	__u64 bytes[2];
	__u64 last_ns;
};

/* A flow: its window (TCP) and counters, one lookup per packet. */
struct fp_flow {
	struct fp_window w;
	struct fp_count c;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct fp_key);
	__type(value, struct fp_rw);
} fp_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, struct fp_flow);
} fp_flows SEC(".maps");

/* pfd's window data for flows in fp_flows: what its state knew when it
 * offered a flow again (fp_flows itself is the program's once an ingress
 * entry leads to it). Taken in, and deleted, by the first packet outside
 * fp_flows' window (window_hint); pfd deletes what is left at its next
 * pull. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct fp_window);
} fp_hints SEC(".maps");

/* [0]: CONF_* bits; [1]: the route generation (CONF_GEN). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} fp_conf SEC(".maps");

/* Interfaces whose packets fp_ingress leaves alone (closed carp gates). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} fp_held SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fp_stats SEC(".maps");

static __always_inline void stat_add(__u32 slot, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&fp_stats, &slot);

	if (v)
		*v += n;
}

#define SEQ_GEQ(a, b) ((__s32)((a) - (b)) >= 0)
#define SEQ_GT(a, b) ((__s32)((a) - (b)) > 0)

/* What the parser found. */
struct pkt {
	struct fp_key key;
	__u32 l4;	/* offset of the transport header */
	__u32 seq, ack, end;
	__u16 win;
	__u8 tcpflags;	/* TCP flags byte */
	__u8 thl;	/* transport header length */
	__u32 tot_len;	/* IP length (header included) */
	__be32 tos;	/* IPv4: TOS; IPv6: the first word (flow info) */
	__u8 ttl;	/* TTL or hop limit */
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

/* Parse the packet; 0: one the fast path may handle. */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p, int egress)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 l4;

	if (skb->vlan_present)
		return -1;
	if ((void *)(eth + 1) > end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end)
			return -1;
		if (ip->ihl != 5 || ip->version != 4)
			return -1;
		if (ip->frag_off & bpf_htons(0x3fff))
			return -1;
		if (!egress && ip->ttl <= 1)
			return -1;
		p->ttl = ip->ttl;
		p->key.family = 4;
		p->key.proto = ip->protocol;
		p->tot_len = bpf_ntohs(ip->tot_len);
		p->tos = ip->tos;
		__builtin_memcpy(p->key.src, &ip->saddr, 4);
		__builtin_memcpy(p->key.dst, &ip->daddr, 4);
		l4 = sizeof(*eth) + sizeof(*ip);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return -1;
		if (!egress && ip6->hop_limit <= 1)
			return -1;
		p->ttl = ip6->hop_limit;
		p->key.family = 6;
		p->key.proto = ip6->nexthdr;
		p->tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		p->tos = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		__builtin_memcpy(p->key.src, &ip6->saddr, 16);
		__builtin_memcpy(p->key.dst, &ip6->daddr, 16);
		l4 = sizeof(*eth) + sizeof(*ip6);
	} else {
		return -1;
	}
	p->l4 = l4;
	if (p->key.proto == IPPROTO_TCP) {
		struct tcphdr *th = data + l4;
		__u32 len, hl;

		if ((void *)(th + 1) > end)
			return -1;
		p->key.sport = th->source;
		p->key.dport = th->dest;
		p->tcpflags = ((__u8 *)th)[13];
		p->seq = bpf_ntohl(th->seq);
		p->ack = bpf_ntohl(th->ack_seq);
		p->win = bpf_ntohs(th->window);
		hl = th->doff * 4;
		p->thl = hl;
		/* Payload length: the IP length less both headers (a GSO
		 * packet's IP length is its first segment's, its total is in
		 * skb->len). */
		len = skb->len - l4;
		if (len < hl)
			return -1;
		p->end = p->seq + (len - hl);
	} else if (p->key.proto == IPPROTO_UDP) {
		struct udphdr *uh = data + l4;

		if ((void *)(uh + 1) > end)
			return -1;
		p->key.sport = uh->source;
		p->key.dport = uh->dest;
		p->thl = sizeof(*uh);
	} else {
		return -1;
	}
	return 0;
}

/* pf's window check (pf_tcp_track_full) on a packet from side `s`, and
 * its updates of the window data. 0: inside. */
static __always_inline int in_window(struct fp_window *f, __u8 s, struct pkt *p)
{
	struct fp_peer *src = &f->peer[s & 1];
	struct fp_peer *dst = &f->peer[(s & 1) ^ 1];
	__u8 sws = 0, dws = 0;
	__s32 ackskew;
	__u32 ack = p->ack;

	if ((src->wscale & 0x80) && (dst->wscale & 0x80)) {
		sws = src->wscale & 0x0f;
		dws = dst->wscale & 0x0f;
	}
	if (!(p->tcpflags & TH_ACK))
		return -1;
	ackskew = (__s32)(dst->seqlo - ack);
	if (!SEQ_GEQ(src->seqhi, p->end))
		return -1;
	if (!SEQ_GEQ(p->seq, src->seqlo - ((__u32)dst->max_win << dws)))
		return -1;
	if (ackskew < -MAXACKWINDOW)
		return -1;
	if (ackskew > (MAXACKWINDOW << sws))
		return -1;
	/* Updates, racing the other CPUs: a lost one leaves the window
	 * narrower, and pfd gets the packet. */
	if (src->max_win < p->win)
		src->max_win = p->win;
	if (SEQ_GT(p->end, src->seqlo))
		src->seqlo = p->end;
	{
		__u32 w = (__u32)p->win << sws;

		if (w == 0)
			w = 1;
		if (SEQ_GT(ack + w, dst->seqhi))
			dst->seqhi = ack + w;
	}
	return 0;
}

/* A packet outside flow `flow`'s window: take in pfd's window data for it
 * where it is further on (fp_hints), and check again. 0: inside. */
static __always_inline int window_hint(struct fp_window *f, __u32 flow, __u8 s, struct pkt *p)
{
	struct fp_window *h = bpf_map_lookup_elem(&fp_hints, &flow);
	int i;

	if (!h)
		return -1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (SEQ_GT(h->peer[i].seqlo, f->peer[i].seqlo))
			f->peer[i].seqlo = h->peer[i].seqlo;
		if (SEQ_GT(h->peer[i].seqhi, f->peer[i].seqhi))
			f->peer[i].seqhi = h->peer[i].seqhi;
		if (h->peer[i].max_win > f->peer[i].max_win)
			f->peer[i].max_win = h->peer[i].max_win;
	}
	bpf_map_delete_elem(&fp_hints, &flow);
	return in_window(f, s, p);
}

static __always_inline int csum_off(__u8 proto, __u32 l4)
{
	return proto == IPPROTO_TCP ? l4 + 16 : l4 + 6;
}

/* Rewrite an address (family 4: 4 bytes, 6: 16) at `off`. */
static __always_inline int set_addr(struct __sk_buff *skb, struct pkt *p, __u32 off,
				    __u8 *old, __u8 *new)
{
	__u32 l4c = csum_off(p->key.proto, p->l4);
	__u64 udp0 = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	__s64 diff;

	if (p->key.family == 4) {
		__be32 o, n;

		__builtin_memcpy(&o, old, 4);
		__builtin_memcpy(&n, new, 4);
		if (bpf_skb_store_bytes(skb, off, &n, 4, 0))
			return -1;
		if (bpf_l3_csum_replace(skb, ETH_HLEN + 10, o, n, 4))
			return -1;
		if (bpf_l4_csum_replace(skb, l4c, o, n, BPF_F_PSEUDO_HDR | udp0 | 4))
			return -1;
		return 0;
	}
	diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)new, 16, 0);
	if (diff < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, off, new, 16, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, l4c, 0, (__u32)diff, BPF_F_PSEUDO_HDR | udp0))
		return -1;
	return 0;
}

static __always_inline int set_port(struct __sk_buff *skb, struct pkt *p, __u32 off,
				    __be16 old, __be16 new)
{
	__u32 l4c = csum_off(p->key.proto, p->l4);
	__u64 udp0 = p->key.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (bpf_skb_store_bytes(skb, off, &new, 2, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, l4c, old, new, udp0 | 2))
		return -1;
	return 0;
}

static __always_inline int rewrite(struct __sk_buff *skb, struct pkt *p, struct fp_rw *rw)
{
	__u32 asrc, adst;

	if (p->key.family == 4) {
		asrc = ETH_HLEN + 12;
		adst = ETH_HLEN + 16;
	} else {
		asrc = ETH_HLEN + 8;
		adst = ETH_HLEN + 24;
	}
	if ((rw->flags & RW_SRC) && set_addr(skb, p, asrc, p->key.src, rw->src))
		return -1;
	if ((rw->flags & RW_DST) && set_addr(skb, p, adst, p->key.dst, rw->dst))
		return -1;
	if ((rw->flags & RW_SPORT) && set_port(skb, p, p->l4, p->key.sport, rw->sport))
		return -1;
	if ((rw->flags & RW_DPORT) && set_port(skb, p, p->l4 + 2, p->key.dport, rw->dport))
		return -1;
	return 0;
}

/* Does the IPv4 header sum right? (ip_rcv drops it otherwise.) */
static __always_inline int ipv4_csum_ok(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u16 *w = data + ETH_HLEN;
	__u32 sum = 0;
	int i;

	if ((void *)(w + 10) > end)
		return 0;
#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/* The priority ip_forward gives a packet with TOS `tos`
 * (rt_tos2priority: best effort, bulk, interactive, interactive bulk). */
static __always_inline __u32 tos_priority(__u8 tos)
{
	switch ((tos & 0x1e) >> 3) {
	case 1:
		return 2;
	case 2:
		return 6;
	case 3:
		return 4;
	}
	return 0;
}

/* Forwarding's TTL (hop limit) decrement, the IPv4 checksum kept. */
static __always_inline int ttl_down(struct __sk_buff *skb, struct pkt *p)
{
	__u8 ttl = p->ttl - 1;

	if (p->key.family == 4) {
		__be16 o = bpf_htons((__u16)p->ttl << 8);
		__be16 n = bpf_htons((__u16)ttl << 8);

		if (bpf_skb_store_bytes(skb, ETH_HLEN + 8, &ttl, 1, 0))
			return -1;
		return bpf_l3_csum_replace(skb, ETH_HLEN + 10, o, n, 2) ? -1 : 0;
	}
	return bpf_skb_store_bytes(skb, ETH_HLEN + 7, &ttl, 1, 0) ? -1 : 0;
}

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#define barrier() asm volatile("" ::: "memory")

/* The next hop entry `rw`'s route cache has for a packet `len` long with
 * TOS `tos` under route generation `gen`: 0, `nh` filled; -1: none. The
 * generation is read again after the copy: another CPU filling the cache
 * meanwhile (fib_store) makes it 0 first. */
static __always_inline int fib_cached(struct fp_rw *rw, __u32 gen, __u32 len, __be32 tos,
				      struct bpf_redir_neigh *nh)
{
	__u32 g = READ_ONCE(rw->fib_gen);

	if (!gen || g != gen || len > rw->fib_len || rw->fib_tos != tos)
		return -1;
	nh->nh_family = rw->fib_family;
	__builtin_memcpy(nh->ipv6_nh, rw->fib_nh, 16);
	barrier();
	return READ_ONCE(rw->fib_gen) == g ? 0 : -1;
}

/* Remember a lookup's answer (next hop `nh`) in `rw`'s route cache. The
 * generation was read before the lookup: a route change the lookup did
 * not see yet moves it on after (pfd hears of it only then). */
static __always_inline void fib_store(struct fp_rw *rw, __u32 gen, __u32 len, __be32 tos,
				      struct bpf_redir_neigh *nh)
{
	if (!gen)
		return;
	WRITE_ONCE(rw->fib_gen, 0);
	barrier();
	rw->fib_tos = tos;
	rw->fib_len = len;
	rw->fib_family = nh->nh_family;
	__builtin_memcpy(rw->fib_nh, nh->ipv6_nh, 16);
	barrier();
	WRITE_ONCE(rw->fib_gen, gen);
}

/* Forward a packet of flow entry `rw` (rewritten at ingress already)
 * as the stack would, when the kernel's route for it is the one pf's
 * `out` pass was for: TC_ACT_REDIRECT. TC_ACT_OK: the stack forwards it
 * (and pfd's hooks see it as before). */
static __always_inline int forward(struct __sk_buff *skb, struct pkt *p, struct fp_rw *rw,
				   __u32 conf, __u64 segs)
{
	struct bpf_fib_lookup fib = {};
	struct bpf_redir_neigh nh = {};
	__u32 l3 = p->l4 - ETH_HLEN, len, mark = rw->mark, k = CONF_GEN, gen, *gp;
	__u8 *dst = (rw->flags & RW_DST) ? rw->dst : p->key.dst;
	long rc;

	if (!(conf & CONF_FORWARD) || !rw->oif)
		return TC_ACT_OK;
	/* Not for this host's MAC, or back out where it came from (the
	 * stack sends a redirect): the stack's business. */
	if (skb->pkt_type != PACKET_HOST || rw->oif == skb->ifindex)
		goto stack;
	/* The length each packet on the wire will have. */
	if (skb->gso_size)
		len = l3 + p->thl + skb->gso_size;
	else if (p->tot_len > skb->len - ETH_HLEN || p->tot_len < l3 + p->thl)
		goto stack;
	else
		len = p->tot_len;
	if (len > 0xffff)
		goto stack;
	if (p->key.family == 4 && !ipv4_csum_ok(skb))
		goto stack;
	gp = bpf_map_lookup_elem(&fp_conf, &k);
	gen = gp ? READ_ONCE(*gp) : 0;
	if (!fib_cached(rw, gen, len, p->tos, &nh))
		goto out;
	fib.l4_protocol = p->key.proto;
	fib.sport = p->key.sport;
	fib.dport = (rw->flags & RW_DPORT) ? rw->dport : p->key.dport;
	fib.tot_len = len;
	fib.ifindex = skb->ifindex;
	if (p->key.family == 4) {
		fib.family = AF_INET;
		fib.tos = p->tos;
		__builtin_memcpy(&fib.ipv4_src, p->key.src, 4);
		__builtin_memcpy(&fib.ipv4_dst, dst, 4);
	} else {
		fib.family = AF_INET6;
		fib.flowinfo = p->tos;
		__builtin_memcpy(fib.ipv6_src, p->key.src, 16);
		__builtin_memcpy(fib.ipv6_dst, dst, 16);
	}
	/* params->mark shares its place with smac (an output). */
	__builtin_memcpy(fib.smac, &mark, 4);
	rc = bpf_fib_lookup(skb, &fib, sizeof(fib),
			    BPF_FIB_LOOKUP_MARK | BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS || fib.ifindex != rw->oif)
		goto stack;
	/* The next hop: the gateway, or the destination on the link. */
	nh.nh_family = fib.family;
	if (fib.family == AF_INET)
		nh.ipv4_nh = fib.ipv4_dst;
	else
		__builtin_memcpy(nh.ipv6_nh, fib.ipv6_dst, 16);
	fib_store(rw, gen, len, p->tos, &nh);
out:
	if (ttl_down(skb, p))
		return TC_ACT_SHOT;
	if (p->key.family == 4)
		skb->priority = tos_priority(p->tos);
	stat_add(ST_FORWARD, segs);
	return bpf_redirect_neigh(rw->oif, &nh, sizeof(nh), 0);
stack:
	stat_add(ST_STACK, segs);
	return TC_ACT_OK;
}

SEC("classifier")
int fp_ingress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct fp_rw *rw;
	struct fp_flow *f;
	struct fp_count *c;
	__u64 segs, bytes;
	__u32 k = 0, conf, *cp;

	if (parse(skb, &p, 0))
		return TC_ACT_OK;
	p.key.ifindex = skb->ifindex;
	p.key.hook = HOOK_INGRESS;
	rw = bpf_map_lookup_elem(&fp_keys, &p.key);
	if (!rw)
		return TC_ACT_OK;
	cp = bpf_map_lookup_elem(&fp_conf, &k);
	conf = cp ? *cp : 0;
	if ((conf & CONF_HELD) && bpf_map_lookup_elem(&fp_held, &p.key.ifindex))
		return TC_ACT_OK;
	if (p.key.proto == IPPROTO_TCP && (p.tcpflags & (TH_SYN | TH_FIN | TH_RST))) {
		stat_add(ST_FLAGS, 1);
		return TC_ACT_OK;
	}
	f = bpf_map_lookup_elem(&fp_flows, &rw->flow);
	if (!f)
		return TC_ACT_OK;
	if (p.key.proto == IPPROTO_TCP && in_window(&f->w, rw->side, &p) &&
	    window_hint(&f->w, rw->flow, rw->side, &p)) {
		stat_add(ST_WINDOW, 1);
		return TC_ACT_OK;
	}
	c = &f->c;
	if (rw->flags && rewrite(skb, &p, rw))
		return TC_ACT_SHOT;
	segs = skb->gso_segs ? skb->gso_segs : 1;
	bytes = skb->len - ETH_HLEN;
	if (segs > 1)
		/* Each segment has its headers (pf counts IP lengths). */
		bytes += (segs - 1) * (p.l4 - ETH_HLEN + (p.key.proto == IPPROTO_TCP ? 32 : 8));
	__sync_fetch_and_add(&c->packets[rw->side & 1], segs);
	__sync_fetch_and_add(&c->bytes[rw->side & 1], bytes);
	/* CLOCK_MONOTONIC_COARSE: behind pfd's clock by a tick at most. */
	c->last_ns = bpf_ktime_get_coarse_ns();
	skb->mark = rw->mark;
	stat_add(ST_FAST, segs);
	stat_add(ST_BYTES, bytes);
	return forward(skb, &p, rw, conf, segs);
}

SEC("classifier")
int fp_egress(struct __sk_buff *skb)
{
	struct pkt p = {};
	struct fp_rw *rw;
	__u32 code = skb->mark & CODE_MASK;

	if (!(skb->mark & DONE_BIT) || code == 0 || code == DEFER_CODE)
		return TC_ACT_OK;
	if (parse(skb, &p, 1))
		return TC_ACT_OK;
	p.key.ifindex = skb->ifindex;
	p.key.hook = HOOK_EGRESS;
	rw = bpf_map_lookup_elem(&fp_keys, &p.key);
	if (!rw)
		return TC_ACT_OK;
	if (rewrite(skb, &p, rw))
		return TC_ACT_SHOT;
	stat_add(ST_EGRESS, 1);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
