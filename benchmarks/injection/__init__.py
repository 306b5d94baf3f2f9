"""A prompt-injection benchmark of Proctor's policy (issue 14).

Five workflows (e-mail and calendar, banking, travel, team chat, support desk) with typed
tools over in-memory environments; legitimate user tasks; attacker goals planted in the
content those tasks read; a scripted agent that does its task and obeys every injection it
reads. Each workflow runs under its baseline contract (today's keys) and its provenance
contract, and the report gives utility, approvals, and attack success with no human (a
rubber-stamp approver) and with an ideal approver. ``run.py`` is the entry point.
"""
