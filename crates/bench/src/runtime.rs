//! The tokio runtime of a benchmark process: one thread means a current-thread runtime (no
//! cross-thread wake-ups to measure), more means a multi-thread runtime of that size.

pub fn build(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}
