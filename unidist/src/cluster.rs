//! The hosts of the job: the ranks on each and its CPUs, learned once at `init` (every rank
//! reports its host name and CPU count, and every rank gets the whole table).

/// One host of the job, as [`cluster_resources`](crate::cluster_resources) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostResources {
    /// The host's name, as `gethostname` gives it on its ranks.
    pub host: String,
    /// The ranks on this host, in order (rank 0, the root, is on the first host listed).
    pub ranks: Vec<usize>,
    /// The workers among them: every rank but the root.
    pub workers: Vec<usize>,
    /// The CPUs the job's processes may use on this host (`available_parallelism`, the largest
    /// any of its ranks sees).
    pub cpus: usize,
    /// Tasks this host's workers run at once: their task slots together (see
    /// `UNIDIST_WORKER_THREADS`).
    pub slots: usize,
}

/// What one rank tells the others of its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RankHost {
    pub(crate) host: String,
    pub(crate) cpus: usize,
}

/// The bytes of a [`RankHost`] on the wire: 8 bytes of CPU count, then the name, NUL-padded.
/// Linux host names have at most 64 bytes.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) const RECORD_BYTES: usize = 8 + 248;

impl RankHost {
    /// This process's host, named `configured` if given (`UNIDIST_HOST_NAME`).
    pub(crate) fn here(configured: Option<&str>) -> RankHost {
        RankHost {
            host: configured.map_or_else(host_name, str::to_string),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn to_record(&self) -> [u8; RECORD_BYTES] {
        let mut record = [0_u8; RECORD_BYTES];
        record[..8].copy_from_slice(&(self.cpus as u64).to_le_bytes());
        let name = self.host.as_bytes();
        let n = name.len().min(RECORD_BYTES - 8);
        record[8..8 + n].copy_from_slice(&name[..n]);
        record
    }

    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub(crate) fn from_record(record: &[u8]) -> RankHost {
        let cpus = u64::from_le_bytes(record[..8].try_into().expect("8 bytes")) as usize;
        let name = &record[8..];
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        RankHost { host: String::from_utf8_lossy(&name[..end]).into_owned(), cpus }
    }
}

/// The system's name of this process's host (`"localhost"` if it gives none).
pub(crate) fn host_name() -> String {
    let mut buffer = [0_u8; 256];
    // SAFETY: the buffer is writable for its whole length, which is passed.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if status == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// Task slots of each worker of `host`: `threads` if given, else the host's CPUs divided by its
/// ranks (the root's included), at least 1.
pub(crate) fn slots_per_worker(host: &HostResources, threads: Option<usize>) -> usize {
    threads.unwrap_or(host.cpus / host.ranks.len().max(1)).max(1)
}

/// The task slots of worker `rank`.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn slots_of(hosts: &[HostResources], rank: usize, threads: Option<usize>) -> usize {
    hosts.iter().find(|h| h.ranks.contains(&rank)).map_or(1, |h| slots_per_worker(h, threads))
}

/// True if the host of `rank` has a CPU for each of its ranks: its threads may then poll while
/// they wait (see `event_loop::Drive`) without taking a core another rank needs.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn core_per_rank(hosts: &[HostResources], rank: usize) -> bool {
    hosts.iter().find(|h| h.ranks.contains(&rank)).is_some_and(|h| h.ranks.len() <= h.cpus)
}

/// The host name of every rank, by rank.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn host_by_rank(hosts: &[HostResources], size: usize) -> Vec<String> {
    let mut names = vec![String::new(); size];
    for host in hosts {
        for &rank in &host.ranks {
            names[rank] = host.host.clone();
        }
    }
    names
}

/// Groups the ranks (`ranks[r]` is rank `r`'s host) by host, hosts in the order of their first
/// rank; `threads` is `UNIDIST_WORKER_THREADS` (see [`slots_per_worker`]).
pub(crate) fn hosts(ranks: &[RankHost], threads: Option<usize>) -> Vec<HostResources> {
    let mut hosts: Vec<HostResources> = Vec::new();
    for (rank, here) in ranks.iter().enumerate() {
        let index = match hosts.iter().position(|h| h.host == here.host) {
            Some(i) => i,
            None => {
                hosts.push(HostResources {
                    host: here.host.clone(),
                    ranks: Vec::new(),
                    workers: Vec::new(),
                    cpus: 0,
                    slots: 0,
                });
                hosts.len() - 1
            }
        };
        let host = &mut hosts[index];
        host.ranks.push(rank);
        if rank != 0 {
            host.workers.push(rank);
        }
        host.cpus = host.cpus.max(here.cpus);
    }
    for host in &mut hosts {
        host.slots = host.workers.len() * slots_per_worker(host, threads);
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(host: &str, cpus: usize) -> RankHost {
        RankHost { host: host.into(), cpus }
    }

    #[test]
    fn ranks_are_grouped_by_host_in_order_of_their_first_rank() {
        let ranks = [on("a", 4), on("b", 8), on("a", 4), on("c", 2), on("b", 8)];
        // Slots: cores over ranks per host: a 4/2 = 2 for its one worker, b 8/2 = 4 for each of
        // two, c 2/1 = 2.
        let hosts = hosts(&ranks, None);
        let summary: Vec<_> = hosts
            .iter()
            .map(|h| (h.host.as_str(), h.ranks.clone(), h.workers.clone(), h.cpus, h.slots))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("a", vec![0, 2], vec![2], 4, 2),
                ("b", vec![1, 4], vec![1, 4], 8, 8),
                ("c", vec![3], vec![3], 2, 2),
            ]
        );
        assert_eq!(slots_of(&hosts, 4, None), 4);
        let three = super::hosts(&ranks, Some(3));
        assert_eq!(three.iter().map(|h| h.slots).collect::<Vec<_>>(), vec![3, 6, 3]);
        // Fewer cores than ranks: one slot each.
        let crowded = super::hosts(&[on("a", 2), on("a", 2), on("a", 2)], None);
        assert_eq!(crowded[0].slots, 2);
    }

    #[test]
    fn a_record_round_trips_and_cuts_long_names() {
        let here = RankHost::here(None);
        assert!(!here.host.is_empty() && here.cpus >= 1);
        assert_eq!(RankHost::from_record(&here.to_record()), here);
        let long = on(&"h".repeat(400), 3);
        let back = RankHost::from_record(&long.to_record());
        assert_eq!((back.host.len(), back.cpus), (RECORD_BYTES - 8, 3));
    }
}
