"""The batch lifecycle as plain code: pack, submit, poll, collect, deliver, keep house.

Celery tasks call into these modules; tests can drive them without Celery.
"""
