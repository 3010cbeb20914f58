//! The one way the crate takes a std lock: a lock a panicking holder poisoned is taken anyway.
//!
//! Every value behind these locks (maps of running work, counters, tallies) is changed by single
//! statements, so it is whole even after a holder panicked; refusing it would turn one bug into a
//! gateway that panics on every later request or webhook. The sections stay short and never cross an
//! `.await`, which is why these are std locks and not tokio ones.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}
