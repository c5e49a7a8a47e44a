"""Room: checkpoints — the committed supersteps of a thread and the task writes of a step in
flight. `protocol` (records and the abstract methods), `chain` (what a step stores and what a
read folds), `memory`, `sql` and `postgres` (the halves each store composes), `conformance`."""
