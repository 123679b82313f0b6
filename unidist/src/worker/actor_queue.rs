//! The order of each actor's calls on its worker: a call whose inputs are all here starts only
//! once every call the root numbered before it has finished (see `protocol::ActorCall`), so an
//! actor runs one call at a time, in order, while the worker's other slots run other tasks.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::actor;
use crate::id::ObjectId;
use crate::protocol::Task;

/// The calls of one actor that are here.
#[derive(Default)]
struct Queue {
    /// The number of the call to start next.
    next: u64,
    /// A call of this actor runs.
    running: bool,
    /// The call that runs is its last (the end).
    ending: bool,
    /// Calls whose inputs are here, waiting for their turn, by number.
    ready: BTreeMap<u64, Task>,
}

#[derive(Default)]
pub(crate) struct ActorQueues {
    queues: FxHashMap<ObjectId, Queue>,
    /// The actor of each call that runs, by its first output.
    running: FxHashMap<ObjectId, ObjectId>,
}

impl ActorQueues {
    /// A call whose inputs are all here: returns it if it is its actor's turn (it counts as
    /// running from then on), else keeps it for [`ActorQueues::finished`].
    pub(crate) fn ready(&mut self, task: Task) -> Option<Task> {
        let call = task.actor_call().expect("an actor's call");
        let queue = self.queues.entry(call.actor).or_default();
        queue.ready.insert(call.number, task);
        self.next(call.actor)
    }

    /// A task here has finished: if it was an actor's call, that actor's next call, if it has
    /// come and its inputs are here.
    pub(crate) fn finished(&mut self, first_output: ObjectId) -> Option<Task> {
        if self.running.is_empty() {
            return None; // no hashing on the path of every plain task
        }
        let actor = self.running.remove(&first_output)?;
        let queue = self.queues.get_mut(&actor).expect("a running call's actor has a queue");
        if queue.ending {
            // Its last call: the root numbers none after it.
            self.queues.remove(&actor);
            return None;
        }
        queue.running = false;
        queue.next += 1;
        self.next(actor)
    }

    fn next(&mut self, actor: ObjectId) -> Option<Task> {
        let queue = self.queues.get_mut(&actor)?;
        if queue.running {
            return None;
        }
        let task = queue.ready.remove(&queue.next)?;
        queue.running = true;
        queue.ending = actor::ends(task.function);
        self.running.insert(task.first_output, actor);
        Some(task)
    }

    /// The actors that have had a call here and whose end has not finished.
    pub(crate) fn actors(&self) -> impl Iterator<Item = ObjectId> + '_ {
        self.queues.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ActorCall;
    use crate::test_support::{task, ADD};

    fn call(actor: ObjectId, number: u64, first_output: ObjectId) -> Task {
        task(ADD, first_output, Vec::new())
            .with_actors(Some(ActorCall { actor, number }), Vec::new())
    }

    fn id(sequence: u64) -> ObjectId {
        ObjectId::new(0, sequence)
    }

    fn first(task: Option<Task>) -> Option<ObjectId> {
        task.map(|t| t.first_output)
    }

    #[test]
    fn calls_start_one_at_a_time_in_their_numbers_order_whatever_order_they_come_in() {
        let mut queues = ActorQueues::default();
        let actor = id(0);
        assert_eq!(first(queues.ready(call(actor, 2, id(2)))), None, "call 0 has not run");
        assert_eq!(first(queues.ready(call(actor, 0, id(0)))), Some(id(0)));
        assert_eq!(first(queues.ready(call(actor, 1, id(1)))), None, "call 0 runs");
        assert_eq!(first(queues.finished(id(0))), Some(id(1)));
        assert_eq!(first(queues.finished(id(1))), Some(id(2)));
        assert_eq!(first(queues.finished(id(2))), None, "nothing more has come");
        assert_eq!(first(queues.ready(call(actor, 3, id(3)))), Some(id(3)));
    }

    #[test]
    fn actors_do_not_wait_for_each_other_and_plain_tasks_are_not_theirs() {
        let mut queues = ActorQueues::default();
        assert_eq!(first(queues.ready(call(id(0), 0, id(0)))), Some(id(0)));
        assert_eq!(first(queues.ready(call(id(10), 0, id(10)))), Some(id(10)));
        assert_eq!(first(queues.finished(id(99))), None, "a plain task");
        assert_eq!(queues.actors().count(), 2);
    }

    #[test]
    fn the_end_call_runs_after_the_calls_before_it_and_forgets_the_actor() {
        let mut queues = ActorQueues::default();
        let actor = id(0);
        queues.ready(call(actor, 0, id(0)));
        let mut end = call(actor, 1, id(1));
        end.function = actor::END;
        assert_eq!(first(queues.ready(end)), None, "the constructor runs");
        assert_eq!(first(queues.finished(id(0))), Some(id(1)));
        assert_eq!(queues.actors().count(), 1, "until the end has run");
        assert_eq!(first(queues.finished(id(1))), None);
        assert_eq!(queues.actors().count(), 0);
    }
}
