//! Arguments and results of tasks as values: how an argument travels ([`Arg`]), and how the
//! worker turns arguments back into values ([`TaskArgs`]) and results into objects
//! ([`Outputs`]). What `remote` accepts for each parameter is `into_arg`, above.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::Error;
use crate::id::{ObjectId, Rank};
use crate::object::{fingerprint, type_name_of, Object, RemoteValue};
use crate::segment::SegmentRef;

/// One argument as it travels to the worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Arg {
    /// The value itself, encoded by the submitter.
    Value(Object),
    /// An object, resolved on the worker.
    Ref(ObjectId),
    /// A `Vec<T>` made on the worker from objects that each hold a `T` (`element_type`).
    RefList { element_type: u64, ids: Vec<ObjectId> },
    /// On the MPI wire only, in place of a large `Value`: its `len` bytes (of type `type_fp`)
    /// follow the batch as messages of their own (see `transport::mpi`).
    Payload { type_fp: u64, len: u64 },
    /// On the MPI wire only, in place of a large `Value` sent to a rank of the same host: the
    /// value is in a segment of the sender's, which the receiver maps (see `segment`).
    Shared { type_fp: u64, segment: Box<SegmentRef> },
}

impl Arg {
    /// The objects this argument needs on the worker.
    pub(crate) fn ids(&self) -> &[ObjectId] {
        match self {
            Arg::Value(_) | Arg::Payload { .. } | Arg::Shared { .. } => &[],
            Arg::Ref(id) => std::slice::from_ref(id),
            Arg::RefList { ids, .. } => ids,
        }
    }
}

/// An argument with its objects at hand on the worker.
pub(crate) enum Resolved {
    Value(Object),
    Ref(ObjectId, Object),
    List(u64, Vec<(ObjectId, Object)>),
}

/// The arguments of one task on the worker, taken in order by the generated entry point.
pub struct TaskArgs {
    function: &'static str,
    rank: Rank,
    /// The actor the task is a call on (see `actor`).
    actor: Option<ObjectId>,
    first_output: ObjectId,
    num_returns: usize,
    items: std::vec::IntoIter<Resolved>,
    index: usize,
}

impl TaskArgs {
    pub(crate) fn new(
        function: &'static str,
        rank: Rank,
        actor: Option<ObjectId>,
        first_output: ObjectId,
        num_returns: usize,
        items: Vec<Resolved>,
    ) -> TaskArgs {
        TaskArgs {
            function,
            rank,
            actor,
            first_output,
            num_returns,
            items: items.into_iter(),
            index: 0,
        }
    }

    /// The full path of the task's function.
    pub(crate) fn function(&self) -> &'static str {
        self.function
    }

    /// The rank the task runs on.
    pub(crate) fn rank(&self) -> Rank {
        self.rank
    }

    /// The actor the task is a call on; an error if it is not an actor's task (a binary whose
    /// functions differ from the caller's).
    pub(crate) fn actor(&self) -> Result<ObjectId, Error> {
        self.actor.ok_or_else(|| Error::Argument {
            function: self.function.to_string(),
            index: 0,
            reason: "an actor's function was called as a plain task: every rank must run the same binary".into(),
        })
    }

    /// Decodes the next argument as a `T`.
    pub fn take<T: RemoteValue>(&mut self) -> Result<T, Error> {
        let index = self.index;
        self.index += 1;
        let argument_error =
            |reason: String| Error::Argument { function: self.function.to_string(), index, reason };
        match self.items.next() {
            None => Err(argument_error(
                "the task carries fewer arguments than the function takes".into(),
            )),
            Some(Resolved::Value(object)) => {
                if let Some(array) = crate::array::take_as::<T>(&object, self.first_output) {
                    return array.map_err(|e| argument_error(e.to_string()));
                }
                object
                    .check_type(self.first_output, fingerprint::<T>(), std::any::type_name::<T>())
                    .map_err(|e| argument_error(e.to_string()))?;
                codec::decode_value(&object.bytes).map_err(argument_error)
            }
            // An `Array<E>` parameter reads its `Vec<E>` object in place where it can.
            Some(Resolved::Ref(id, object)) => {
                crate::array::take_as::<T>(&object, id).unwrap_or_else(|| object.decode(id))
            }
            Some(Resolved::List(element_type, items)) => {
                for (id, object) in &items {
                    object.check_type(*id, element_type, &type_name_of(element_type))?;
                }
                let bytes = codec::concat_seq(items.iter().map(|(_, o)| &o.bytes[..]));
                codec::decode(&bytes).map_err(argument_error)
            }
        }
    }

    /// Takes the next argument as an `Arc<T>` (a parameter declared `Arc<T>`): an object passed
    /// by ref is decoded once on this worker, and every task here that takes it so shares that
    /// value until the object is freed (see `decoded`); a value passed as itself is decoded as
    /// [`take`](Self::take) does.
    pub fn take_shared<T: RemoteValue + Sync>(&mut self) -> Result<Arc<T>, Error> {
        if !matches!(self.items.as_slice().first(), Some(Resolved::Ref(..))) {
            return self.take::<T>().map(Arc::new);
        }
        let Some(Resolved::Ref(id, object)) = self.items.next() else { unreachable!() };
        self.index += 1;
        crate::decoded::shared(self.rank, id, || object.decode::<T>(id))
    }

    /// An empty set of results for this task, to push each result into.
    pub fn outputs(&self) -> Outputs {
        Outputs { first: self.first_output, objects: Vec::with_capacity(self.num_returns) }
    }
}

/// The results of one task, encoded in order by the generated entry point.
pub struct Outputs {
    first: ObjectId,
    pub(crate) objects: Vec<Object>,
}

impl Outputs {
    /// Encodes the next result (a large `Vec<u8>`'s buffer is then kept for reuse).
    pub fn push<T: RemoteValue>(&mut self, value: T) -> Result<(), Error> {
        let object = Object::encode_owned(value).map_err(|reason| Error::Codec {
            object: self.first.offset(self.objects.len()),
            action: "encoded".into(),
            type_name: std::any::type_name::<T>().into(),
            reason,
        })?;
        self.objects.push(object);
        Ok(())
    }
}
