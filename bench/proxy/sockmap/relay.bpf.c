// A kernel-only relay for the proxy throughput experiment (see run.sh):
// each socket of the pair is stored in a SOCKHASH under the cookie of the
// other, and the stream verdict program redirects what one receives to the
// other's egress, so no process wakes for the data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
    __uint(type, BPF_MAP_TYPE_SOCKHASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, __u64);
} peers SEC(".maps");

// Runs for every skb received on a socket of the map: sends it out of the
// peer socket, stored under this socket's cookie.
SEC("sk_skb/stream_verdict")
int relay(struct __sk_buff *skb)
{
    __u64 key = bpf_get_socket_cookie(skb);
    return bpf_sk_redirect_hash(skb, &peers, &key, 0);
}
char LICENSE[] SEC("license") = "GPL";
