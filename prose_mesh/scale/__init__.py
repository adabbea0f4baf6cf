"""Scale runs (issue #8 "Scale"): thousands of UEs in one standard group.

* :mod:`.addressed` — per-member carriage of a GMS's GMK I_MESSAGEs on the air, so that 2000
  members do not each parse and reject 1999 I_MESSAGEs addressed to others (the scenario
  runner's ``ue_factory`` hook; ``bench scenario --gmk-carriage``).
* :mod:`.shard` — the medium and the GMS in one process, the members over worker processes
  (one per core), on netns or on socket pairs; measures bring-up, GMK distribution, rekey,
  call setup and every process's peak RSS (``bench scenario --workers``).
"""
