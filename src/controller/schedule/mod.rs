//! When work runs: one [`worker`] per project takes its queue under the deploy lease, the [`reaper`] stops
//! a deployment past its phase's time limit, and [`tasks`] keeps the stored addresses of runtimes whose
//! addresses move in step with what the runtime reports.

mod reaper;
mod tasks;
mod worker;
