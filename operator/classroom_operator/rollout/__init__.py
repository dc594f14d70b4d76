"""The inference rollout: pools of serving pods per GPU class, which classroom each pod serves,
hand-overs, what the pods report, and the RolledOut condition. Pure: nothing here does I/O."""
