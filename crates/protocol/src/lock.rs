//! Taking a `std::sync::Mutex` so that one panic does not become a panic in every later caller.
//!
//! A mutex is poisoned when a thread panics while holding it, and from then on `Mutex::lock`
//! returns an error to everyone. The gateway's mutexes guard small tables (pending requests,
//! sessions, pooled connections) whose critical sections leave them consistent at every step,
//! so the data behind a poisoned lock is still good, and refusing it would turn one failed
//! request into a gateway that fails every request. One definition of that rule rather than a
//! copy per crate; it lives in `protocol` because every crate depends on it (and it does no I/O).

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the data if a panicking thread poisoned it.
///
/// Only for mutexes whose critical sections never leave the data half-updated: that is what
/// makes the recovered data safe to use.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_gives_its_data() {
        let m = std::sync::Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut v = m2.lock().expect("not yet poisoned");
            v.push(2);
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        lock(&m).push(3);
        assert_eq!(*lock(&m), [1, 2, 3]);
    }
}
