"""The classroom operator: builds, validates and serves TensorRT engines for ClassroomModels.

Layout of the operator
----------------------
Each room has one job; find a part by its product word.

Pure rooms (decide; no I/O):
  spec/         a ClassroomModel's spec, read by `spec.parse_model` into one frozen `ModelSpec`
                (sections, classroom selector, pod settings; `SpecError` names the bad field)
  engines/      which engines a model needs: GPU inventory from node labels, the engine
                fingerprint, build Jobs and what they report, the engine catalogue, engine
                planning, and which builds a node change starts
  rollout/      the inference rollout: pools and their objects, pool views from the indexes,
                classrooms, room assignment and hand-overs, rollout planning, GPU capacity, the
                pods' reports, the RolledOut condition, the webhook's health (SinkHealthy) and
                each selected Classroom's status
  names.py      the API group, resources, labels and annotations, and the standard label dicts
  conditions.py the `Condition` both status and the rollout compute
  status.py     a model's status, computed fresh from the engines' and the rollout's parts,
                with Degraded widened by refused writes and the rolled-up Ready
  indexes.py    the bundles of kopf indexes a pass reads (`EngineIndexes`, `RolloutIndexes`)
  settings.py   the operator's settings from the chart's environment

I/O, one module per side:
  kube.py       the one API client: typed, idempotent writes for every kind the operator writes
  pod_client.py the HTTP client for the inference pods' /v1/status
  metrics.py    the Prometheus metrics
  controller.py the controller machinery around kopf (wake-ups, reconcile slots, jobs just
                created, recent writes, write batchers, engines being collected) and its rules

Above both:
  reconcile/    one pass of a model: gather from the indexes, call the planners, apply their
                writes through kube.py (builds, node changes, rollout, the model pass)
  handlers/     kopf's indexes and handlers, registered into a registry the caller owns
  cli.py        `classroom-operator run`

The import rule: the pure rooms import nothing from the I/O side (no aiohttp, kubernetes, kopf or
prometheus_client, not even through another module), and no module imports another in a cycle;
tests/unit/operator_layout/test_import_rules.py checks both.
"""
