"""What users and agents ask for that is not a pass: the worker-side verbs and their reports."""
