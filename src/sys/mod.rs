//! Kernel access that needs raw system calls; the only home of `unsafe`.

pub mod timerfd;
