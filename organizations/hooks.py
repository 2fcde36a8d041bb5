"""What the apps above organizations do when membership changes (registered in their
`AppConfig.ready()`).

- `member_added(membership)`: a membership was just made (credits gives it its credit access,
  R20).
- `member_removing(actor, membership)`: a member is being removed, inside the removal's
  transaction, with the membership locked (R9: licensing unassigns the seats, credits disables
  the access). Each receiver answers a dict that goes into the removal's summary.
"""

from portal.hooks import Hook

member_added = Hook("member_added")
member_removing = Hook("member_removing")
