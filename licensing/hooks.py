"""What other apps do when something happens in licensing (wired in `console.wiring`).

- `trial_started(account)`: an account's first trial began (R16: credits may add the one
  grant of trial credits); a receiver answers what it gave, or None.
"""

from portal.hooks import Hook

trial_started = Hook("trial_started")
