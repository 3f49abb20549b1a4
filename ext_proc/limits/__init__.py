"""Rate limits, token and cost budgets, runaway-loop detection and the kill switch.

Each component has one interface and two backends (this process's memory, or Redis shared by
every replica) with the same semantics:

- ``ratelimit.RateLimiter``: sliding-window request limits, all checked and counted atomically;
- ``budgets.BudgetLedger``: token and cost budgets over UTC days and months, reserved at
  admission, charged mid-stream past the estimate, reconciled with the upstream's usage;
- ``loops.LoopDetector``: repeats of one tool call with the same arguments, calls per session;
- ``killswitch.KillSwitch``: stop everything, an agent, a tool or an upstream, on every replica;
- ``tokens.TokenCounter`` and ``prices.PriceTable``: the estimates budgets reserve;
- ``fields``: the ``limits`` and ``budgets`` decision fields; ``answers``: the 429 answers and
  Envoy rate-limit descriptors; ``factory.build_limits``: all of them from the configuration.

This package's ``__init__`` imports nothing: ``ext_proc.config`` imports ``settings`` from here.
"""
