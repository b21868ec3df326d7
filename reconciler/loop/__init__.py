"""The controller: watch, reconcile on change, when due and on an interval, one pass at a time."""
