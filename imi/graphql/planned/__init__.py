"""A level-wise executor for validated queries (``executor.PlannedExecutor``), with the
normal Strawberry execution as its fallback for anything it does not plan."""
