"""Outsmart EMR: the reference web login on totpcore's async service (``examples/emr/README.md``).

A small but real Starlette application: password sign-in, MFA enrolment with a QR code,
recovery codes shown once, the code prompt at every login, clock resynchronisation, a
support console that resets MFA, and mandatory MFA. Run it with ``make example``.
"""
