"""Protocol-aware inspection of bodies: what a request does, what comes back, and the rewrites
the policy asks for. Pure: the ext_proc stream state machine feeds it and evaluates the policy.
"""
