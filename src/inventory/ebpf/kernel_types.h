/* The few kernel types porthole's eBPF programs read, declared with
 * preserve_access_index so libbpf-style CO-RE relocations fix every field
 * offset against the running kernel's BTF at load time. Only names and
 * types matter; the order and the missing fields do not.
 *
 * A hand-written subset instead of a bpftool-generated vmlinux.h keeps the
 * committed object reproducible: it does not depend on the kernel of the
 * machine that compiled it. */
#ifndef PORTHOLE_KERNEL_TYPES_H
#define PORTHOLE_KERNEL_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_RINGBUF = 27,
};

#define BPF_ANY 0

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

typedef struct {
	__s64 counter;
} atomic64_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	/* A bitfield: read with BPF_CORE_READ_BITFIELD, whose relocations
	 * give its byte offset and shifts in the running kernel. */
	unsigned char skc_ipv6only:1;
	int skc_bound_dev_if;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	atomic64_t skc_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	__u32 val;
} kuid_t;

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
	kuid_t sk_uid;
	__u32 sk_max_ack_backlog;	/* listen()'s backlog, inherited by accepted sockets */
} __attribute__((preserve_access_index));

struct inet_sock {
	struct sock sk;
	__be16 inet_sport;
} __attribute__((preserve_access_index));

struct inet_connection_sock {
	struct inet_sock icsk_inet;
	__u8 icsk_retransmits;
	__u8 icsk_probes_out;
} __attribute__((preserve_access_index));

/* The counters tcp_info reports as tcpi_bytes_*; bytes_sent since 4.19. */
struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u64 bytes_sent;
	__u64 bytes_received;
	__u64 bytes_acked;
	__u64 bytes_retrans;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int flags;	/* PF_KTHREAD */
	int pid;
	int tgid;
	__u64 start_boottime;
	struct task_struct *group_leader;
	char comm[16];
} __attribute__((preserve_access_index));

#endif
