//! Stand-ins for the items of the `mpi` feature, compiled only for docs.rs, which has no MPI
//! library to build rsmpi with: so that the published docs show the whole API, each MPI-only
//! item marked as such. Nothing here runs; with the `mpi` feature the real items take their
//! place.

#![allow(missing_docs, unused_variables)]

use crate::api::Role;
#[allow(unused_imports)] // for the links of `init_in.md`
use crate::{init, shutdown};

/// The MPI bindings (rsmpi 0.8, <https://docs.rs/mpi/0.8>) unidist runs on, for [`init_in`]: with
/// the `mpi` feature this is rsmpi itself, re-exported. docs.rs has no MPI library, so this page
/// shows a stand-in with the one type `init_in` names.
pub mod mpi {
    /// rsmpi's `topology` module (stand-in).
    pub mod topology {
        /// rsmpi's communicator (stand-in): see
        /// <https://docs.rs/mpi/0.8/mpi/topology/struct.SimpleCommunicator.html>.
        pub struct SimpleCommunicator(());
    }
}

#[doc = include_str!("init_in.md")]
#[doc(cfg(feature = "mpi"))]
pub fn init_in(communicator: &mpi::topology::SimpleCommunicator) -> Role {
    unreachable!("a stand-in for docs.rs: build with the `mpi` feature")
}
