// SPDX-License-Identifier: MIT OR GPL-2.0
/* porthole monitor: who connected to and who served local TCP services,
 * attributed to processes at the only moments the process is known, from
 * one stable tracepoint (no kprobes, no fentry, no syscall tracepoints:
 * attaching any of those flags every task on the machine for the syscall
 * tracing path, which put 7-11 points on a loaded workload's median
 * latency here).
 *
 * - tp_btf/inet_sock_set_state
 *   * CLOSE -> SYN_SENT runs inside connect(), in the client's task: the
 *     client's pid, uid, comm and start time are stashed by socket cookie.
 *   * SYN_SENT -> ESTABLISHED: the source port is now assigned, so the
 *     stashed client and the full 4-tuple are emitted together (the pid of
 *     this softirq context is NOT used: on loopback it can be anyone's).
 *     The stash stays, marked as sent, until the socket's close() or
 *     shutdown(), which then needs no record: the recorder knows the
 *     socket's process from this one.
 *   * -> LISTEN runs inside listen(): the listener's owner, and its
 *     IPV6_V6ONLY flag (a bitfield, read with CO-RE bitfield relocations).
 *   * LISTEN -> CLOSE: a listener went away.
 *   * any other state -> CLOSE: a connection end is done. Its bytes
 *     (tcp_info's tcpi_bytes_*), retransmission state and owner uid are
 *     final here and are emitted with the cookie, so no sock_diag destroy
 *     subscription is needed: that broadcast queues kernel work for every
 *     socket that closes, on the closing task's CPU.
 *   * SYN_RECV -> ESTABLISHED: a server end began (softirq: no pid); its
 *     cookie and start are emitted -- unless its peer has a loopback
 *     address: that client is a socket of the same namespace, whose
 *     `connected` record, just sent, carries the same 4-tuple reversed
 *     and the connection's start, and the recorder takes the server end's
 *     start from it. A socket that called connect() gets here too after a
 *     simultaneous open (SYN_SENT -> SYN_RECV): it is emitted as
 *     connected, with its stashed client.
 *   * ESTABLISHED -> FIN_WAIT1 and CLOSE_WAIT -> LAST_ACK are made only by
 *     close() or shutdown(), so they run in the task of the process that
 *     holds the socket: its identity is emitted with the cookie. For an
 *     accepted socket that is the server process (a server end reset
 *     before its process closes it never gets here; the recorder then
 *     names the listener's owner). A socket whose `connected` record went
 *     out is not emitted again.
 *
 * A local connection over loopback so makes four records (connected, the
 * server end's closing, two closed) where it made six: each costs about
 * a fifth of a microsecond inside the workload's own connect, accept or
 * close (BENCHMARKS.md). Keeping the closer or the server end's start on
 * the socket until its `closed` record, in socket-local storage or a
 * hash, cost more than the records it saved, measured there.
 *
 * Every event goes to one ring buffer; a full ring buffer is counted in
 * `ring_drops`, never silent. When `recorded_netns` is set (the loader
 * writes it), sockets of other network namespaces are ignored in the
 * kernel rather than shipped to the recorder to be dropped there. */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12

#define PF_KTHREAD 0x00200000

#define TCP_FIN_WAIT1 4
#define TCP_LAST_ACK 9

#define EVENT_CONNECTED 1
/* 2 was "accepted", from the syscall tracepoints this object no longer has */
#define EVENT_LISTEN 3
#define EVENT_LISTEN_CLOSED 4
#define EVENT_CLOSED 5
#define EVENT_SERVER_ESTABLISHED 6
#define EVENT_CLOSING 7

/* The network namespace inode to record, 0 for every namespace. */
volatile const __u32 recorded_netns = 0;

/* Wire layout shared with src/inventory/ebpf.rs (128 bytes). */
struct event {
	__u64 at_ns;            /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cookie;           /* socket cookie */
	__u64 start_boottime;   /* process start, ns since boot */
	__u32 tgid;
	__u32 uid;
	__u32 netns;            /* network namespace inode */
	__u16 family;
	__u16 local_port;       /* host byte order */
	__u16 remote_port;      /* host byte order */
	__u8 kind;
	__u8 old_state;         /* closed: the state the socket left */
	__u8 local_addr[16];    /* IPv4 in the first 4 bytes */
	union {
		__u8 remote_addr[16];
		/* listen only (no peer): the device it is bound to
		 * (SO_BINDTODEVICE), 0 for none */
		__u32 bound_dev_if;
	};
	char comm[16];
	/* closed only: tcp_info's counters at the close */
	__u8 retransmits;
	__u8 probes;
	__u8 has_bytes_sent;    /* 0 before Linux 4.19 */
	__u8 ipv6only;          /* listen, AF_INET6: IPV6_V6ONLY */
	__u64 bytes_acked;
	__u64 bytes_received;
	__u64 bytes_sent;
	__u64 bytes_retrans;
};
_Static_assert(sizeof(struct event) == 128, "struct event is 128 bytes");
_Static_assert(__builtin_offsetof(struct event, bytes_acked) == 96, "counters start at 96");

/* Who called connect() on a socket, from connect() to its close(). */
struct client {
	__u64 start_boottime;
	__u32 tgid;
	__u32 uid;
	char comm[16];
	__u8 connected;         /* its `connected` record went out */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* An LRU: a stash whose socket's CLOSE was never seen (a missed run) is
 * evicted in the end, oldest first. With more client connections open
 * than it holds, the oldest ones' stashes go: their close() is then
 * emitted as before, and names the same process. Only a connect() still
 * in flight when its stash is evicted loses its client to whoever closes
 * the socket. The loader sizes it (`STASH_ENTRIES` in ebpf.rs): a small
 * map keeps every close()'s lookup in cache, about 0.1 us per connection
 * against 65,536 entries (BENCHMARKS.md). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct client);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ring_drops SEC(".maps");

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&ring_drops, &zero);
	if (count)
		*count += 1;
}

/* The calling process: pid, uid, start time and the process's name (not
 * the calling thread's), read through the task's BTF pointer. */
static __always_inline void fill_current(struct event *event)
{
	struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
	event->tgid = bpf_get_current_pid_tgid() >> 32;
	event->uid = (__u32)bpf_get_current_uid_gid();
	event->start_boottime = leader->start_boottime;
	__builtin_memcpy(event->comm, leader->comm, sizeof(event->comm));
}

/* Addresses, ports and namespace of a socket, read through its BTF
 * pointer (plain loads, no bpf_probe_read_kernel() call per field). The
 * local port is read from inet_sport: skc_num is already zero when a
 * socket reaches CLOSE. */
static __always_inline void fill_socket(struct event *event, struct tcp_sock *tp)
{
	struct sock_common *common = &tp->inet_conn.icsk_inet.sk.__sk_common;
	__u16 family = common->skc_family;
	__u16 sport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	event->family = family;
	event->local_port = sport ? sport : common->skc_num;
	event->remote_port = bpf_ntohs(common->skc_dport);
	event->netns = common->skc_net.net->ns.inum;
	if (family == AF_INET) {
		__be32 local = common->skc_rcv_saddr;
		__be32 remote = common->skc_daddr;
		__builtin_memcpy(event->local_addr, &local, 4);
		__builtin_memcpy(event->remote_addr, &remote, 4);
	} else {
		__builtin_memcpy(event->local_addr, &common->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(event->remote_addr, &common->skc_v6_daddr, 16);
	}
}

/* Whether the socket's peer has a loopback address (127.0.0.0/8, ::1 or
 * ::ffff:127.0.0.0/104): the same test as the recorder's
 * `loopback_peer` in src/monitor/mod.rs, which must agree with it. */
static __always_inline bool peer_on_loopback(struct sock_common *common, __u16 family)
{
	if (family == AF_INET)
		return (bpf_ntohl(common->skc_daddr) >> 24) == 127;
	__u32 word0 = common->skc_v6_daddr.in6_u.u6_addr32[0];
	__u32 word1 = common->skc_v6_daddr.in6_u.u6_addr32[1];
	__u32 word2 = common->skc_v6_daddr.in6_u.u6_addr32[2];
	__u32 word3 = common->skc_v6_daddr.in6_u.u6_addr32[3];
	if (word0 || word1)
		return 0;
	if (word2 == 0)
		return word3 == bpf_htonl(1);
	return word2 == bpf_htonl(0xffff) && (bpf_ntohl(word3) >> 24) == 127;
}

/* Whether a socket can have a connect() stash. An accepted socket (a
 * server end) is a copy of its listener and keeps the listener's nonzero
 * listen() backlog; a socket that called connect() never listened, so
 * its backlog is 0. Skipping the stash map for server ends takes a hash
 * lookup off every server close(). A server end of a listen(fd, 0)
 * listener has 0 too and is looked up (and missed) as before; a socket
 * that listened, was shut down and then connected is not looked up at
 * its close: its `closing` record then goes out (the recorder ignores it
 * for a client already named) and its stash is left to the LRU. */
static __always_inline bool may_have_stash(struct sock *sk)
{
	return sk->sk_max_ack_backlog == 0;
}

static __always_inline struct event *reserve(__u8 kind, __u64 cookie)
{
	struct event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_drop();
		return 0;
	}
	__builtin_memset(event, 0, sizeof(*event));
	event->kind = kind;
	event->cookie = cookie;
	event->at_ns = bpf_ktime_get_ns();
	return event;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, struct sock *sk, int oldstate, int newstate)
{
	/* A connection makes about ten transitions; those into states nothing
	 * here needs (FIN_WAIT2, CLOSE_WAIT, SYN_RECV, ...) end at this first
	 * test, reading nothing. */
	if (newstate != TCP_SYN_SENT && newstate != TCP_ESTABLISHED &&
	    newstate != TCP_CLOSE && newstate != TCP_LISTEN &&
	    newstate != TCP_FIN_WAIT1 && newstate != TCP_LAST_ACK)
		return 0;
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (recorded_netns && sk->__sk_common.skc_net.net->ns.inum != recorded_netns)
		return 0;

	if (newstate == TCP_SYN_SENT) {
		/* Inside connect(): the current task is the client. */
		__u64 cookie = bpf_get_socket_cookie(sk);
		struct client client = {};
		struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
		client.tgid = bpf_get_current_pid_tgid() >> 32;
		client.uid = (__u32)bpf_get_current_uid_gid();
		client.start_boottime = leader->start_boottime;
		__builtin_memcpy(client.comm, leader->comm, sizeof(client.comm));
		bpf_map_update_elem(&connecting, &cookie, &client, BPF_ANY);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		__u64 cookie = bpf_get_socket_cookie(sk);
		struct client *client = bpf_map_lookup_elem(&connecting, &cookie);
		if (!client)
			return 0;
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		struct event *event = tp ? reserve(EVENT_CONNECTED, cookie) : 0;
		if (event) {
			event->tgid = client->tgid;
			event->uid = client->uid;
			event->start_boottime = client->start_boottime;
			__builtin_memcpy(event->comm, client->comm, sizeof(event->comm));
			fill_socket(event, tp);
			bpf_ringbuf_submit(event, 0);
			client->connected = 1;
		} else {
			/* Lost: its close() will name it. */
			bpf_map_delete_elem(&connecting, &cookie);
		}
		return 0;
	}
	if (newstate == TCP_CLOSE && oldstate != TCP_LISTEN) {
		__u64 cookie = bpf_get_socket_cookie(sk);
		if ((oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV ||
		     oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT) &&
		    may_have_stash(sk))
			/* Refused or timed out (a simultaneous open too, from
			 * SYN_RECV), or reset before any close(): forget the
			 * stashed client. A server end has none and is not
			 * looked up. From the other states close() came first
			 * and took it. */
			bpf_map_delete_elem(&connecting, &cookie);
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		struct event *event = tp ? reserve(EVENT_CLOSED, cookie) : 0;
		if (event) {
			fill_socket(event, tp);
			event->old_state = oldstate;
			event->uid = sk->sk_uid.val;
			event->retransmits = tp->inet_conn.icsk_retransmits;
			event->probes = tp->inet_conn.icsk_probes_out;
			event->bytes_acked = tp->bytes_acked;
			event->bytes_received = tp->bytes_received;
			event->bytes_retrans = tp->bytes_retrans;
			/* Linux 4.19; every kernel with tp_btf (5.5) has it. */
			event->bytes_sent = tp->bytes_sent;
			event->has_bytes_sent = 1;
			bpf_ringbuf_submit(event, 0);
		}
		return 0;
	}
	if (newstate == TCP_ESTABLISHED &&
	    (oldstate == TCP_SYN_RECV || oldstate == TCP_NEW_SYN_RECV)) {
		__u64 cookie = bpf_get_socket_cookie(sk);
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		/* A socket that called connect() and reaches ESTABLISHED through
		 * SYN_RECV met a SYN from its peer while its own was in flight:
		 * a simultaneous open (or a socket connected to itself). It is
		 * a client, named by its stash; a server end never has one and
		 * is not looked up. */
		struct client *client = oldstate == TCP_SYN_RECV && may_have_stash(sk)
						? bpf_map_lookup_elem(&connecting, &cookie)
						: 0;
		if (!client && peer_on_loopback(&sk->__sk_common, family))
			return 0;
		struct event *event =
			tp ? reserve(client ? EVENT_CONNECTED : EVENT_SERVER_ESTABLISHED, cookie) : 0;
		if (event) {
			if (client) {
				event->tgid = client->tgid;
				event->uid = client->uid;
				event->start_boottime = client->start_boottime;
				__builtin_memcpy(event->comm, client->comm, sizeof(event->comm));
			}
			fill_socket(event, tp);
			bpf_ringbuf_submit(event, 0);
			if (client)
				client->connected = 1;
		} else if (client) {
			bpf_map_delete_elem(&connecting, &cookie);
		}
		return 0;
	}
	if ((newstate == TCP_FIN_WAIT1 && oldstate == TCP_ESTABLISHED) ||
	    (newstate == TCP_LAST_ACK && oldstate == TCP_CLOSE_WAIT)) {
		/* Inside close() or shutdown(): the current task holds it --
		 * unless it is a kernel thread doing the last put of a file
		 * nobody holds any more (an io_uring ring torn down with the
		 * socket in its fixed-file table, a delayed fput): no process
		 * to name, the recorder then names the listener's owner. A
		 * client its `connected` record named needs no record: the
		 * recorder names a client by its connect(), not its close(). */
		__u64 cookie = bpf_get_socket_cookie(sk);
		struct client *client =
			may_have_stash(sk) ? bpf_map_lookup_elem(&connecting, &cookie) : 0;
		if (client) {
			__u8 connected = client->connected;
			bpf_map_delete_elem(&connecting, &cookie);
			if (connected)
				return 0;
		}
		if (bpf_get_current_task_btf()->flags & PF_KTHREAD)
			return 0;
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		struct event *event = tp ? reserve(EVENT_CLOSING, cookie) : 0;
		if (event) {
			fill_current(event);
			fill_socket(event, tp);
			bpf_ringbuf_submit(event, 0);
		}
		return 0;
	}
	if (newstate == TCP_LISTEN || (oldstate == TCP_LISTEN && newstate == TCP_CLOSE)) {
		__u8 kind = newstate == TCP_LISTEN ? EVENT_LISTEN : EVENT_LISTEN_CLOSED;
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
		struct event *event = tp ? reserve(kind, bpf_get_socket_cookie(sk)) : 0;
		if (event) {
			fill_current(event);
			fill_socket(event, tp);
			/* Final by listen(): the kernel refuses to change it on a
			 * bound socket. An alert judges [::] by it. */
			if (family == AF_INET6)
				event->ipv6only =
					BPF_CORE_READ_BITFIELD(&sk->__sk_common, skc_ipv6only);
			/* A listener bound to lo is reached from this host only,
			 * whatever its address. */
			if (kind == EVENT_LISTEN)
				event->bound_dev_if = sk->__sk_common.skc_bound_dev_if;
			bpf_ringbuf_submit(event, 0);
		}
	}
	return 0;
}
