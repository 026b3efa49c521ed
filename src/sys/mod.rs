//! Raw system calls that the safe crates do not wrap; the only home of
//! `unsafe` in porthole. Each block states why it is sound.

pub mod allocator;
pub mod bpf_cgroup;
pub mod clock;
pub mod executable;
pub mod fds;
pub mod identity;
pub mod input_file;
pub mod interfaces;
pub mod mappings;
pub mod netlink;
pub mod netns;
pub mod nftables;
pub mod poll;
pub mod signal;
pub mod sysctl;
pub mod terminal;
pub mod timerfd;
pub mod users;
