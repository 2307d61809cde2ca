"""Change detection: a change table and triggers in each department, and a feed that reads them.

A change names department, entity, key, changed columns and time, never values.
"""
