//! What gets built: the build context sent to the engine (and, later, runtime detection and generated Dockerfiles).

pub mod context;
