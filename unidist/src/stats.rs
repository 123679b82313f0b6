//! Counters of the objects and bytes each rank sent to and received from each peer.

use serde::{Deserialize, Serialize};

/// What one rank sent to and received from one peer: objects (values moved between ranks, as
/// results, inputs or `put` values) and their encoded bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTransfer {
    /// The peer's rank.
    pub peer: usize,
    /// Objects sent to the peer.
    pub objects_sent: u64,
    /// Bytes of those objects.
    pub bytes_sent: u64,
    /// Objects received from the peer.
    pub objects_received: u64,
    /// Bytes of those objects.
    pub bytes_received: u64,
}

/// The objects one rank holds in its object store, and their encoded bytes.
///
/// Objects are freed on every rank that holds them once their last ref is dropped and no
/// submitted task needs them; these counts show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// The rank.
    pub rank: usize,
    /// Objects held (values and errors, originals and copies).
    pub objects: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

/// What a rank reports when the root asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RankStats {
    pub(crate) transfer: TransferStats,
    pub(crate) memory: MemoryStats,
}

/// The transfer counters of one rank, one entry per peer (every other rank).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferStats {
    /// The rank these counters belong to.
    pub rank: usize,
    /// One entry per other rank, by rank.
    pub peers: Vec<PeerTransfer>,
}

impl TransferStats {
    pub(crate) fn new(rank: usize, size: usize) -> TransferStats {
        let peers = (0..size).map(|peer| PeerTransfer { peer, ..Default::default() }).collect();
        TransferStats { rank, peers }
    }

    pub(crate) fn sent(&mut self, peer: usize, bytes: usize) {
        let p = &mut self.peers[peer];
        p.objects_sent += 1;
        p.bytes_sent += bytes as u64;
    }

    pub(crate) fn received(&mut self, peer: usize, bytes: usize) {
        let p = &mut self.peers[peer];
        p.objects_received += 1;
        p.bytes_received += bytes as u64;
    }

    /// The counters towards one peer.
    pub fn peer(&self, peer: usize) -> PeerTransfer {
        let found = self.peers.iter().find(|p| p.peer == peer);
        found.copied().unwrap_or(PeerTransfer { peer, ..Default::default() })
    }

    /// Drops the entry of the rank itself, which never moves anything.
    pub(crate) fn without_self(mut self) -> TransferStats {
        let rank = self.rank;
        self.peers.retain(|p| p.peer != rank);
        self
    }
}
